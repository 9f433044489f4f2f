//! Bundle periods on the charging side: the usage an account's balance
//! counts belongs to one period, and a renewal starts the next from zero
//! (reservations carry over). The lifecycle tells the engine when a period
//! starts; a balance still stamped with an earlier one is reset, under the
//! account's lock, before anything is rated on it.

use super::balance::AccountBalance;
use super::commit::Commit;
use super::engine::{Engine, Sequencer};

impl AccountBalance {
    /// Brings the balance into `period`; true when that reset what it had
    /// used. A balance that never knew its period (made before the
    /// account's first charge) takes it as it is.
    pub fn align_period(&mut self, period: u64) -> bool {
        if self.used.period == 0 || self.used.period == period {
            self.used.period = period;
            return false;
        }
        if self.used.period > period {
            return false;
        }
        self.used = crate::model::Used {
            period,
            ..Default::default()
        };
        true
    }
}

impl Engine {
    /// The current period of `account` (start-up, for every account with
    /// a bundle period).
    pub fn set_period(&self, account: u64, period: u64) {
        self.periods.insert(account, period);
    }

    pub(super) fn period_of(&self, account: u64) -> Option<u64> {
        self.periods.get(&account).map(|s| *s)
    }

    /// A renewal: the account's balance starts from zero now, and the
    /// reset is committed like any change of usage. Returns the commit
    /// sequence (0: the balance had nothing to reset).
    pub fn start_period(&self, account: u64, period: u64, seq: &dyn Sequencer) -> u64 {
        self.set_period(account, period);
        let mut acct = self.ledger.lock(account);
        if acct.existing().is_none() {
            return 0;
        }
        let bal = &mut acct.state().balance;
        let crossed = bal.used.fup_crossed;
        if !bal.align_period(period) {
            return 0;
        }
        seq.submit(Commit {
            account,
            used: Some(bal.used),
            xdrs: vec![],
            fup: None,
            fup_restore: crossed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_period_resets_usage_and_keeps_reservations() {
        let mut b = AccountBalance::default();
        b.used.data_octets = 10;
        b.reserved_data = 5;
        assert!(
            !b.align_period(100),
            "an unstamped balance takes the period"
        );
        assert_eq!((b.used.data_octets, b.used.period), (10, 100));
        b.used.fup_crossed = true;
        assert!(b.align_period(200));
        assert_eq!(b.used.data_octets, 0);
        assert!(!b.used.fup_crossed);
        assert_eq!(b.reserved_data, 5);
        assert!(
            !b.align_period(100),
            "an older period never resets a newer one"
        );
        assert_eq!(b.used.period, 200);
    }
}
