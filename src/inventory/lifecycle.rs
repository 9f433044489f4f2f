//! The subscriber lifecycle's transitions: a bundle period starts, renews,
//! lapses into grace, grace reminds and ends, an account closes and its
//! IMSIs go on hold, a hold ends. Each transition is one atomic batch with
//! its audit record, events, history and the timers it sets; the timer that
//! ran it is deleted in the same batch. What lies beyond the store (the
//! ledger's reset, RAR/ASR) comes back as `Effect`s for the caller.

use super::audit::history::Holder;
use super::periods::PeriodStart;
use super::stock::Stock;
use super::store::WriteBatch;
use super::{invalid, ClosedRefusal, Conflict, Inventory, InventoryError};
use crate::model::event::{self, EventDraft};
use crate::model::lifecycle::{BundlePeriod, HoldOrigin, Timer, TimerKind};
use crate::model::*;

/// What the rest of the node does after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A new period (`BundlePeriod::id`): the ledger starts from zero, and
    /// the gateways are asked to re-authorise (RAR). A crossed fair-usage
    /// threshold's restore follows from that reset (see `charging::period`),
    /// in sequence after any throttle.
    PeriodStarted { account: u64, period: u64 },
    /// The bundle lapsed: RAR, so the gateways hear 4012 now.
    Lapsed { account: u64 },
    /// The account closed: ASR to its sessions.
    Closed { account: u64 },
    /// An eSIM swap: a new period as `PeriodStarted`, and an ASR to the
    /// sessions of the old eSIM, whose IMSIs no longer resolve.
    Swapped { account: u64, period: u64 },
}

impl Inventory {
    /// `POST /accounts/{id}/renew` (and automatic renewal): a new period
    /// from `at`; out of grace if in it. A closed account cannot renew.
    pub fn renew(
        &self,
        actor: &str,
        id: u64,
    ) -> Result<(BundlePeriod, Vec<Effect>), InventoryError> {
        let _w = self.lock();
        self.renew_at(actor, id, self.now(), WriteBatch::default())
    }

    fn renew_at(
        &self,
        actor: &str,
        id: u64,
        at: UnixTime,
        mut b: WriteBatch,
    ) -> Result<(BundlePeriod, Vec<Effect>), InventoryError> {
        let mut a = self.account_record(id)?;
        if a.status == AccountStatus::Closed {
            let refused = ClosedRefusal::Renew;
            return Err(Conflict::AccountClosed {
                account: id,
                refused,
            }
            .into());
        }
        let product = self.product_record(&a.product)?;
        let old = self.bundle_period(id)?;
        let next = PeriodStart {
            at,
            auto_renew: old.as_ref().is_some_and(|o| o.auto_renew),
            renewals: old.as_ref().map_or(0, |o| o.renewals) + 1,
        };
        let p = self.start_period(&mut b, id, &product, next)?;
        let before = serde_json::to_value(&a.status).ok();
        a.status = AccountStatus::Active;
        b.put(format!("account/{id:020}"), &a);
        let drafts = vec![event::bundle_renewed(&a, p.start, p.end, p.renewals)];
        let after = serde_json::json!({"period_start": p.start, "period_end": p.end});
        self.audit(
            &mut b,
            actor,
            "renew",
            &format!("account {id}"),
            before,
            Some(after),
        )?;
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        self.index.put_account(&a, None);
        let started = Effect::PeriodStarted {
            account: id,
            period: p.id,
        };
        Ok((p, vec![started]))
    }

    /// Every IMSI of the account's profile back to normal
    /// (Account/FUP/Restore), for the charging commit that cleared a crossed
    /// threshold.
    pub(crate) fn fup_restore_draft(&self, a: &Account) -> Result<EventDraft, InventoryError> {
        let iccid = a.profile.clone().unwrap_or_default();
        let imsis = self.profile(&iccid)?.map(|p| p.imsis).unwrap_or_default();
        self.with_profile_imsis(&imsis, |i| event::fup_restore(a.id, &iccid, i))
    }

    /// Whether an account renews by itself (renewable products only).
    pub fn set_auto_renew(
        &self,
        actor: &str,
        id: u64,
        on: bool,
    ) -> Result<BundlePeriod, InventoryError> {
        let _w = self.lock();
        let a = self.account_record(id)?;
        if on && !self.product_record(&a.product)?.renewable {
            return Err(invalid(
                "auto_renew",
                format!("product '{}' is not renewable", a.product),
            ));
        }
        let mut p = self
            .bundle_period(id)?
            .ok_or_else(|| InventoryError::NotFound {
                what: "bundle period of account",
                id: id.to_string(),
            })?;
        p.auto_renew = on;
        let mut b = WriteBatch::default();
        self.put_period(&mut b, &p);
        let after = serde_json::json!({"auto_renew": on});
        self.audit(
            &mut b,
            actor,
            "auto-renew",
            &format!("account {id}"),
            None,
            Some(after),
        )?;
        self.commit(b)?;
        Ok(p)
    }

    /// `POST /accounts/{id}/close` (and the end of grace, which closes the
    /// account the same way).
    pub fn close_account(&self, actor: &str, id: u64) -> Result<Vec<Effect>, InventoryError> {
        let _w = self.lock();
        self.close_at(actor, id, self.now(), WriteBatch::default())
    }

