//! What an account has used of its bundle: the durable part of a balance.

use serde::{Deserialize, Serialize};

/// Which of a bundle's allowances a service consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allowance {
    Data,
    Voice,
}

/// The durable part of an account's balance, as the inventory stores it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    pub data_octets: u64,
    pub voice_seconds: u64,
    /// Set once the fair-usage threshold was crossed (cleared on renewal).
    pub fup_crossed: bool,
}
