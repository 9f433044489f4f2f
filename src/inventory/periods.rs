//! Bundle periods: each account's current period (`period/<account>`),
//! started at onboarding, renewal, bundle change or eSIM swap, with the
//! timer that ends it. Charging's ledger restarts with each new period id.

use super::store::{decode, Record, StorageExt, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::lifecycle::{BundlePeriod, Timer, TimerKind};
use crate::model::{Account, Product, UnixTime};

const PERIOD: &str = "period/";

impl Record for BundlePeriod {}

fn period_key(account: u64) -> String {
    format!("{PERIOD}{account:020}")
}

/// How a new bundle period starts: when, and what it keeps of the last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeriodStart {
    pub at: UnixTime,
    pub auto_renew: bool,
    pub renewals: u32,
}

impl Inventory {
    /// Onboarding: the bundle runs from activation for one period.
    pub(crate) fn start_first_period(
        &self,
        b: &mut WriteBatch,
        a: &Account,
    ) -> Result<(), InventoryError> {
        let product = self.product_record(&a.product)?;
        let first = PeriodStart {
            at: a.created_at,
            auto_renew: false,
            renewals: 0,
        };
        self.start_period(b, a.id, &product, first)?;
        Ok(())
    }

    /// A period of `product` for `account` from `start.at`, with the timer
    /// that ends it, put in `b` (onboarding, renewal, bundle change, eSIM
    /// swap). The ledger's reset is the caller's `Effect::PeriodStarted`.
    pub(crate) fn start_period(
        &self,
        b: &mut WriteBatch,
        account: u64,
        product: &Product,
        start: PeriodStart,
    ) -> Result<BundlePeriod, InventoryError> {
        let p = BundlePeriod {
            id: self.store.next_id()? + 1,
            account,
            product: product.name.clone(),
            start: start.at,
            end: product.period.map(|d| start.at + d.secs()),
            auto_renew: start.auto_renew,
            renewals: start.renewals,
        };
        self.set_period(b, &p)?;
        Ok(p)
    }

    fn set_period(&self, b: &mut WriteBatch, p: &BundlePeriod) -> Result<(), InventoryError> {
        if let Some(end) = p.end {
            let kind = TimerKind::BundleEnd {
                account: p.account,
                end,
            };
            self.schedule(b, &Timer { due: end, kind })?;
        }
        self.put_period(b, p);
        Ok(())
    }

    pub fn bundle_period(&self, account: u64) -> Result<Option<BundlePeriod>, InventoryError> {
        Ok(self.store.get(&period_key(account))?)
    }

    pub(crate) fn put_period(&self, b: &mut WriteBatch, p: &BundlePeriod) {
        b.put(period_key(p.account), p);
    }

    /// Every account's current period id (for charging's ledger).
    pub fn current_periods(&self) -> Result<Vec<(u64, u64)>, InventoryError> {
        let mut out = Vec::new();
        self.store.visit(PERIOD.as_bytes(), &mut |k, v| {
            let p: BundlePeriod = decode(k, v)?;
            out.push((p.account, p.id));
            Ok(())
        })?;
        Ok(out)
    }
}
