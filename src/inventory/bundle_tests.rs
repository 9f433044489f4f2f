//! Bundle change and eSIM swap on the seed's inventory (#1.7, #2.7): what
//! they change, what they refuse, and that a refusal changes nothing.

use std::sync::Arc;

use super::lifecycle::Effect;
use super::store::{SledStore, WriteBatch};
use super::{ClosedRefusal, Conflict, Inventory, InventoryError};
use crate::model::event::EventType;
use crate::model::lifecycle::HoldOrigin;
use crate::model::*;

const EU30: &str = "EU Neighbour - Andorra 30-Day Pass";
const EU7: &str = "EU Neighbour - Andorra 7-Day Pass";
const BALKAN: &str = "Balkan Traveller 10-Day Pass";
const WORLD: &str = "World Traveller 30-Day Pass";
const OWN_X: &str = "Own+X for EU Neighbour - Andorra";
const OWN_Y: &str = "Own+Y for Balkan Traveller";
const DAY: i64 = 86_400;

fn seeded() -> Inventory {
    let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
    let s = super::seed::parse(super::seed::EMBEDDED, "seed").unwrap();
    assert!(inv.apply_seed(&s, "seed").unwrap());
    inv
}

/// The seed's accounts: the EU 30-Day one (#1) and the Balkan one (#2).
fn account_on(inv: &Inventory, product: &str) -> Account {
    (1..100)
        .find_map(|id| inv.account(id).unwrap().filter(|a| a.product == product))
        .unwrap()
}

fn profile_of(inv: &Inventory, a: &Account) -> Profile {
    inv.profile(a.profile.as_deref().unwrap()).unwrap().unwrap()
}

fn events(inv: &Inventory) -> Vec<crate::model::event::Event> {
    inv.events_after(0, 10_000).unwrap()
}

fn resolves_to(inv: &Inventory, imsi: &str) -> Option<u64> {
    let r = inv.index().resolve_imsi(imsi, None, inv.now());
    r.ok().map(|s| s.account)
}

#[test]
fn a_bundle_of_the_same_pool_starts_now_on_the_same_esim() {
    let inv = seeded();
    let a = account_on(&inv, EU30);
    let p = profile_of(&inv, &a);
    let events_before = events(&inv).len();
    let (changed, period, effects) = inv.change_bundle("t", a.id, EU7).unwrap();
    assert_eq!(changed.product, EU7);
    assert_eq!(changed.profile, a.profile);
    assert_eq!(inv.account(a.id).unwrap().unwrap(), changed);
    assert_eq!((period.product.as_str(), period.renewals), (EU7, 0));
    assert_eq!(period.end, Some(period.start + 7 * DAY));
    assert!((period.start - inv.now()).abs() <= 2);
    assert_eq!(inv.bundle_period(a.id).unwrap(), Some(period.clone()));
    let start = period.start;
    assert_eq!(
        effects,
        vec![Effect::PeriodStarted {
            account: a.id,
            period: period.id
        }]
    );
    // The resolver charges the new product at once.
    let eu7 = inv.index().catalog().product_index(EU7).unwrap();
    let s = inv.index().resolve_imsi(&p.imsis[0], None, start).unwrap();
    assert_eq!((s.account, s.product), (a.id, eu7));
    for imsi in &p.imsis {
        let h = inv.imsi_history(imsi).unwrap().pop().unwrap();
        assert_eq!(h.event, "bundle_changed");
        assert_eq!((h.account, h.product.as_deref()), (Some(a.id), Some(EU7)));
    }
    let audit = inv.audit_log().unwrap().pop().unwrap();
    assert_eq!(audit.action, "bundle-change");
    assert_eq!(audit.before.unwrap()["product"], EU30);
    let after = audit.after.unwrap();
    assert_eq!(
        (after["product"].as_str(), after["via"].as_str()),
        (Some(EU7), Some("profile_pool"))
    );
    assert_eq!(
        events(&inv).len(),
        events_before,
        "no event for a bundle change"
    );
}

