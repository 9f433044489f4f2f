//! The provisioning event catalogue: every event type gyro emits, and the
//! one constructor per type that fixes its variables. Emitters (onboarding,
//! fair usage, stock, and the lifecycle and OTA modules) build their events
//! here and nowhere else, so the shape receivers consume is defined once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{iccid_grouped, Account, ImsiBatch, Profile, Sponsor, UnixTime};

/// Every event type, by the name receivers see in `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "Account/New")]
    AccountNew,
    #[serde(rename = "Account/FUP/Throttle")]
    FupThrottle,
    #[serde(rename = "Account/FUP/Restore")]
    FupRestore,
    #[serde(rename = "Account/Closed")]
    AccountClosed,
    #[serde(rename = "Bundle/Renewed")]
    BundleRenewed,
    #[serde(rename = "Bundle/Grace")]
    BundleGrace,
    #[serde(rename = "SIM/Swap")]
    SimSwap,
    #[serde(rename = "IMSI/Activate")]
    ImsiActivate,
    #[serde(rename = "IMSI/Deactivate")]
    ImsiDeactivate,
    #[serde(rename = "Stock/Low")]
    StockLow,
    #[serde(rename = "Batch/Removed")]
    BatchRemoved,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::AccountNew,
        EventType::FupThrottle,
        EventType::FupRestore,
        EventType::AccountClosed,
        EventType::BundleRenewed,
        EventType::BundleGrace,
        EventType::SimSwap,
        EventType::ImsiActivate,
        EventType::ImsiDeactivate,
        EventType::StockLow,
        EventType::BatchRemoved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::AccountNew => "Account/New",
            EventType::FupThrottle => "Account/FUP/Throttle",
            EventType::FupRestore => "Account/FUP/Restore",
            EventType::AccountClosed => "Account/Closed",
            EventType::BundleRenewed => "Bundle/Renewed",
            EventType::BundleGrace => "Bundle/Grace",
            EventType::SimSwap => "SIM/Swap",
            EventType::ImsiActivate => "IMSI/Activate",
            EventType::ImsiDeactivate => "IMSI/Deactivate",
            EventType::StockLow => "Stock/Low",
            EventType::BatchRemoved => "Batch/Removed",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Variables only webhooks with `include_secrets` receive (and the admin
/// API never shows): the SIM's PINs and PUKs and the Ki/OPc ciphertext.
pub const SECRET_VARIABLES: [&str; 6] = ["pin1", "puk1", "pin2", "puk2", "ki", "opc"];

/// An event before the outbox numbers it.
#[derive(Clone, PartialEq)]
pub struct EventDraft {
    pub event_type: EventType,
    pub account: Option<u64>,
    pub variables: Value,
}

/// An event as the outbox holds it: numbered (unique and increasing per
/// node) and stamped when the change that caused it committed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: u64,
    pub event_type: EventType,
    pub created_at: UnixTime,
    pub account: Option<u64>,
    pub variables: Value,
}

// Variables may hold PINs, PUKs and key ciphertext: never print them.
impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for EventDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDraft")
            .field("event_type", &self.event_type)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// The variables with the secret ones removed.
    pub fn public_variables(&self) -> Value {
        let mut v = self.variables.clone();
        if let Some(m) = v.as_object_mut() {
            for k in SECRET_VARIABLES {
                m.remove(k);
            }
        }
        v
    }
}

/// One IMSI of a profile as events name it.
#[derive(Debug, Clone)]
pub struct ProfileImsi<'a> {
    pub imsi: &'a str,
    pub sponsor: Option<&'a Sponsor>,
}

fn imsis_json(imsis: &[ProfileImsi<'_>], with_provision: bool) -> Value {
    let rows: Vec<Value> = imsis
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = json!({
                "slot": i + 1,
                "imsi": p.imsi,
                "sponsor": p.sponsor.map(|s| s.name.as_str()),
                "sponsor_id": p.sponsor.map(|s| s.id.as_str()),
            });
            if with_provision {
                // A translating sponsor's IMSI reaches the home network as one
                // of the operator's own: the HSS must not get a second entry.
                let provision = p
                    .sponsor
                    .is_some_and(|s| s.provision_in_home_hss && s.translation.is_none());
                row["provision"] = json!(provision);
            }
            row
        })
        .collect();
    Value::Array(rows)
}

/// Onboarding (#1.2, #2.3): what the provisioning system needs to create
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

/// Fair usage (#1.4): throttle every IMSI of the profile.
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

/// A new bundle period (#1.4 renewal).
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
/// the profile stays assigned until `until` (#1.8).
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

