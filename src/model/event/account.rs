//! Account events: onboarding (Account/New), fair usage crossed and
//! restored, and closure.

use serde_json::json;

use super::{imsis_json, EventDraft, EventType, ProfileImsi};
use crate::model::{iccid_grouped, Account, Profile};

/// Onboarding: what the provisioning system needs to create
/// the profile's IMSIs in the HSS.
pub fn account_new(account: &Account, profile: &Profile, imsis: &[ProfileImsi<'_>]) -> EventDraft {
    EventDraft {
        event_type: EventType::AccountNew,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "pool": profile.pool,
            "iccid": profile.iccid,
            "iccid_grouped": iccid_grouped(&profile.iccid),
            "pin1": profile.pin1.expose(),
            "puk1": profile.puk1.expose(),
            "pin2": profile.pin2.expose(),
            "puk2": profile.puk2.expose(),
            "transport_key_label": profile.transport_key_label,
            "ki": profile.ki.expose(),
            "opc": profile.opc.expose(),
            "imsis": imsis_json(imsis, true),
        }),
    }
}

/// What the fair-usage events carry beside the profile's IMSIs.
#[derive(Debug, Clone, Copy)]
pub struct FupUsage {
    pub used_octets: u64,
    pub threshold_octets: u64,
}

/// Fair usage: throttle every IMSI of the profile.
pub fn fup_throttle(
    account: u64,
    iccid: &str,
    usage: FupUsage,
    imsis: &[ProfileImsi<'_>],
) -> EventDraft {
    EventDraft {
        event_type: EventType::FupThrottle,
        account: Some(account),
        variables: json!({
            "iccid": iccid,
            "used_octets": usage.used_octets,
            "threshold_octets": usage.threshold_octets,
            "imsis": imsis_json(imsis, false),
        }),
    }
}

/// Renewal after fair usage was crossed: every IMSI back to normal.
pub fn fup_restore(account: u64, iccid: &str, imsis: &[ProfileImsi<'_>]) -> EventDraft {
    EventDraft {
        event_type: EventType::FupRestore,
        account: Some(account),
        variables: json!({"iccid": iccid, "imsis": imsis_json(imsis, false)}),
    }
}

/// Closure: the profile is disposed and its IMSIs leave the HSS;
/// `remove` is false where the HSS holds no entry (translating sponsors).
pub fn account_closed(account: &Account, iccid: &str, imsis: &[ProfileImsi<'_>]) -> EventDraft {
    let mut rows = imsis_json(imsis, true);
    for r in rows.as_array_mut().into_iter().flatten() {
        if let Some(p) = r.as_object_mut().and_then(|o| o.remove("provision")) {
            r["remove"] = p;
        }
    }
    EventDraft {
        event_type: EventType::AccountClosed,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "iccid": iccid,
            "imsis": rows,
        }),
    }
}
