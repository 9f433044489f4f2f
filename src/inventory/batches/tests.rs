//! Recycling at hold end, end of life, batch removal and the audit, on the
//! embedded seed with a test clock.

use std::sync::Arc;

use super::*;
use crate::inventory::fixtures::{seeded_on_test_clock, DAY, EU30};
use crate::inventory::import::BatchSpec;
use crate::inventory::seed;
use crate::inventory::store::SledStore;
use crate::model::clock::NodeClock;
use crate::model::event::EventType;

const OWN: &str = "262019000000001";
const X: &str = "213779000000001";
const OWN_BATCH: &str = "1000-Own-2025-12-23";
const X_BATCH: &str = "1000-X-2025-12-23";
const POOL: &str = "Own+X for EU Neighbour - Andorra";
const PASS: &str = EU30;

fn seeded() -> (Inventory, Arc<NodeClock>) {
    seeded_on_test_clock("seed.toml")
}

/// The seed's first account: the one holding IMSI 1.
fn first_account(inv: &Inventory) -> u64 {
    let ImsiState::Embedded { profile, .. } = inv.imsi(OWN).unwrap().unwrap().state else {
        panic!("IMSI 1 is not embedded");
    };
    match inv.profile(&profile).unwrap().unwrap().state {
        ProfileState::Assigned { account } => account,
        s => panic!("profile {profile} is {s:?}"),
    }
}

fn state(inv: &Inventory, imsi: &str) -> ImsiState {
    inv.imsi(imsi).unwrap().unwrap().state
}

fn is_hold(s: &ImsiState) -> bool {
    matches!(s, ImsiState::Hold { .. })
}

const ON: BatchPatch = BatchPatch {
    recycling: Some(true),
    end_of_life: None,
};

/// Closes the first account an hour after the seed; returns the closure time.
fn close_first(inv: &Inventory, clock: &NodeClock) -> UnixTime {
    let at = clock.advance_to(clock.now() + 3600).unwrap();
    inv.close_account("test", first_account(inv)).unwrap();
    at
}

/// Imports a profile into `POOL` whose ICCID sorts before the seed's, so
/// that the next onboarding takes it.
fn import_first_profile(inv: &Inventory, serial: u32, imsis: &[&str]) -> String {
    let payload = format!("8949102620090{serial:05}");
    let iccid = format!("{payload}{}", luhn_digit(&payload));
    let heads: Vec<String> = (1..=imsis.len()).map(|i| format!("imsi{i}")).collect();
    let csv = format!(
        "iccid,{},ki,opc,pin1,puk1,pin2,puk2\n{iccid},{},{:032X},{:032X},1234,12345678,4321,87654321\n",
        heads.join(","),
        imsis.join(","),
        serial,
        serial + 1
    );
    inv.import_profiles("test", POOL, "t.csv", csv.as_bytes(), &|_| {})
        .unwrap();
    iccid
}

#[test]
fn a_hold_ends_available_only_when_batch_and_pool_both_recycle() {
    let (inv, clock) = seeded();
    inv.set_pool_recycle("test", POOL, true).unwrap();
    for b in [OWN_BATCH, X_BATCH] {
        assert!(inv.set_batch_flags("test", b, ON).unwrap().recycling);
    }
    let closed = close_first(&inv, &clock);
    assert!(is_hold(&state(&inv, OWN)) && is_hold(&state(&inv, X)));
    inv.run_due(closed + 181 * DAY).unwrap();
    assert_eq!(state(&inv, X), ImsiState::Available);
    assert!(is_hold(&state(&inv, OWN)));
    inv.run_due(closed + 366 * DAY).unwrap();
    assert_eq!(state(&inv, OWN), ImsiState::Available);
    let last = inv.imsi_history(OWN).unwrap().pop().unwrap();
    assert_eq!(last.event, "available");
}

#[test]
fn the_flags_count_at_hold_end_and_a_pool_that_does_not_recycle_ends_life() {
    let (inv, clock) = seeded();
    let closed = close_first(&inv, &clock);
    // During the hold: X's batch stops recycling, the pool starts.
    let off = BatchPatch {
        recycling: Some(false),
        end_of_life: None,
    };
    inv.set_batch_flags("test", X_BATCH, off).unwrap();
    inv.set_pool_recycle("test", POOL, true).unwrap();
    inv.run_due(closed + 366 * DAY).unwrap();
    assert_eq!(state(&inv, X), ImsiState::EndOfLife);
    assert_eq!(state(&inv, OWN), ImsiState::Available);

    // The seed's pools do not recycle: the second account's own IMSI (its
    // bundle lapses, grace ends, it closes) ends its life.
    let (inv, _clock) = seeded();
    let balkan = "262018000000001";
    inv.run_due(inv.now() + 500 * DAY).unwrap();
    assert_eq!(state(&inv, balkan), ImsiState::EndOfLife);
}

