//! Balances: what each account used (durable) and has reserved (in memory),
//! per allowance. One balance per account, shared by every IMSI of its
//! profile; the entry lock serialises the sessions of one account only.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Data,
    Voice,
}

impl crate::inventory::store::Record for Used {}

/// The durable part, as stored under `balance/<account>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    pub data_octets: u64,
    pub voice_seconds: u64,
    /// Set once the fair-usage threshold was crossed (cleared on renewal).
    pub fup_crossed: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct AccountBalance {
    pub used: Used,
    pub reserved_data: u64,
    pub reserved_voice: u64,
}

impl AccountBalance {
    pub fn remaining(&self, a: Allowance, limit: u64) -> u64 {
        let (used, reserved) = match a {
            Allowance::Data => (self.used.data_octets, self.reserved_data),
            Allowance::Voice => (self.used.voice_seconds, self.reserved_voice),
        };
        limit.saturating_sub(used).saturating_sub(reserved)
    }
    pub fn reserve(&mut self, a: Allowance, n: u64) {
        match a {
            Allowance::Data => self.reserved_data += n,
            Allowance::Voice => self.reserved_voice += n,
        }
    }
    pub fn release(&mut self, a: Allowance, n: u64) {
        match a {
            Allowance::Data => self.reserved_data = self.reserved_data.saturating_sub(n),
            Allowance::Voice => self.reserved_voice = self.reserved_voice.saturating_sub(n),
        }
    }
    /// Usage counts in full, even beyond what was reserved.
    pub fn commit(&mut self, a: Allowance, n: u64) {
        match a {
            Allowance::Data => self.used.data_octets = self.used.data_octets.saturating_add(n),
            Allowance::Voice => self.used.voice_seconds = self.used.voice_seconds.saturating_add(n),
        }
    }
}

#[derive(Default)]
pub struct Balances {
    map: DashMap<u64, AccountBalance, rustc_hash::FxBuildHasher>,
}

impl Balances {
    pub fn load(&self, account: u64, used: Used) {
        self.map.entry(account).or_default().used = used;
    }
    /// Runs `f` with the account's balance locked.
    pub fn with<T>(&self, account: u64, f: impl FnOnce(&mut AccountBalance) -> T) -> T {
        f(&mut self.map.entry(account).or_default())
    }
    pub fn get(&self, account: u64) -> AccountBalance {
        self.map.get(&account).map(|b| *b).unwrap_or_default()
    }
}
