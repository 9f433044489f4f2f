//! Balances: what each account used (durable) and has reserved (in memory),
//! per allowance. One balance per account, shared by every IMSI of its
//! profile, owned with its sessions by the account's state (see `ledger`).

pub use crate::model::{Allowance, Used};

#[derive(Debug, Clone, Copy, Default)]
pub struct AccountBalance {
    pub used: Used,
    pub reserved_data: u64,
    pub reserved_voice: u64,
    pub reserved_sms: u64,
}

impl AccountBalance {
    fn slots(&mut self, a: Allowance) -> (&mut u64, &mut u64) {
        match a {
            Allowance::Data => (&mut self.used.data_octets, &mut self.reserved_data),
            Allowance::Voice => (&mut self.used.voice_seconds, &mut self.reserved_voice),
            Allowance::Sms => (&mut self.used.sms, &mut self.reserved_sms),
        }
    }
    pub fn remaining(&self, a: Allowance, limit: u64) -> u64 {
        let mut b = *self;
        let (used, reserved) = b.slots(a);
        limit.saturating_sub(*used).saturating_sub(*reserved)
    }
    pub fn reserve(&mut self, a: Allowance, n: u64) {
        let r = self.slots(a).1;
        *r = r.saturating_add(n);
    }
    pub fn release(&mut self, a: Allowance, n: u64) {
        let r = self.slots(a).1;
        *r = r.saturating_sub(n);
    }
    /// Usage counts in full, even beyond what was reserved.
    pub fn commit(&mut self, a: Allowance, n: u64) {
        let u = self.slots(a).0;
        *u = u.saturating_add(n);
    }
    /// A refund gives units back, never below nothing used; returns how
    /// many were given back.
    pub fn refund(&mut self, a: Allowance, n: u64) -> u64 {
        let u = self.slots(a).0;
        let back = n.min(*u);
        *u -= back;
        back
    }
}