    fn close_at(
        &self,
        actor: &str,
        id: u64,
        at: UnixTime,
        mut b: WriteBatch,
    ) -> Result<Vec<Effect>, InventoryError> {
        let mut a = self.account_record(id)?;
        if a.status == AccountStatus::Closed {
            return Err(Conflict::AlreadyClosed { account: id }.into());
        }
        let before = serde_json::to_value(&a.status).ok();
        a.status = AccountStatus::Closed;
        b.put(format!("account/{id:020}"), &a);
        let mut drafts = vec![];
        let mut held = vec![];
        let mut profile = match a.profile.as_deref() {
            Some(iccid) => self.profile(iccid)?,
            None => None,
        };
        if let Some(p) = profile.as_mut() {
            drafts.push(
                self.with_profile_imsis(&p.imsis, |i| event::account_closed(&a, &p.iccid, i))?,
            );
            p.state = ProfileState::Disposed;
            b.put(format!("profile/{}", p.iccid), p);
            let who = Holder {
                account: None,
                event: "hold",
            };
            self.record_profile(&mut b, p, who, at)?;
            let origin = HoldOrigin::Pool {
                pool: p.pool.clone(),
            };
            for imsi in &p.imsis {
                held.push(self.start_hold(&mut b, imsi, &origin, None, at)?);
            }
        }
        let after = serde_json::to_value(&a.status).ok();
        self.audit(
            &mut b,
            actor,
            "close",
            &format!("account {id}"),
            before,
            after,
        )?;
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        // The index follows the store only once the commit succeeded.
        if let Some(p) = &profile {
            self.index.put_profile(p);
        }
        self.index.put_account(&a, None);
        for i in held.iter().flatten() {
            self.index.put_imsi(i);
        }
        Ok(vec![Effect::Closed { account: id }])
    }

    /// Runs every transition due at or before `now`, earliest first, one
    /// batch each; timers they set that fall due by `now` run too. Returns
    /// how many timers fired, and the effects.
    pub fn run_due(&self, now: UnixTime) -> Result<(usize, Vec<Effect>), InventoryError> {
        let mut effects = vec![];
        let mut fired = 0;
        loop {
            let mut w = self.lock();
            let Some((key, t)) = self.due_timers(now, 1)?.pop() else {
                return Ok((fired, effects));
            };
            fired += 1;
            let mut b = WriteBatch::default();
            b.delete(key.clone());
            effects.extend(self.fire(t, b, &mut w)?);
        }
    }

    fn fire(
        &self,
        t: Timer,
        b: WriteBatch,
        stock: &mut Stock,
    ) -> Result<Vec<Effect>, InventoryError> {
        let at = t.due;
        match t.kind {
            TimerKind::BundleEnd { account, end } => self.bundle_end(account, end, b),
            TimerKind::GraceReminder { account, until } => {
                self.grace_reminder(account, until, at, b)
            }
            TimerKind::GraceEnd { account, until } => {
                let a = self.account_record(account)?;
                if a.status != (AccountStatus::Grace { until }) {
                    return self.stale(b);
                }
                self.close_at("lifecycle", account, at, b)
            }
            TimerKind::HoldEnd { imsi, until } => self.hold_end(&imsi, until, b, stock),
        }
    }

    /// A timer whose subject moved on: it only goes.
    pub(crate) fn stale(&self, b: WriteBatch) -> Result<Vec<Effect>, InventoryError> {
        self.store.commit(b)?;
        Ok(vec![])
    }

    fn bundle_end(
        &self,
        id: u64,
        end: UnixTime,
        mut b: WriteBatch,
    ) -> Result<Vec<Effect>, InventoryError> {
        let a = self.account_record(id)?;
        let p = self.bundle_period(id)?;
        let current = p.as_ref().is_some_and(|p| p.end == Some(end));
        if !current || a.status != AccountStatus::Active {
            return self.stale(b);
        }
        let product = self.product_record(&a.product)?;
        if p.is_some_and(|p| p.auto_renew) && product.renewable {
            return Ok(self.renew_at("lifecycle", id, end, b)?.1);
        }
        let grace = product.grace_period.map_or(0, |g| g.secs());
        if grace == 0 {
            return self.close_at("lifecycle", id, end, b);
        }
        let until = end + grace;
        let mut a2 = a.clone();
        a2.status = AccountStatus::Grace { until };
        b.put(format!("account/{id:020}"), &a2);
        for before in self.grace_reminders() {
            if until - before > end {
                let kind = TimerKind::GraceReminder { account: id, until };
                self.schedule(
                    &mut b,
                    &Timer {
                        due: until - before,
                        kind,
                    },
                )?;
            }
        }
        let kind = TimerKind::GraceEnd { account: id, until };
        self.schedule(&mut b, &Timer { due: until, kind })?;
        let drafts = vec![event::bundle_grace(&a2, "started", until, end)];
        let after = serde_json::to_value(&a2.status).ok();
        self.audit(
            &mut b,
            "lifecycle",
            "lapse",
            &format!("account {id}"),
            None,
            after,
        )?;
        self.commit_with_events(b, drafts, end, |b| self.commit(b))?;
        self.index.put_account(&a2, None);
        Ok(vec![Effect::Lapsed { account: id }])
    }

    fn grace_reminder(
        &self,
        id: u64,
        until: UnixTime,
        at: UnixTime,
        b: WriteBatch,
    ) -> Result<Vec<Effect>, InventoryError> {
        let a = self.account_record(id)?;
        if a.status != (AccountStatus::Grace { until }) {
            return self.stale(b);
        }
        let drafts = vec![event::bundle_grace(&a, "reminder", until, at)];
        self.commit_with_events(b, drafts, at, |b| Ok(self.store.commit(b)?))?;
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests;
