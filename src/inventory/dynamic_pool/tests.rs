//! The dynamic pool index on the seed's inventory: it mirrors the IMSI
//! records through every move into and out of a pool, a swap picks from it
//! (not from a pass over the IMSIs), and a store without it gets it built
//! at open.

use std::collections::BTreeSet;

use crate::inventory::fixtures::{seeded, to_w, BALKAN};
use crate::inventory::store::{decode, Storage, WriteBatch};
use crate::inventory::{Conflict, Inventory, InventoryError};
use crate::model::*;

const W_ENTRIES: &str = "dynimsi/dynamic W/partner-w/";

fn keys(store: &dyn Storage, prefix: &str) -> BTreeSet<String> {
    store
        .scan_raw(prefix.as_bytes())
        .map(|r| String::from_utf8(r.unwrap().0).unwrap())
        .collect()
}

/// The index entries the IMSI records call for, by a pass over them all.
fn expected(store: &dyn Storage) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in store.scan_raw(b"imsi/") {
        let (k, v) = r.unwrap();
        let i: Imsi = decode(&k, &v).unwrap();
        if let ImsiState::InDynamicPool { pool } = &i.state {
            out.insert(format!("dynimsi/{pool}/{}/{}", i.sponsor, i.imsi));
        }
    }
    out
}

fn assert_mirrors(inv: &Inventory) {
    let want = expected(inv.store());
    assert!(!want.is_empty());
    assert_eq!(keys(inv.store(), "dynimsi/"), want);
}

fn first_w(inv: &Inventory) -> String {
    let first = keys(inv.store(), W_ENTRIES).into_iter().next().unwrap();
    first[W_ENTRIES.len()..].to_string()
}

fn set_swap_days(inv: &Inventory, days: u32) {
    let mut h: HoldPolicy = crate::inventory::store::StorageExt::get(inv.store(), "policy/hold")
        .unwrap()
        .unwrap();
    h.dynamic_swap_days = days;
    inv.set_hold_policy("t", &h).unwrap();
}

#[test]
fn the_pick_follows_the_index_as_imsis_move_in_and_out() {
    let inv = seeded();
    assert_mirrors(&inv);
    // Order: the first entry is taken, and its entry goes.
    let p = inv.onboard("t", BALKAN, None).unwrap().1;
    let first = first_w(&inv);
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    assert_eq!(swap.new_imsi, first);
    assert_ne!(first_w(&inv), first);
    assert_mirrors(&inv);
    // Failure: it is back, and the next pick takes it again.
    inv.fail_imsi_swap("t", swap.id, "test").unwrap();
    assert_eq!(first_w(&inv), first);
    assert_mirrors(&inv);
    // Confirmation with no hold days: a swapped-out W IMSI (the Y one
    // before it follows its eSIM pool's rules) joins its pool at once.
    set_swap_days(&inv, 0);
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    assert_eq!(swap.new_imsi, first);
    inv.confirm_imsi_swap("t", swap.id).unwrap();
    assert_mirrors(&inv);
    let p = inv.profile(&p.iccid).unwrap().unwrap();
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    let before = inv.dynamic_stock();
    inv.confirm_imsi_swap("t", swap.id).unwrap();
    let old = inv.imsi(&first).unwrap().unwrap();
    assert!(
        matches!(old.state, ImsiState::InDynamicPool { .. }),
        "{old:?}"
    );
    assert_eq!(first_w(&inv), first);
    assert_mirrors(&inv);
    let total = |s: &[((String, String), u64)]| s.iter().map(|(_, n)| n).sum::<u64>();
    assert_eq!(total(&inv.dynamic_stock()), total(&before) + 1);
    // The end of a hold puts the swapped-out IMSI in its pool.
    set_swap_days(&inv, 1);
    let p = inv.profile(&p.iccid).unwrap().unwrap();
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    inv.confirm_imsi_swap("t", swap.id).unwrap();
    let held = inv.imsi(&swap.old_imsi).unwrap().unwrap();
    assert!(matches!(held.state, ImsiState::Hold { .. }));
    assert_mirrors(&inv);
    inv.run_due(inv.now() + 2 * 86_400).unwrap();
    let back = inv.imsi(&swap.old_imsi).unwrap().unwrap();
    assert!(matches!(back.state, ImsiState::InDynamicPool { .. }));
    assert_mirrors(&inv);
}

#[test]
fn a_swap_reads_the_index_and_drops_an_entry_its_record_denies() {
    let inv = seeded();
    let p = inv.onboard("t", BALKAN, None).unwrap().1;
    // An entry for an IMSI that is in a profile, ahead of the real ones.
    let embedded = p.imsis[0].clone();
    let bogus = format!("{W_ENTRIES}{embedded}");
    let mut b = WriteBatch::default();
    b.put(bogus.clone(), &String::new());
    inv.store().commit(b).unwrap();
    let first = first_w(&inv);
    assert_eq!(first, embedded);
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    assert_ne!(swap.new_imsi, first);
    assert!(!keys(inv.store(), "dynimsi/").contains(&bogus), "dropped");
    inv.fail_imsi_swap("t", swap.id, "test").unwrap();

    // Without entries the pool is empty to a swap, whatever the records say.
    let mut b = WriteBatch::default();
    for k in keys(inv.store(), W_ENTRIES) {
        b.delete(k);
    }
    inv.store().commit(b).unwrap();
    let e = inv.order_imsi_swap("t", &to_w(&p)).unwrap_err();
    assert!(
        matches!(
            e,
            InventoryError::Conflict(Conflict::DynamicPoolEmpty { ref pool, .. }) if pool == "dynamic W"
        ),
        "{e}"
    );
}

#[test]
fn a_store_without_the_index_gets_it_built_at_open() {
    let inv = seeded();
    let p = inv.onboard("t", BALKAN, None).unwrap().1;
    let want = keys(inv.store(), "dynimsi/");
    let store = inv.store.clone();
    drop(inv);
    // As an earlier release left it, plus an entry of a build cut short.
    let mut b = WriteBatch::default();
    for k in &want {
        b.delete(k.clone());
    }
    b.delete("meta/dynimsi-built");
    b.put(format!("{W_ENTRIES}999999999999999"), &String::new());
    store.commit(b).unwrap();

    let inv = Inventory::open(store.clone()).unwrap();
    assert_eq!(keys(inv.store(), "dynimsi/"), want);
    assert_mirrors(&inv);
    let first = first_w(&inv);
    assert_eq!(inv.order_imsi_swap("t", &to_w(&p)).unwrap().new_imsi, first);
    drop(inv);
    // Built once: a later open keeps what the writes maintain.
    let inv = Inventory::open(store).unwrap();
    assert_mirrors(&inv);
    assert_ne!(first_w(&inv), first);
}