/// Renewal after fair usage was crossed: every IMSI back to normal.
pub fn fup_restore(account: u64, iccid: &str, imsis: &[ProfileImsi<'_>]) -> EventDraft {
    EventDraft {
        event_type: EventType::FupRestore,
        account: Some(account),
        variables: json!({"iccid": iccid, "imsis": imsis_json(imsis, false)}),
    }
}

/// Closure (#1.9): the profile is disposed and its IMSIs leave the HSS;
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

/// An eSIM swap (#1.7): the old profile is disposed and the new one takes
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

/// An OTA swap (#2.4, #2.5) took `imsi` into (`IMSI/Activate`) or out of
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

/// Which stock level fell low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockScope<'a> {
    Pool(&'a str),
    Sponsor(&'a str),
    /// IMSIs waiting in a dynamic pool (#2.6).
    DynamicPool(&'a str),
}

/// Stock fell below its threshold (once per crossing).
pub fn stock_low(scope: StockScope<'_>, product: &str, level: u64, threshold: u64) -> EventDraft {
    let mut variables = json!({"product": product, "level": level, "threshold": threshold});
    match scope {
        StockScope::Pool(p) => variables["pool"] = json!(p),
        StockScope::Sponsor(s) => variables["sponsor"] = json!(s),
        StockScope::DynamicPool(p) => variables["dynamic_pool"] = json!(p),
    }
    EventDraft {
        event_type: EventType::StockLow,
        account: None,
        variables,
    }
}

/// A batch left the inventory with its IMSIs (#1.11): the sponsor may
/// take them back. Their holding history stays for audit.
pub fn batch_removed(batch: &ImsiBatch, sponsor: &Sponsor, removed: u64) -> EventDraft {
    EventDraft {
        event_type: EventType::BatchRemoved,
        account: None,
        variables: json!({
            "batch": batch.name,
            "sponsor": sponsor.name,
            "sponsor_id": sponsor.id,
            "imsis_removed": removed,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.name()));
        }
        assert_eq!(EventType::parse("Account/Nope"), None);
    }

    fn sponsor(id: &str, translated: bool) -> Sponsor {
        Sponsor {
            id: id.into(),
            name: id.to_uppercase(),
            plmns: vec![],
            translation: translated.then(|| super::super::Translation {
                sponsor_prefix: "213779".into(),
                operator_prefix: "262019".into(),
            }),
            proxy_origin_hosts: vec![],
            currency: "EUR".into(),
            provision_in_home_hss: !translated,
        }
    }

    #[test]
    fn sim_swap_removes_the_old_imsis_creates_the_new_and_hides_secrets() {
        use super::super::{AccountStatus, ProfileState, Secret};
        let (own, x, y) = (
            sponsor("own", false),
            sponsor("x", true),
            sponsor("y", false),
        );
        let a = Account {
            id: 7,
            msisdn: "491700000001".into(),
            product: "Balkan".into(),
            profile: Some("8949102620110000001".into()),
            status: AccountStatus::Active,
            created_at: 0,
        };
        let s = |v: &str| Secret(v.into());
        let new = Profile {
            iccid: "8949102620110000001".into(),
            pool: "Own+Y".into(),
            imsis: vec![],
            transport_key_label: "TK".into(),
            ki: s("KI"),
            opc: s("OPC"),
            pin1: s("1111"),
            puk1: s("11111111"),
            pin2: s("2222"),
            puk2: s("22222222"),
            state: ProfileState::Assigned { account: 7 },
        };
        let row = |imsi, sponsor| ProfileImsi { imsi, sponsor };
        let old = [
            row("262019000000001", Some(&own)),
            row("213779000000001", Some(&x)),
        ];
        let fresh = [
            row("262018000000001", Some(&own)),
            row("213550000000001", Some(&y)),
        ];
        let d = sim_swap(&a, Some("894910262010000012345"), &new, &old, &fresh);
        assert_eq!(d.event_type, EventType::SimSwap);
        let v = &d.variables;
        assert_eq!(v["old_iccid_grouped"], "8949 1026 2010 0000 1234 5");
        assert_eq!(v["new_iccid"], "8949102620110000001");
        let rows: Vec<(&str, i64, bool)> = v["imsis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let action = r["action"].as_str().unwrap();
                (
                    action,
                    r["slot"].as_i64().unwrap(),
                    r["provision"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("remove", 1, true),
                ("remove", 2, false),
                ("create", 1, true),
                ("create", 2, true)
            ]
        );
        let e = Event {
            event_id: 1,
            event_type: d.event_type,
            created_at: 0,
            account: d.account,
            variables: d.variables.clone(),
        };
        let public = e.public_variables().to_string();
        for secret in ["KI", "OPC", "1111", "2222"] {
            assert!(!public.contains(&format!("\"{secret}")), "{public}");
        }
        assert_eq!(e.public_variables()["transport_key_label"], "TK");
    }

    #[test]
    fn public_variables_drop_every_secret() {
        let e = Event {
            event_id: 1,
            event_type: EventType::AccountNew,
            created_at: 0,
            account: Some(1),
            variables: json!({"pin1": "1111", "ki": "AB", "iccid": "8949"}),
        };
        assert_eq!(e.public_variables(), json!({"iccid": "8949"}));
        assert!(!format!("{e:?}").contains("1111"));
    }
}
