//! OTA swaps on the seed's inventory, without sockets: the story's Albania
//! (Y → a W IMSI of "dynamic W") and Kosovo (back to the held Y IMSI)
//! steps, a failed swap that changes nothing, the one-swap-in-flight rule,
//! and parallel orders that never take one IMSI twice.

use std::sync::Arc;

use super::{NewImsi, SwapOrder};
use crate::inventory::fixtures::{account_on, profile_of, resolves_to, seeded, to_w, BALKAN};
use crate::inventory::stock::StockBy;
use crate::inventory::{Conflict, Inventory, InventoryError};
use crate::model::event::EventType;
use crate::model::ota::SwapState;
use crate::model::*;

fn balkan(inv: &Inventory) -> (Account, Profile) {
    let a = account_on(inv, BALKAN);
    let p = profile_of(inv, &a);
    (a, p)
}

fn dynamic_w(inv: &Inventory) -> u64 {
    let lines = inv.stock(StockBy::Sponsor, 0).unwrap();
    lines
        .iter()
        .find(|l| l.name == "Partner W")
        .unwrap()
        .dynamic_imsis
}

fn event_types(inv: &Inventory) -> Vec<EventType> {
    let all = inv.events_after(0, 100_000).unwrap();
    all.into_iter().map(|e| e.event_type).collect()
}

#[test]
fn albania_then_kosovo_swaps_out_and_back_through_the_hold() {
    let inv = seeded();
    let (a, p) = balkan(&inv);
    let y = p.imsis[1].clone();
    let w_before = dynamic_w(&inv);
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    let w = swap.new_imsi.clone();
    assert!(w.starts_with("90128"), "a W IMSI: {w}");
    assert_eq!(dynamic_w(&inv), w_before - 1);
    // Until confirmation both IMSIs resolve to the subscriber.
    assert_eq!(
        (resolves_to(&inv, &y), resolves_to(&inv, &w)),
        (Some(a.id), Some(a.id))
    );
    let again = inv.order_imsi_swap("t", &to_w(&p)).unwrap_err();
    assert!(
        matches!(
            again,
            InventoryError::Conflict(Conflict::SwapInFlight { swap: s, .. }) if s == swap.id
        ),
        "{again}"
    );

    let done = inv.confirm_imsi_swap("t", swap.id).unwrap();
    assert!(matches!(done.state, SwapState::Confirmed { .. }));
    let now = inv.profile(&p.iccid).unwrap().unwrap();
    assert_eq!(now.imsis, vec![p.imsis[0].clone(), w.clone()]);
    assert_eq!(
        (resolves_to(&inv, &y), resolves_to(&inv, &w)),
        (None, Some(a.id))
    );
    let held = inv.held_for(a.id).unwrap();
    assert_eq!(
        held.iter()
            .map(|h| h.imsi.imsi.as_str())
            .collect::<Vec<_>>(),
        [y.as_str()]
    );
    let types = event_types(&inv);
    assert!(
        types.ends_with(&[EventType::ImsiDeactivate, EventType::ImsiActivate]),
        "{types:?}"
    );
    assert_eq!(
        inv.confirm_imsi_swap("t", swap.id).unwrap().state,
        done.state,
        "idempotent"
    );

    // Kosovo: Y, held for this subscriber, comes back; W goes on hold.
    let back = SwapOrder {
        old_imsi: w.clone(),
        new: NewImsi::Held { imsi: y.clone() },
        mcc: "221".into(),
        ..to_w(&now)
    };
    let swap2 = inv.order_imsi_swap("t", &back).unwrap();
    assert_eq!(swap2.new_imsi, y);
    inv.confirm_imsi_swap("t", swap2.id).unwrap();
    let now = inv.profile(&p.iccid).unwrap().unwrap();
    assert_eq!(now.imsis[1], y);
    assert_eq!(
        (resolves_to(&inv, &y), resolves_to(&inv, &w)),
        (Some(a.id), None)
    );
    let held = inv.held_for(a.id).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].imsi.imsi, w);
    assert_eq!(
        held[0].origin,
        crate::model::lifecycle::HoldOrigin::DynamicPool {
            pool: "dynamic W".into()
        }
    );
    assert_eq!(
        dynamic_w(&inv),
        w_before - 1,
        "the W IMSI is held, not back yet"
    );
    assert!(inv.open_imsi_swaps().unwrap().is_empty());
    assert_eq!(inv.imsi_swaps_of(&p.iccid).unwrap().len(), 2);
}

#[test]
fn a_failed_swap_gives_the_imsi_back_and_changes_nothing_else() {
    let inv = seeded();
    let (a, p) = balkan(&inv);
    let w_before = dynamic_w(&inv);
    let events_before = event_types(&inv).len();
    let swap = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    let failed = inv
        .fail_imsi_swap("t", swap.id, "Failed: 8.1.1/3.8")
        .unwrap();
    assert!(
        matches!(failed.state, SwapState::Failed { ref reason, .. } if reason.contains("8.1.1"))
    );
    assert_eq!(inv.profile(&p.iccid).unwrap().unwrap(), p);
    let rec = inv.imsi(&swap.new_imsi).unwrap().unwrap();
    assert_eq!(
        rec.state,
        ImsiState::InDynamicPool {
            pool: "dynamic W".into()
        }
    );
    assert_eq!(dynamic_w(&inv), w_before);
    assert_eq!(resolves_to(&inv, &swap.new_imsi), None);
    assert_eq!(resolves_to(&inv, &p.imsis[1]), Some(a.id));
    assert_eq!(
        event_types(&inv).len(),
        events_before,
        "no event for a failed swap"
    );
    assert!(inv.confirm_imsi_swap("t", swap.id).is_err());
    // The profile may swap again.
    assert!(inv.order_imsi_swap("t", &to_w(&p)).is_ok());
}

