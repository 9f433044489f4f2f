//! Balances: what each account used (durable) and has reserved (in memory),
//! per allowance. One balance per account, shared by every IMSI of its
//! profile, owned with its sessions by the account's state (see `ledger`).

pub use crate::model::{Allowance, Used};

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
