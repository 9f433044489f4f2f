//! What an account has used of its bundle: the durable part of a balance.

use serde::{Deserialize, Serialize};

/// Which of a bundle's allowances a service consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allowance {
    Data,
    Voice,
    /// Short messages, counted one by one (CC-Service-Specific-Units).
    Sms,
}

impl Allowance {
    pub fn name(self) -> &'static str {
        match self {
            Allowance::Data => "data",
            Allowance::Voice => "voice",
            Allowance::Sms => "sms",
        }
    }
}

/// The durable part of an account's balance, as the inventory stores it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    pub data_octets: u64,
    pub voice_seconds: u64,
    /// Records written before SMS had its own allowance have none.
    #[serde(default)]
    pub sms: u64,
    /// Set once the fair-usage threshold was crossed (cleared on renewal).
    pub fup_crossed: bool,
    /// The bundle period these totals count (`BundlePeriod::id`; 0: not
    /// known yet). A renewal starts the next period from zero.
    #[serde(default)]
    pub period: u64,
}
