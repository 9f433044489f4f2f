//! Bundle events: a new period, and the grace that follows a lapsed one.

use serde_json::json;

use super::{EventDraft, EventType};
use crate::model::{Account, UnixTime};

/// A new bundle period (the bundle renewed).
pub fn bundle_renewed(
    account: &Account,
    start: UnixTime,
    end: Option<UnixTime>,
    renewals: u32,
) -> EventDraft {
    EventDraft {
        event_type: EventType::BundleRenewed,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "period_start": start,
            "period_end": end,
            "renewals": renewals,
        }),
    }
}

/// The bundle lapsed (`stage` "started") or grace runs on ("reminder"):
/// the profile stays assigned until `until`.
pub fn bundle_grace(account: &Account, stage: &str, until: UnixTime, now: UnixTime) -> EventDraft {
    EventDraft {
        event_type: EventType::BundleGrace,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "stage": stage,
            "grace_until": until,
            "days_left": (until - now).max(0) / 86_400,
        }),
    }
}