#[test]
fn patching_flags_checks_its_input_and_audits_before_and_after() {
    let (inv, _clock) = seeded();
    let none = inv.set_batch_flags("test", X_BATCH, BatchPatch::default());
    assert!(matches!(none, Err(InventoryError::Invalid { field, .. }) if field == "body"));
    let unknown = inv.set_batch_flags("test", "nope", ON);
    assert!(matches!(
        unknown,
        Err(InventoryError::NotFound { what: "batch", .. })
    ));
    let unknown = inv.set_pool_recycle("test", "nope", true);
    assert!(matches!(
        unknown,
        Err(InventoryError::NotFound { what: "pool", .. })
    ));
    inv.set_pool_recycle("test", POOL, true).unwrap();
    assert!(inv.pool(POOL).unwrap().recycle);
    let log = inv.audit_log().unwrap();
    let rec = log.iter().rev().find(|r| r.action == "set-pool").unwrap();
    assert_eq!(rec.before.as_ref().unwrap()["recycle"], false);
    assert_eq!(rec.after.as_ref().unwrap()["recycle"], true);
}

fn small_x_batch(inv: &Inventory, name: &str, first: u64, n: u64) -> Vec<String> {
    let imsis: Vec<String> = (first..first + n).map(|i| i.to_string()).collect();
    let spec = BatchSpec {
        sponsor: "partner-x",
        name,
        recycling: false,
        end_of_life: false,
    };
    let csv = imsis.join("\n");
    inv.import_batch("test", &spec, "b.csv", csv.as_bytes(), &|_| {})
        .unwrap();
    imsis
}

#[test]
fn a_batch_goes_once_every_imsi_is_spent_and_its_history_stays() {
    let (inv, clock) = seeded();
    let imsis = small_x_batch(&inv, "3-X", 213_778_000_000_001, 3);
    import_first_profile(&inv, 1, &[imsis[0].as_str()]);
    let (account, _) = inv.onboard("test", PASS, None).unwrap();
    let Err(InventoryError::Blocked {
        blockers, count, ..
    }) = inv.remove_batch("test", "3-X")
    else {
        panic!("removed a batch in use");
    };
    assert_eq!(count, 1);
    assert_eq!(blockers[0].imsi, imsis[0]);
    assert_eq!(blockers[0].state, "embedded");

    let eol = BatchPatch {
        recycling: None,
        end_of_life: Some(true),
    };
    inv.set_batch_flags("test", "3-X", eol).unwrap();
    assert_eq!(state(&inv, &imsis[1]), ImsiState::EndOfLife);
    assert_eq!(state(&inv, &imsis[2]), ImsiState::EndOfLife);
    clock.advance_to(clock.now() + 60).unwrap();
    inv.close_account("test", account.id).unwrap();
    let blocked = inv.remove_batch("test", "3-X");
    assert!(matches!(
        blocked,
        Err(InventoryError::Blocked { count: 1, .. })
    ));
    inv.run_due(clock.now() + 181 * DAY).unwrap();
    assert_eq!(state(&inv, &imsis[0]), ImsiState::EndOfLife);

    let r = inv.remove_batch("test", "3-X").unwrap();
    assert_eq!((r.removed, r.sponsor.as_str()), (3, "partner-x"));
    assert!(inv.imsi(&imsis[0]).unwrap().is_none());
    assert!(matches!(
        inv.batch("3-X"),
        Err(InventoryError::NotFound { .. })
    ));
    let trail = inv.audit_imsi(&imsis[0]).unwrap();
    let events: Vec<&str> = trail.iter().filter_map(|h| h["event"].as_str()).collect();
    assert_eq!(events, ["assigned", "hold", "end_of_life"]);
    let key = crate::resolver::index::digits_u64(&imsis[0]).unwrap();
    let entry = inv.index().imsi(key).unwrap();
    assert_eq!(entry.status, crate::resolver::index::ImsiStatus::EndOfLife);
    let e = inv.events_after(0, 10_000).unwrap().pop().unwrap();
    assert_eq!(e.event_type, EventType::BatchRemoved);
    assert_eq!(e.variables["batch"], "3-X");
    assert_eq!(e.variables["sponsor"], "Partner X");
    assert_eq!(e.variables["sponsor_id"], "partner-x");
    assert_eq!(e.variables["imsis_removed"], 3);
}

