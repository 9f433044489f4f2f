//! The lifecycle's records: an account's bundle period, the durable timers
//! that end periods, grace and holds, and who held an IMSI when (audit).

use serde::{Deserialize, Serialize};

use super::UnixTime;

/// The bundle an account runs on now: from `start` for one period of its
/// product (`end` None: a product without a period never lapses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundlePeriod {
    /// Unique on the node and larger for every later period: what the
    /// ledger's totals are stamped with.
    #[serde(default)]
    pub id: u64,
    pub account: u64,
    pub product: String,
    pub start: UnixTime,
    pub end: Option<UnixTime>,
    /// Renew by itself at `end` (renewable products only).
    #[serde(default)]
    pub auto_renew: bool,
    #[serde(default)]
    pub renewals: u32,
}

/// What a durable timer does when it falls due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerKind {
    /// The period ending at `end` is over: renew, or enter grace.
    BundleEnd { account: u64, end: UnixTime },
    /// A reminder while the account's grace (ending `until`) runs.
    GraceReminder { account: u64, until: UnixTime },
    /// Grace ending `until` is over: the account closes.
    GraceEnd { account: u64, until: UnixTime },
    /// The IMSI's hold ending `until` is over.
    HoldEnd { imsi: String, until: UnixTime },
}

impl TimerKind {
    /// A timer is stale once its subject moved on (renewed, closed, …);
    /// the transition checks this value against the record.
    pub fn subject(&self) -> String {
        match self {
            TimerKind::BundleEnd { account, .. }
            | TimerKind::GraceReminder { account, .. }
            | TimerKind::GraceEnd { account, .. } => format!("account {account}"),
            TimerKind::HoldEnd { imsi, .. } => format!("imsi {imsi}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub due: UnixTime,
    #[serde(flatten)]
    pub kind: TimerKind,
}

/// Where an IMSI on hold came from, which decides where it goes after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum HoldOrigin {
    /// A profile of this eSIM pool (closure, eSIM swap).
    Pool { pool: String },
    /// A dynamic IMSI pool (an OTA swap took it out of a profile).
    DynamicPool { pool: String },
}

/// Who held an IMSI from `at` on (until the next record): the audit trail
/// of who held it when, append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImsiHolding {
    pub at: UnixTime,
    /// What happened: "assigned", "bundle_changed", "hold", "available", …
    pub event: String,
    pub iccid: Option<String>,
    pub slot: Option<u8>,
    pub account: Option<u64>,
    pub msisdn: Option<String>,
    pub product: Option<String>,
    pub sponsor: String,
}
