//! The provisioning event catalogue: every event type gyro emits, and the
//! one constructor per type that fixes its variables. Emitters (onboarding,
//! fair usage, stock, and the lifecycle and OTA modules) build their events
//! here and nowhere else, so the shape receivers consume is defined once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Sponsor, UnixTime};

mod account;
mod bundle;
mod stock;
mod swap;

pub use account::{account_closed, account_new, fup_restore, fup_throttle, FupUsage};
pub use bundle::{bundle_grace, bundle_renewed};
pub use stock::{batch_removed, stock_low, StockScope};
pub use swap::{imsi_swapped, sim_swap};

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

#[cfg(test)]
mod tests;
