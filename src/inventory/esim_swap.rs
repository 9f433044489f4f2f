//! eSIM swap: the subscriber gets a new eSIM profile for a product,
//! chosen as onboarding chooses one; the old profile is disposed (never
//! reused) and its IMSIs go on hold for the subscriber. One batch holds
//! the whole change with its SIM/Swap event, so the provisioning system
//! hears of it exactly when it happened.

use serde_json::json;

use super::audit::history::Holder;
use super::lifecycle::Effect;
use super::periods::PeriodStart;
use super::store::WriteBatch;
use super::{ClosedRefusal, Conflict, Inventory, InventoryError};
use crate::model::event;
use crate::model::lifecycle::{BundlePeriod, HoldOrigin};
use crate::model::*;

/// A committed eSIM swap.
#[derive(Debug, Clone)]
pub struct EsimSwap {
    pub account: Account,
    /// The profile it had, now disposed (None: it had none).
    pub old_profile: Option<Profile>,
    pub profile: Profile,
    pub period: BundlePeriod,
}

impl Inventory {
    /// `POST /accounts/{id}/esim-swap`: the account moves to an available
    /// profile of `product`'s pools and runs on `product` from now. No
    /// stock: OutOfStock, and nothing changes.
    pub fn esim_swap(
        &self,
        actor: &str,
        id: u64,
        product: &str,
    ) -> Result<(EsimSwap, Vec<Effect>), InventoryError> {
        let mut stock = self.lock();
        let next = self.product_record(product)?;
        let mut a = self.account_record(id)?;
        if a.status == AccountStatus::Closed {
            let refused = ClosedRefusal::EsimSwap;
            return Err(Conflict::AccountClosed {
                account: id,
                refused,
            }
            .into());
        }
        let (mut profile, sponsors) = self.pick_profile(&stock, product)?;
        let mut old = match a.profile.as_deref() {
            Some(iccid) => self.profile(iccid)?,
            None => None,
        };
        let at = self.now();
        let mut b = WriteBatch::default();
        let before = json!({"product": a.product, "iccid": a.profile});
        a.product = product.into();
        a.profile = Some(profile.iccid.clone());
        a.status = AccountStatus::Active;
        profile.state = ProfileState::Assigned { account: id };
        b.put(format!("account/{id:020}"), &a);
        b.put(format!("profile/{}", profile.iccid), &profile);
        b.put(
            format!("history/{}/{at:020}", profile.iccid),
            &json!([id, "assigned"]),
        );
        let held = match old.as_mut() {
            Some(o) => self.dispose_for_swap(&mut b, o, id, at)?,
            None => vec![],
        };
        let mut drafts = vec![self.sim_swap_event(&a, old.as_ref(), &profile)?];
        drafts.extend(self.stock_taken(&stock, &profile.pool, &sponsors, product, &mut b)?);
        let last = self.bundle_period(id)?;
        let start = PeriodStart {
            at,
            auto_renew: next.renewable && last.is_some_and(|p| p.auto_renew),
            renewals: 0,
        };
        let period = self.start_period(&mut b, id, &next, start)?;
        let who = Holder {
            account: Some(&a),
            event: "assigned",
        };
        self.record_profile(&mut b, &profile, who, at)?;
        let after = json!({"product": product, "iccid": profile.iccid});
        let subject = format!("account {id}");
        self.audit(
            &mut b,
            actor,
            "esim-swap",
            &subject,
            Some(before),
            Some(after),
        )?;
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        stock.taken(&profile);
        self.index_swap(old.as_ref(), &held, &a, &profile);
        let effects = vec![Effect::Swapped {
            account: id,
            period: period.id,
        }];
        let swap = EsimSwap {
            account: a,
            old_profile: old,
            profile,
            period,
        };
        Ok((swap, effects))
    }

    /// The committed swap, in the resolver: the old profile disposed, its
    /// IMSIs held (they no longer resolve), the account on the new one.
    fn index_swap(&self, old: Option<&Profile>, held: &[Imsi], a: &Account, new: &Profile) {
        if let Some(o) = old {
            self.index.put_profile(o);
        }
        for i in held {
            self.index.put_imsi(i);
        }
        self.index.put_account(a, Some(new));
    }

    /// The old profile is disposed and its IMSIs go on hold, kept for the
    /// subscriber (`reserved_for`), for their MCC's days; the IMSIs whose
    /// record changed.
    fn dispose_for_swap(
        &self,
        b: &mut WriteBatch,
        old: &mut Profile,
        account: u64,
        at: UnixTime,
    ) -> Result<Vec<Imsi>, InventoryError> {
        old.state = ProfileState::Disposed;
        b.put(format!("profile/{}", old.iccid), &*old);
        // On hold nobody uses them: the reservation is in the IMSI's state.
        let who = Holder {
            account: None,
            event: "hold",
        };
        self.record_profile(b, old, who, at)?;
        let origin = HoldOrigin::Pool {
            pool: old.pool.clone(),
        };
        let mut held = vec![];
        for imsi in &old.imsis {
            held.extend(self.start_hold(b, imsi, &origin, Some(account), at)?);
        }
        Ok(held)
    }

    /// SIM/Swap: the old profile's IMSIs to remove, the new one's to create.
    fn sim_swap_event(
        &self,
        a: &Account,
        old: Option<&Profile>,
        new: &Profile,
    ) -> Result<event::EventDraft, InventoryError> {
        let old_imsis = old.map_or(&[][..], |p| &p.imsis[..]);
        let all: Vec<String> = old_imsis.iter().chain(&new.imsis).cloned().collect();
        self.with_profile_imsis(&all, |rows| {
            let (o, n) = rows.split_at(old_imsis.len());
            event::sim_swap(a, old.map(|p| p.iccid.as_str()), new, o, n)
        })
    }
}

#[cfg(test)]
mod tests;
