//! Swap events: an eSIM swap to a new profile (SIM/Swap), and an OTA swap
//! of one IMSI in the profile's dynamic slot (IMSI/Activate, IMSI/Deactivate).

use serde_json::{json, Value};

use super::{imsis_json, EventDraft, EventType, ProfileImsi};
use crate::model::{iccid_grouped, Account, Profile};

/// An eSIM swap: the old profile is disposed and the new one takes
/// its place. One row per IMSI, the old profile's first: `action` "remove"
/// (its IMSIs leave the HSS) or "create" (the new profile's enter it), with
/// `provision` as in Account/New. The new profile's secrets travel as in
/// Account/New, under the same names, so the same stripping applies.
pub fn sim_swap(
    account: &Account,
    old_iccid: Option<&str>,
    new: &Profile,
    old_imsis: &[ProfileImsi<'_>],
    new_imsis: &[ProfileImsi<'_>],
) -> EventDraft {
    let mut rows = vec![];
    for (action, imsis) in [("remove", old_imsis), ("create", new_imsis)] {
        for mut r in imsis_json(imsis, true)
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            r["action"] = json!(action);
            rows.push(r);
        }
    }
    EventDraft {
        event_type: EventType::SimSwap,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "pool": new.pool,
            "old_iccid": old_iccid,
            "old_iccid_grouped": old_iccid.map(iccid_grouped),
            "new_iccid": new.iccid,
            "new_iccid_grouped": iccid_grouped(&new.iccid),
            "pin1": new.pin1.expose(),
            "puk1": new.puk1.expose(),
            "pin2": new.pin2.expose(),
            "puk2": new.puk2.expose(),
            "transport_key_label": new.transport_key_label,
            "ki": new.ki.expose(),
            "opc": new.opc.expose(),
            "imsis": rows,
        }),
    }
}

/// An OTA swap took `imsi` into (`IMSI/Activate`) or out of
/// (`IMSI/Deactivate`) slot `slot` of the subscriber's profile.
pub fn imsi_swapped(
    event_type: EventType,
    account: &Account,
    iccid: &str,
    slot: u8,
    imsi: &ProfileImsi<'_>,
    swap: u64,
) -> EventDraft {
    let mut row = imsis_json(std::slice::from_ref(imsi), true);
    let mut row = row
        .as_array_mut()
        .and_then(|a| a.pop())
        .unwrap_or(Value::Null);
    row["slot"] = json!(slot);
    EventDraft {
        event_type,
        account: Some(account.id),
        variables: json!({
            "msisdn": account.msisdn,
            "product": account.product,
            "iccid": iccid,
            "iccid_grouped": iccid_grouped(iccid),
            "swap": swap,
            "imsi": row,
        }),
    }
}
