//! Bundle change on the seed's inventory: what it changes, what it
//! refuses, and that a refusal changes nothing.

use super::Effect;
use crate::inventory::fixtures::{account_on, events, profile_of, seeded};
use crate::inventory::fixtures::{BALKAN, DAY, EU30, EU7, WORLD};
use crate::inventory::store::WriteBatch;
use crate::inventory::{ClosedRefusal, Conflict, InventoryError};
use crate::model::lifecycle::HoldOrigin;
use crate::model::*;

const OWN_X: &str = "Own+X for EU Neighbour - Andorra";

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

/// The Balkan account's eSIM takes IMSIs over the air from the dynamic
/// pools that serve Balkan; "dynamic W" also serves World.
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
