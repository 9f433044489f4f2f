//! Bundle change: an account moves to another product on the eSIM it has,
//! when that eSIM can serve the product; otherwise the answer is that an
//! eSIM swap (`esim_swap`) is required, and nothing changes.
//!
//! The eSIM serves a product when (first match wins):
//! - its profile's pool lists the product;
//! - an IMSI on hold for the subscriber was held from a dynamic pool that
//!   lists it: an OTA IMSI swap can bring it back onto the eSIM;
//! - a dynamic pool lists it, has IMSIs waiting, and also lists a product of
//!   the profile's pool: its IMSIs are meant for eSIMs like this one.
//!
//! IMSIs held after an eSIM swap or a closure left with a disposed profile
//! and come back on no eSIM over the air, so they do not count. The bundle
//! change itself moves no IMSI: the OTA swap that brings one in is the
//! location logic's to make.

use serde::Serialize;
use serde_json::json;

use super::audit::history::Holder;
use super::lifecycle::Effect;
use super::periods::PeriodStart;
use super::stock::Stock;
use super::store::{StorageExt, WriteBatch};
use super::{ClosedRefusal, Conflict, Inventory, InventoryError};
use crate::model::lifecycle::{BundlePeriod, HoldOrigin};
use crate::model::*;

/// What lets the subscriber's eSIM serve the new product (kept in the
/// audit record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Fit {
    /// The profile's own eSIM pool lists the product.
    ProfilePool { pool: String },
    /// An IMSI held for the subscriber, from a dynamic pool that lists it.
    HeldImsi { imsi: String, pool: String },
    /// A dynamic pool that lists it and a product of the profile's pool.
    DynamicPool { pool: String },
}

fn swap_required(product: &str, reason: String) -> InventoryError {
    InventoryError::SwapRequired {
        product: product.into(),
        reason,
    }
}

impl Inventory {
    /// `POST /accounts/{id}/bundle`: the account runs on `product` from now,
    /// for one period of it, on the eSIM it has. Unknown product: NotFound;
    /// closed account or the product it already runs on: Conflict; an eSIM
    /// that cannot serve the product: SwapRequired.
    pub fn change_bundle(
        &self,
        actor: &str,
        id: u64,
        product: &str,
    ) -> Result<(Account, BundlePeriod, Vec<Effect>), InventoryError> {
        let stock = self.lock();
        let next = self.product_record(product)?;
        let mut a = self.account_record(id)?;
        if a.status == AccountStatus::Closed {
            let refused = ClosedRefusal::ChangeBundle;
            return Err(Conflict::AccountClosed {
                account: id,
                refused,
            }
            .into());
        }
        if a.product == product {
            let product = product.into();
            return Err(Conflict::SameBundle {
                account: id,
                product,
            }
            .into());
        }
        let profile = match a.profile.as_deref() {
            Some(iccid) => self.profile(iccid)?,
            None => None,
        };
        let fit = self.fit(&stock, &a, profile.as_ref(), product)?;
        let at = self.now();
        let mut b = WriteBatch::default();
        let last = self.bundle_period(id)?;
        let start = PeriodStart {
            at,
            // A new bundle is not a renewal; it renews by itself when the
            // old one did and it may.
            auto_renew: next.renewable && last.is_some_and(|p| p.auto_renew),
            renewals: 0,
        };
        let period = self.start_period(&mut b, id, &next, start)?;
        let before = json!({"product": a.product});
        a.product = product.into();
        a.status = AccountStatus::Active;
        b.put(format!("account/{id:020}"), &a);
        if let Some(p) = &profile {
            let who = Holder {
                account: Some(&a),
                event: "bundle_changed",
            };
            self.record_profile(&mut b, p, who, at)?;
        }
        let drafts = vec![];
        let mut after = serde_json::to_value(&fit).unwrap_or_default();
        after["product"] = json!(product);
        let subject = format!("account {id}");
        self.audit(
            &mut b,
            actor,
            "bundle-change",
            &subject,
            Some(before),
            Some(after),
        )?;
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        self.index.put_account(&a, None);
        let effects = vec![Effect::PeriodStarted {
            account: id,
            period: period.id,
        }];
        Ok((a, period, effects))
    }

    /// How the subscriber's eSIM (`profile`) can serve `product`, or
    /// SwapRequired saying why it cannot.
    fn fit(
        &self,
        stock: &Stock,
        a: &Account,
        profile: Option<&Profile>,
        product: &str,
    ) -> Result<Fit, InventoryError> {
        let Some(p) = profile else {
            let why = format!("account {} has no eSIM profile", a.id);
            return Err(swap_required(product, why));
        };
        let pool: Option<EsimPool> = self.store.get(&format!("pool/{}", p.pool))?;
        let own: Vec<String> = pool
            .map(|x| x.products.into_iter().map(|x| x.product).collect())
            .unwrap_or_default();
        if own.iter().any(|x| x == product) {
            return Ok(Fit::ProfilePool {
                pool: p.pool.clone(),
            });
        }
        let dynamic = self.dynamic_pools()?;
        let lists = |pool: &str| {
            dynamic
                .iter()
                .any(|d| d.name == pool && d.products.iter().any(|x| x == product))
        };
        for h in self.held_for(a.id)? {
            if let HoldOrigin::DynamicPool { pool } = h.origin {
                if lists(&pool) {
                    let imsi = h.imsi.imsi;
                    return Ok(Fit::HeldImsi { imsi, pool });
                }
            }
        }
        for d in &dynamic {
            let waiting = stock
                .dynamic
                .iter()
                .any(|((pool, _), n)| *pool == d.name && *n > 0);
            let for_this_esim = d.products.iter().any(|x| own.contains(x));
            if waiting && for_this_esim && d.products.iter().any(|x| x == product) {
                return Ok(Fit::DynamicPool {
                    pool: d.name.clone(),
                });
            }
        }
        let why = format!(
            "pool '{}' does not serve '{product}', and no IMSI held for the subscriber \
             or waiting in a dynamic pool for this eSIM does",
            p.pool
        );
        Err(swap_required(product, why))
    }
}

#[cfg(test)]
mod tests;
