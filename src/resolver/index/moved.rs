//! An account that moves to another profile (eSIM swap) leaves the row of
//! the profile it had. Rows carry their account (see `table`), so without
//! this the former row would still answer for the account's MSISDN, with
//! the product it had then, and the account would be counted twice.

use std::sync::atomic::Ordering::Relaxed;

use super::{digits_u64, hash_u64, state, AccountState, Index};

impl Index {
    /// Before account `id` goes on the row of `iccid`: another row its
    /// MSISDN still leads to, holding the same account, is its former
    /// profile's, and loses the account. Rows of other accounts (an MSISDN
    /// reused after a closure) are left alone.
    pub(super) fn leave_former_row(&self, id: u64, msisdn: &str, iccid: Option<u128>) {
        let (Some(m), Some(iccid)) = (digits_u64(msisdn), iccid) else {
            return;
        };
        let Some((new, _)) = self.row(iccid) else {
            return;
        };
        let rows = &self.rows;
        let holds = |o: u32| {
            o != new
                && rows.msisdn(o).is_some_and(|x| x.load(Relaxed) == m)
                && rows.get(o).is_some_and(|r| r.account.load(Relaxed) == id)
        };
        let Some(old) = self.by_msisdn.find(hash_u64(m), holds) else {
            return;
        };
        self.by_msisdn.remove(hash_u64(m), |o| o == old);
        if let Some(x) = rows.msisdn(old) {
            x.store(0, Relaxed);
        }
        if let Some(row) = rows.get(old) {
            row.account.store(0, Relaxed);
            let before = row.update_state(state::without_account);
            if state::account(before) != AccountState::Unknown {
                self.accounts.fetch_sub(1, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{iccid_key, Catalog, Index};
    use crate::model::*;
    use crate::resolver::fixtures::{product, sponsor};

    const OLD: &str = "8949102620100000126";
    const NEW: &str = "8949102620110000018";

    fn profile(iccid: &str, state: ProfileState) -> Profile {
        Profile {
            iccid: iccid.into(),
            pool: "p".into(),
            imsis: vec![],
            transport_key_label: String::new(),
            ki: Secret::default(),
            opc: Secret::default(),
            pin1: Secret::default(),
            puk1: Secret::default(),
            pin2: Secret::default(),
            puk2: Secret::default(),
            state,
        }
    }

    #[test]
    fn a_swapped_account_is_found_once_on_its_new_row() {
        let idx = Index::new();
        idx.set_catalog(Catalog::new(
            vec![sponsor("own", "26201", None, None)],
            vec![product("EU", &[]), product("Balkan", &[])],
        ));
        let mut a = Account {
            id: 7,
            msisdn: "491700000001".into(),
            product: "EU".into(),
            profile: Some(OLD.into()),
            status: AccountStatus::Active,
            created_at: 0,
        };
        let assigned = ProfileState::Assigned { account: 7 };
        idx.put_account(&a, Some(&profile(OLD, assigned.clone())));
        idx.put_profile(&profile(NEW, ProfileState::Available));
        assert_eq!(idx.counts().2, 1);

        idx.put_profile(&profile(OLD, ProfileState::Disposed));
        a.profile = Some(NEW.into());
        a.product = "Balkan".into();
        for _ in 0..2 {
            // Twice: a checkpoint's replay puts the account again.
            idx.put_account(&a, Some(&profile(NEW, assigned.clone())));
        }
        let (entry, iccid) = idx.by_msisdn_with_iccid(491700000001).unwrap();
        assert_eq!(iccid, iccid_key(NEW).unwrap());
        assert_eq!((entry.id, entry.product), (7, 1));
        assert_eq!(idx.msisdn_of_profile(iccid_key(OLD).unwrap()), None);
        assert_eq!(idx.counts().2, 1);
    }
}
