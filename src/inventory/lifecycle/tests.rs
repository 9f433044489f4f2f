//! The lifecycle's transitions on the seed's inventory, without sockets:
//! automatic renewal at a period's end, and a lapse without it, driven by
//! `run_due` with explicit times.

use std::sync::Arc;

use super::Effect;
use crate::inventory::fixtures::{account_on, seeded, DAY, EU30};
use crate::inventory::Inventory;
use crate::model::*;

fn seeded_eu30() -> (Inventory, Account) {
    let inv = seeded();
    let a = account_on(&inv, EU30);
    (inv, a)
}

#[test]
fn a_renewable_bundle_with_auto_renew_renews_itself_period_after_period() {
    let (inv, a) = seeded_eu30();
    let first = inv.bundle_period(a.id).unwrap().unwrap();
    inv.set_auto_renew("t", a.id, true).unwrap();
    let end = first.end.unwrap();
    // Down for 65 days: the two period ends that passed renew, in order.
    let (_, effects) = inv.run_due(first.start + 65 * DAY).unwrap();
    let p = inv.bundle_period(a.id).unwrap().unwrap();
    assert_eq!(p.renewals, 2);
    assert_eq!(
        p.start,
        end + 30 * DAY,
        "the second renewal, at the second end"
    );
    assert_eq!(p.end, Some(end + 60 * DAY));
    assert!(p.id > first.id);
    assert_eq!(
        inv.account(a.id).unwrap().unwrap().status,
        AccountStatus::Active
    );
    let started: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::PeriodStarted { account, .. } if *account == a.id))
        .collect();
    assert_eq!(started.len(), 2, "{effects:?}");
}

#[test]
fn without_auto_renew_the_bundle_lapses_and_a_renewal_in_grace_leaves_its_timers_stale() {
    let (mut inv, a) = seeded_eu30();
    let clock = Arc::new(crate::model::clock::NodeClock::test());
    inv.set_clock(clock.clone());
    let first = inv.bundle_period(a.id).unwrap().unwrap();
    let end = first.end.unwrap();
    clock.advance_to(end + 1).unwrap();
    inv.run_due(end + 1).unwrap();
    let acct = inv.account(a.id).unwrap().unwrap();
    assert_eq!(
        acct.status,
        AccountStatus::Grace {
            until: end + 60 * DAY
        }
    );
    // Renewed in grace: active, a new period from now.
    let (p, _) = inv.renew("t", a.id).unwrap();
    assert_eq!((p.renewals, p.start), (1, end + 1));
    assert_eq!(
        inv.account(a.id).unwrap().unwrap().status,
        AccountStatus::Active
    );
    // Past the first grace's end: its timer is stale; the new period has
    // lapsed meanwhile into a grace of its own.
    clock.advance_to(end + 61 * DAY).unwrap();
    inv.run_due(end + 61 * DAY).unwrap();
    let after = inv.account(a.id).unwrap().unwrap();
    let second_end = end + 1 + 30 * DAY;
    assert_eq!(
        after.status,
        AccountStatus::Grace {
            until: second_end + 60 * DAY
        }
    );
}
