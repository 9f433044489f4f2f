//! The eSIM swap on the seed's inventory: what it changes (a new profile
//! and period, the old profile disposed, its IMSIs held for the
//! subscriber, one SIM/Swap event), and that a swap without stock changes
//! nothing.

use super::{Effect, EsimSwap};
use crate::inventory::fixtures::{account_on, events, profile_of, resolves_to, seeded};
use crate::inventory::fixtures::{BALKAN, DAY, EU30};
use crate::inventory::{Inventory, InventoryError};
use crate::model::event::EventType;
use crate::model::*;

const OWN_Y: &str = "Own+Y for Balkan Traveller";

#[test]
fn an_esim_swap_disposes_the_old_profile_and_holds_its_imsis_for_the_subscriber() {
    let inv = seeded();
    inv.set_stock_alert_below(10_000);
    let a = account_on(&inv, EU30);
    let old = profile_of(&inv, &a);
    let first_event = events(&inv).last().map_or(0, |e| e.event_id);
    let (swap, effects) = inv.esim_swap("t", a.id, BALKAN).unwrap();
    let at = swap.period.start;
    assert_eq!(
        effects,
        vec![Effect::Swapped {
            account: a.id,
            period: swap.period.id
        }]
    );
    the_account_runs_on_a_new_profile_of_the_product(&inv, &swap, at);
    the_old_profile_is_disposed_and_its_imsis_held(&inv, &a, &old, &swap, at);
    the_new_profile_resolves_to_the_account(&inv, &a, &swap, at);
    one_sim_swap_event_names_both_profiles(&inv, &old, &swap, first_event);

    // A hold that ends takes the IMSI off the subscriber's list.
    inv.run_due(at + 181 * DAY).unwrap();
    let held = inv.held_for(a.id).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].imsi.imsi, old.imsis[0]);
}

fn the_account_runs_on_a_new_profile_of_the_product(
    inv: &Inventory,
    swap: &EsimSwap,
    at: UnixTime,
) {
    assert_eq!(swap.account.product, BALKAN);
    assert_eq!(swap.profile.pool, OWN_Y);
    assert_eq!(
        swap.account.profile.as_deref(),
        Some(swap.profile.iccid.as_str())
    );
    assert_eq!(swap.period.end, Some(at + 10 * DAY));
    assert!(!inv.lock().available[OWN_Y].contains_key(&swap.profile.iccid));
    assert_eq!(inv.audit_log().unwrap().pop().unwrap().action, "esim-swap");
}

fn the_old_profile_is_disposed_and_its_imsis_held(
    inv: &Inventory,
    a: &Account,
    old: &Profile,
    swap: &EsimSwap,
    at: UnixTime,
) {
    assert_eq!(
        inv.profile(&old.iccid).unwrap().unwrap().state,
        ProfileState::Disposed
    );
    assert_eq!(
        swap.old_profile.as_ref().unwrap().state,
        ProfileState::Disposed
    );
    // 262: 365 days, 213: 180 days, each kept for the subscriber.
    for (imsi, days) in old.imsis.iter().zip([365, 180]) {
        let rec = inv.imsi(imsi).unwrap().unwrap();
        let until = at + days * DAY;
        assert_eq!(
            rec.state,
            ImsiState::Hold {
                until,
                reserved_for: Some(a.id)
            }
        );
        assert_eq!(resolves_to(inv, imsi), None);
        assert_eq!(inv.imsi_history(imsi).unwrap().pop().unwrap().event, "hold");
    }
    assert_eq!(inv.held_for(a.id).unwrap().len(), 2);
}

fn the_new_profile_resolves_to_the_account(
    inv: &Inventory,
    a: &Account,
    swap: &EsimSwap,
    at: UnixTime,
) {
    for imsi in &swap.profile.imsis {
        assert_eq!(resolves_to(inv, imsi), Some(a.id));
        let h = inv.imsi_history(imsi).unwrap().pop().unwrap();
        assert_eq!((h.event.as_str(), h.account), ("assigned", Some(a.id)));
    }
    let by_msisdn = inv.index().resolve_msisdn(&a.msisdn, at).unwrap();
    assert_eq!(
        crate::resolver::index::iccid_string(by_msisdn.iccid),
        swap.profile.iccid
    );
}

/// SIM/Swap first (the swap took Own+Y below the alert threshold, so
/// Stock/Low events follow), naming the IMSIs to remove and to create.
fn one_sim_swap_event_names_both_profiles(
    inv: &Inventory,
    old: &Profile,
    swap: &EsimSwap,
    first_event: u64,
) {
    let new: Vec<_> = events(inv)
        .into_iter()
        .filter(|e| e.event_id > first_event)
        .collect();
    let kinds: Vec<EventType> = new.iter().map(|e| e.event_type).collect();
    assert_eq!(kinds[0], EventType::SimSwap);
    assert!(
        kinds[1..].iter().all(|k| *k == EventType::StockLow),
        "{kinds:?}"
    );
    assert!(
        kinds.len() >= 2,
        "the swap took Own+Y below 10000: {kinds:?}"
    );
    let v = &new[0].variables;
    assert_eq!(v["old_iccid"], old.iccid.as_str());
    assert_eq!(v["new_iccid"], swap.profile.iccid.as_str());
    let rows: Vec<(String, String, bool)> = v["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (
                s("action"),
                s("sponsor_id"),
                r["provision"].as_bool().unwrap(),
            )
        })
        .collect();
    let row = |a: &str, s: &str, p| (a.to_string(), s.to_string(), p);
    assert_eq!(
        rows,
        [
            row("remove", "own", true),
            row("remove", "partner-x", false),
            row("create", "own", true),
            row("create", "partner-y", true),
        ]
    );
}

#[test]
fn a_swap_that_finds_no_stock_changes_nothing() {
    let inv = seeded();
    let a = account_on(&inv, EU30);
    let old = profile_of(&inv, &a);
    let (audits, evs) = (inv.audit_log().unwrap().len(), events(&inv).len());
    let saved = {
        let mut stock = inv.lock();
        let y = stock.available.remove(OWN_Y).unwrap();
        let w = stock
            .available
            .remove("Own+W for World/Japan Traveller")
            .unwrap();
        (y, w)
    };
    let err = inv.esim_swap("t", a.id, BALKAN).unwrap_err();
    assert!(
        matches!(err, InventoryError::OutOfStock(ref p) if p == BALKAN),
        "{err}"
    );
    assert_eq!(inv.account(a.id).unwrap().unwrap(), a);
    assert_eq!(profile_of(&inv, &a), old);
    for imsi in &old.imsis {
        assert_eq!(resolves_to(&inv, imsi), Some(a.id));
    }
    assert_eq!(
        (inv.audit_log().unwrap().len(), events(&inv).len()),
        (audits, evs)
    );
    assert!(inv.held_for(a.id).unwrap().is_empty());
    inv.lock().available.insert(OWN_Y.into(), saved.0);
    assert!(inv.esim_swap("t", a.id, BALKAN).is_ok());
}