#[test]
fn never_used_imsis_do_not_block_but_recycled_ones_do() {
    let (inv, clock) = seeded();
    let fresh = small_x_batch(&inv, "2-X", 213_778_000_000_101, 2);
    assert_eq!(inv.remove_batch("test", "2-X").unwrap().removed, 2);
    assert!(inv.imsi(&fresh[0]).unwrap().is_none());

    // A recycled IMSI is available but was used: it blocks until retired.
    inv.set_pool_recycle("test", POOL, true).unwrap();
    let closed = close_first(&inv, &clock);
    // The retirement below is stamped with the node's now: after the hold.
    clock.advance_to(closed + 181 * DAY).unwrap();
    inv.run_due(clock.now()).unwrap();
    assert_eq!(state(&inv, X), ImsiState::Available);
    let Err(InventoryError::Blocked {
        blockers, count, ..
    }) = inv.remove_batch("test", X_BATCH)
    else {
        panic!("removed a batch in use");
    };
    assert_eq!((count, blockers.len()), (1000, MAX_BLOCKERS));
    assert!(blockers
        .iter()
        .any(|b| b.imsi == X && b.state == "available"));
    let eol = BatchPatch {
        recycling: Some(false),
        end_of_life: Some(true),
    };
    inv.set_batch_flags("test", X_BATCH, eol).unwrap();
    assert_eq!(state(&inv, X), ImsiState::EndOfLife);
    let last = inv.imsi_history(X).unwrap().pop().unwrap();
    assert_eq!(last.event, "end_of_life");
}

#[test]
fn the_audit_names_who_held_an_imsi_then_even_after_recycling() {
    let (inv, clock) = seeded();
    let first = first_account(&inv);
    let onboarded = inv.account(first).unwrap().unwrap().created_at;
    inv.set_pool_recycle("test", POOL, true).unwrap();
    let closed = close_first(&inv, &clock);
    let then = inv.audit_imsi_at(OWN, onboarded + 60).unwrap().unwrap();
    assert_eq!(then["account"], first);
    assert_eq!(then["product"], PASS);
    assert_eq!(then["slot"], 1);
    assert_eq!(then["sponsor"], "own");
    assert_eq!(then["event"], "assigned");
    assert_eq!(then["imsi"], OWN);

    let recycled = closed + 366 * DAY;
    clock.advance_to(recycled).unwrap();
    inv.run_due(recycled).unwrap();
    let iccid = import_first_profile(&inv, 2, &[OWN]);
    let (second, p) = inv.onboard("test", PASS, None).unwrap();
    assert_eq!(p.iccid, iccid);
    let old = inv.audit_imsi_at(OWN, onboarded + 60).unwrap().unwrap();
    assert_eq!(old["account"], first);
    let now = inv.audit_imsi_at(OWN, clock.now()).unwrap().unwrap();
    assert_eq!(now["account"], second.id);
    assert_eq!(now["iccid"], iccid);

    let held = inv.audit_imsi_at(OWN, closed + DAY).unwrap().unwrap_err();
    assert!(held.message.contains("held by nobody"), "{}", held.message);
    assert_eq!(held.record.unwrap()["event"], "hold");
    let before = inv.audit_imsi_at(OWN, onboarded - 1).unwrap().unwrap_err();
    assert!(before.message.contains("no holder record before"));
    let never = inv.audit_imsi_at("262019000000999", clock.now()).unwrap();
    assert!(never.unwrap_err().message.contains("never assigned"));
    let unknown = inv.audit_imsi_at("262019999999999", clock.now());
    assert!(matches!(unknown, Err(InventoryError::NotFound { .. })));
    let bad = inv.audit_imsi("26201x");
    assert!(matches!(bad, Err(InventoryError::Invalid { .. })));
    let events: Vec<String> = inv
        .audit_imsi(OWN)
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["assigned", "hold", "available", "assigned"]);
}

#[test]
fn a_start_from_the_checkpoint_replays_a_removal_instead_of_rebuilding() {
    let store = Arc::new(SledStore::temporary().unwrap());
    let path = std::env::temp_dir().join(format!("gyro-remove-{}.ckpt", std::process::id()));
    let open = || Inventory::open_with_checkpoint(store.clone(), Some(path.clone())).unwrap();
    let inv = open();
    let s = seed::parse(seed::EMBEDDED, "seed.toml").unwrap();
    inv.apply_seed(&s, "seed.toml").unwrap();
    inv.write_checkpoint().unwrap();
    let imsis = small_x_batch(&inv, "2-X", 213_778_000_000_201, 2);
    inv.remove_batch("test", "2-X").unwrap();
    drop(inv);
    let inv = open();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(
        inv.started_from(),
        crate::inventory::StartedFrom::Checkpoint { .. }
    ));
    let key = crate::resolver::index::digits_u64(&imsis[1]).unwrap();
    let entry = inv.index().imsi(key).unwrap();
    assert_eq!(entry.status, crate::resolver::index::ImsiStatus::EndOfLife);
}
