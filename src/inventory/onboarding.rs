//! Onboarding: a new account for a product gets an available eSIM profile
//! from the product's pools, highest priority (lowest number) first, with
//! its first bundle period, in one commit with its events and audit record.

use super::audit::history::Holder;
use super::stock::Stock;
use super::store::{StorageExt, WriteBatch};
use super::{invalid, Conflict, Inventory, InventoryError};
use crate::model::event;
use crate::model::*;

impl Inventory {
    /// A new account for `product` (with `msisdn`, or one numbered after
    /// the account), on the first available profile of its pools.
    pub fn onboard(
        &self,
        actor: &str,
        product: &str,
        msisdn: Option<&str>,
    ) -> Result<(Account, Profile), InventoryError> {
        let mut stock = self.lock();
        self.onboard_locked(&mut stock, actor, product, msisdn, |_, _, _| Ok(()))
    }

    /// `onboard` for a caller that holds the writer lock; `extra` adds its
    /// own records to the onboarding's batch, to commit with it.
    pub(crate) fn onboard_locked(
        &self,
        stock: &mut Stock,
        actor: &str,
        product: &str,
        msisdn: Option<&str>,
        extra: impl FnOnce(&Account, &Profile, &mut WriteBatch) -> Result<(), InventoryError>,
    ) -> Result<(Account, Profile), InventoryError> {
        if !self.store.exists(&format!("product/{product}"))? {
            return Err(InventoryError::NotFound {
                what: "product",
                id: product.into(),
            });
        }
        if let Some(m) = msisdn {
            self.check_msisdn(m)?;
        }
        let (mut profile, sponsors) = self.pick_profile(stock, product)?;
        let iccid = profile.iccid.clone();
        let id = self.store.next_id()? + 1;
        let msisdn = match msisdn {
            Some(m) => m.to_string(),
            None => format!("4917{id:08}"),
        };
        let account = Account {
            id,
            msisdn,
            product: product.into(),
            profile: Some(iccid.clone()),
            status: AccountStatus::Active,
            created_at: self.now(),
        };
        profile.state = ProfileState::Assigned { account: id };
        let mut b = WriteBatch::default();
        b.put(format!("profile/{iccid}"), &profile);
        b.put(format!("account/{id:020}"), &account);
        b.put(
            format!("history/{iccid}/{:020}", account.created_at),
            &serde_json::json!([id, "assigned"]),
        );
        self.audit(
            &mut b,
            actor,
            "onboard",
            &format!("account {id}"),
            None,
            Some(serde_json::json!({"product": product, "iccid": iccid})),
        )?;
        let mut drafts = self.with_profile_imsis(&profile.imsis, |imsis| {
            vec![event::account_new(&account, &profile, imsis)]
        })?;
        drafts.extend(self.stock_taken(stock, &profile.pool, &sponsors, product, &mut b)?);
        self.start_first_period(&mut b, &account)?;
        let who = Holder {
            account: Some(&account),
            event: "assigned",
        };
        self.record_profile(&mut b, &profile, who, account.created_at)?;
        extra(&account, &profile, &mut b)?;
        self.commit_with_events(b, drafts, account.created_at, |b| self.commit(b))?;
        stock.taken(&profile);
        self.index.put_account(&account, Some(&profile));
        Ok((account, profile))
    }

    /// A new account's MSISDN: E.164 digits, and nobody's yet.
    fn check_msisdn(&self, m: &str) -> Result<(), InventoryError> {
        if !(6..=15).contains(&m.len()) || !m.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid("msisdn", "6 to 15 digits, E.164 without '+'"));
        }
        if self.index.msisdn_taken(m) {
            return Err(Conflict::MsisdnTaken { msisdn: m.into() }.into());
        }
        Ok(())
    }

    /// The profile a new subscription of `product` gets (onboarding, eSIM
    /// swap): the first available one of its pools, highest priority
    /// (lowest number) first; with the sponsor ids of its IMSIs.
    pub(crate) fn pick_profile(
        &self,
        stock: &Stock,
        product: &str,
    ) -> Result<(Profile, Vec<String>), InventoryError> {
        let mut pools: Vec<(u32, String)> = self
            .pools()?
            .into_iter()
            .filter_map(|p| {
                p.products
                    .iter()
                    .find(|x| x.product == product)
                    .map(|x| (x.priority, p.name.clone()))
            })
            .collect();
        pools.sort();
        let (iccid, sponsors) = pools
            .iter()
            .find_map(|(_, pool)| {
                let (iccid, sponsors) = stock.available.get(pool)?.iter().next()?;
                Some((iccid.clone(), sponsors.clone()))
            })
            .ok_or_else(|| InventoryError::OutOfStock(product.into()))?;
        let profile = self.profile(&iccid)?.ok_or(InventoryError::NotFound {
            what: "profile",
            id: iccid,
        })?;
        Ok((profile, sponsors))
    }
}