#[test]
fn a_bundle_the_esim_cannot_serve_needs_a_swap_and_changes_nothing() {
    let inv = seeded();
    let a = account_on(&inv, EU30);
    let period = inv.bundle_period(a.id).unwrap();
    let audits = inv.audit_log().unwrap().len();
    let err = inv.change_bundle("t", a.id, BALKAN).unwrap_err();
    let InventoryError::SwapRequired { product, reason } = err else {
        panic!("{err}");
    };
    assert_eq!(product, BALKAN);
    let expected = format!("pool '{OWN_X}' does not serve '{BALKAN}'");
    assert!(reason.starts_with(&expected), "{reason}");
    assert_eq!(inv.account(a.id).unwrap().unwrap(), a);
    assert_eq!(inv.bundle_period(a.id).unwrap(), period);
    assert_eq!(inv.audit_log().unwrap().len(), audits);

    let err = inv.change_bundle("t", a.id, "No Such Pass").unwrap_err();
    assert!(
        matches!(&err, InventoryError::NotFound { what: "product", id } if id == "No Such Pass"),
        "{err}"
    );
    let err = inv.change_bundle("t", a.id, EU30).unwrap_err();
    assert!(
        matches!(err, InventoryError::Conflict(Conflict::SameBundle { .. })),
        "{err}"
    );
    inv.close_account("t", a.id).unwrap();
    let closed = |refused| Conflict::AccountClosed {
        account: a.id,
        refused,
    };
    let err = inv.change_bundle("t", a.id, EU7).unwrap_err();
    assert!(
        matches!(err, InventoryError::Conflict(ref c) if *c == closed(ClosedRefusal::ChangeBundle)),
        "{err}"
    );
    let err = inv.esim_swap("t", a.id, BALKAN).unwrap_err();
    assert!(
        matches!(err, InventoryError::Conflict(ref c) if *c == closed(ClosedRefusal::EsimSwap)),
        "{err}"
    );
}

/// #2.7: the Balkan account's eSIM takes IMSIs over the air from the
/// dynamic pools that serve Balkan; "dynamic W" also serves World.
#[test]
fn imsis_of_a_dynamic_pool_or_held_from_one_serve_a_bundle() {
    let inv = seeded();
    let a = account_on(&inv, BALKAN);
    inv.change_bundle("t", a.id, WORLD).unwrap();
    let via = inv.audit_log().unwrap().pop().unwrap().after.unwrap();
    assert_eq!(via["via"], "dynamic_pool");
    assert_eq!(via["pool"], "dynamic W");
    inv.change_bundle("t", a.id, BALKAN).unwrap();

    // With no IMSI waiting, only one held for the subscriber serves.
    let waiting = std::mem::take(&mut inv.lock().dynamic);
    assert!(!waiting.is_empty());
    let err = inv.change_bundle("t", a.id, WORLD).unwrap_err();
    assert!(matches!(err, InventoryError::SwapRequired { .. }), "{err}");
    let w_imsi = "901280000001500";
    let origin = HoldOrigin::DynamicPool {
        pool: "dynamic W".into(),
    };
    let mut b = WriteBatch::default();
    let held = inv.start_hold(&mut b, w_imsi, &origin, Some(a.id), inv.now());
    assert!(matches!(
        held.unwrap().unwrap().state,
        ImsiState::Hold { reserved_for: Some(r), .. } if r == a.id
    ));
    inv.commit(b).unwrap();
    assert_eq!(inv.held_for(a.id).unwrap().len(), 1);
    inv.change_bundle("t", a.id, WORLD).unwrap();
    let via = inv.audit_log().unwrap().pop().unwrap().after.unwrap();
    assert_eq!(
        (via["via"].as_str(), via["imsi"].as_str()),
        (Some("held_imsi"), Some(w_imsi))
    );
    // It is held for this subscriber only.
    assert!(inv.held_for(a.id + 1).unwrap().is_empty());
}

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
    assert_eq!(swap.account.product, BALKAN);
    assert_eq!(swap.profile.pool, OWN_Y);
    assert_eq!(
        swap.account.profile.as_deref(),
        Some(swap.profile.iccid.as_str())
    );
    assert_eq!(swap.period.end, Some(at + 10 * DAY));
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
        assert_eq!(resolves_to(&inv, imsi), None);
        assert_eq!(inv.imsi_history(imsi).unwrap().pop().unwrap().event, "hold");
    }
    assert_eq!(inv.held_for(a.id).unwrap().len(), 2);
    for imsi in &swap.profile.imsis {
        assert_eq!(resolves_to(&inv, imsi), Some(a.id));
        let h = inv.imsi_history(imsi).unwrap().pop().unwrap();
        assert_eq!((h.event.as_str(), h.account), ("assigned", Some(a.id)));
    }
    let by_msisdn = inv.index().resolve_msisdn(&a.msisdn, at).unwrap();
    assert_eq!(
        crate::resolver::index::iccid_string(by_msisdn.iccid),
        swap.profile.iccid
    );
    assert!(!inv.lock().available[OWN_Y].contains_key(&swap.profile.iccid));
    assert_eq!(inv.audit_log().unwrap().pop().unwrap().action, "esim-swap");

    let new: Vec<_> = events(&inv)
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

    // A hold that ends takes the IMSI off the subscriber's list.
    inv.run_due(at + 181 * DAY).unwrap();
    let held = inv.held_for(a.id).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].imsi.imsi, old.imsis[0]);
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