#[test]
fn a_stale_order_is_refused() {
    let inv = seeded();
    let (_, p) = balkan(&inv);
    let mut o = to_w(&p);
    o.old_imsi = p.imsis[0].clone();
    let e = inv.order_imsi_swap("t", &o).unwrap_err();
    assert!(
        matches!(
            e,
            InventoryError::Conflict(Conflict::SlotMoved { slot: 2, .. })
        ),
        "{e}"
    );
    let mut o = to_w(&p);
    o.new = NewImsi::Held {
        imsi: "901280000001999".into(),
    };
    let e = inv.order_imsi_swap("t", &o).unwrap_err();
    assert!(
        matches!(e, InventoryError::Conflict(Conflict::NoLongerHeld { .. })),
        "{e}"
    );
}

#[test]
fn parallel_orders_for_many_profiles_never_share_an_imsi() {
    let inv = Arc::new(seeded());
    let profiles: Vec<Profile> = (0..16)
        .map(|_| inv.onboard("t", BALKAN, None).unwrap().1)
        .collect();
    let w_before = dynamic_w(&inv);
    let handles: Vec<_> = profiles
        .into_iter()
        .map(|p| {
            let inv = inv.clone();
            std::thread::spawn(move || {
                // Two decisions for one profile at once: one swap only.
                let a = inv.order_imsi_swap("t", &to_w(&p));
                let b = inv.order_imsi_swap("t", &to_w(&p));
                assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
                a.or(b).unwrap().new_imsi
            })
        })
        .collect();
    let mut taken: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 16, "16 distinct IMSIs");
    assert_eq!(dynamic_w(&inv), w_before - 16);
}

#[test]
fn taking_a_dynamic_imsi_below_the_threshold_alerts_once() {
    let inv = seeded();
    let (_, p) = balkan(&inv);
    let level = dynamic_w(&inv);
    inv.set_stock_alert_below(level);
    let lows = |inv: &Inventory| {
        let all = inv.events_after(0, 100_000).unwrap();
        all.into_iter()
            .filter(|e| e.event_type == EventType::StockLow)
            .filter(|e| e.variables["dynamic_pool"] == "dynamic W")
            .count()
    };
    let before = lows(&inv);
    let s = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    assert_eq!(lows(&inv), before + 1);
    let last = inv.events_after(0, 100_000).unwrap();
    let e = last
        .iter()
        .rev()
        .find(|e| e.event_type == EventType::StockLow)
        .unwrap();
    assert_eq!(
        (
            e.variables["level"].as_u64(),
            e.variables["product"].as_str()
        ),
        (Some(level - 1), Some(BALKAN))
    );
    // Back at the threshold the flag clears; the next crossing alerts again.
    inv.fail_imsi_swap("t", s.id, "test").unwrap();
    inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    assert_eq!(lows(&inv), before + 2);
}

#[test]
fn a_profiles_swaps_are_its_own_and_survive_an_upgrade_from_before_the_index() {
    let inv = seeded();
    let (_, p) = balkan(&inv);
    let other = inv.onboard("t", BALKAN, None).unwrap().1;
    let s1 = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    inv.fail_imsi_swap("t", s1.id, "test").unwrap();
    let s2 = inv.order_imsi_swap("t", &to_w(&p)).unwrap();
    let s3 = inv.order_imsi_swap("t", &to_w(&other)).unwrap();
    let ids = |inv: &Inventory, iccid: &str| -> Vec<u64> {
        let swaps = inv.imsi_swaps_of(iccid).unwrap();
        swaps.iter().map(|s| s.id).collect()
    };
    assert_eq!(ids(&inv, &p.iccid), [s1.id, s2.id]);
    assert_eq!(ids(&inv, &other.iccid), [s3.id]);

    // A store as the release before `swapby/` wrote it.
    let store = inv.store.clone();
    drop(inv);
    let mut b = crate::inventory::store::WriteBatch::default();
    for r in store.scan_raw(b"swapby/") {
        b.delete(r.unwrap().0);
    }
    b.delete("meta/swapby-built");
    store.commit(b).unwrap();
    assert_eq!(store.scan_raw(b"swapby/").count(), 0);

    let inv = Inventory::open(store).unwrap();
    assert_eq!(ids(&inv, &p.iccid), [s1.id, s2.id]);
    assert_eq!(ids(&inv, &other.iccid), [s3.id]);
    let s2 = inv.confirm_imsi_swap("t", s2.id).unwrap();
    assert_eq!(
        inv.imsi_swaps_of(&p.iccid).unwrap()[1],
        s2,
        "the record itself"
    );
}

#[test]
fn decisions_keep_the_last_ones_per_profile() {
    use super::records::DECISIONS_KEPT;
    let inv = seeded();
    let (_, p) = balkan(&inv);
    let other = inv.onboard("t", BALKAN, None).unwrap().1;
    inv.record_decision(&other.iccid, &serde_json::json!({"n": "other"}))
        .unwrap();
    let extra = 5;
    for n in 0..DECISIONS_KEPT + extra {
        inv.record_decision(&p.iccid, &serde_json::json!({ "n": n }))
            .unwrap();
    }
    let kept = inv.decisions(&p.iccid).unwrap();
    assert_eq!(kept.len(), DECISIONS_KEPT);
    assert_eq!(kept[0]["n"], extra, "the oldest went");
    assert_eq!(kept[DECISIONS_KEPT - 1]["n"], DECISIONS_KEPT + extra - 1);
    assert_eq!(inv.decisions(&other.iccid).unwrap().len(), 1, "per profile");
}
