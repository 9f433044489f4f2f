//! `Stock/Low` alerts: once when a pool's or a sponsor's count of available
//! eSIM profiles falls below `inventory.stock_alert_below`, and again only
//! after a refill brought it back. Whether a level is low is stored (key
//! `stocklow/<pool|sponsor>/<name>`) in the same batch as the change, so a
//! restart neither repeats nor forgets an alert.

use std::sync::atomic::Ordering::Relaxed;

use super::{distinct, Stock};
use crate::inventory::store::{StorageExt, WriteBatch};
use crate::inventory::{Inventory, InventoryError};
use crate::model::event::{self, EventDraft, StockScope};

const LOW: &str = "stocklow/";

impl Inventory {
    /// The threshold below which stock is low (0: no alerts).
    pub fn set_stock_alert_below(&self, n: u64) {
        self.stock_alert_below.store(n, Relaxed);
    }

    /// Onboarding is about to take one profile of `pool` with IMSIs of
    /// `sponsors` for `product`: the alerts for levels that cross below the
    /// threshold, their flags put in `b`.
    pub(crate) fn stock_taken(
        &self,
        stock: &Stock,
        pool: &str,
        sponsors: &[String],
        product: &str,
        b: &mut WriteBatch,
    ) -> Result<Vec<EventDraft>, InventoryError> {
        let threshold = self.stock_alert_below.load(Relaxed);
        let mut drafts = vec![];
        if threshold == 0 {
            return Ok(drafts);
        }
        let level = stock.pool_level(pool).saturating_sub(1);
        let key = format!("{LOW}pool/{pool}");
        if level < threshold && !self.store.exists(&key)? {
            b.put(key, &level);
            drafts.push(event::stock_low(
                StockScope::Pool(pool),
                product,
                level,
                threshold,
            ));
        }
        let catalog = self.index.catalog();
        for s in distinct(sponsors) {
            let level = stock.sponsor_level(s).saturating_sub(1);
            let key = format!("{LOW}sponsor/{s}");
            if level < threshold && !self.store.exists(&key)? {
                b.put(key, &level);
                let name = catalog
                    .sponsors
                    .iter()
                    .find(|x| &x.id == s)
                    .map_or(s.as_str(), |x| x.name.as_str());
                drafts.push(event::stock_low(
                    StockScope::Sponsor(name),
                    product,
                    level,
                    threshold,
                ));
            }
        }
        Ok(drafts)
    }

    /// An OTA swap is about to take an IMSI of dynamic pool `pool` for a
    /// subscriber of `product`: the alert when the pool's IMSIs cross
    /// below the threshold.
    pub(crate) fn dynamic_taken(
        &self,
        stock: &Stock,
        pool: &str,
        product: &str,
        b: &mut WriteBatch,
    ) -> Result<Vec<EventDraft>, InventoryError> {
        let threshold = self.stock_alert_below.load(Relaxed);
        let level = stock.dynamic_level(pool).saturating_sub(1);
        let key = format!("{LOW}dynamic/{pool}");
        if threshold == 0 || level >= threshold || self.store.exists(&key)? {
            return Ok(vec![]);
        }
        b.put(key, &level);
        let scope = StockScope::DynamicPool(pool);
        Ok(vec![event::stock_low(scope, product, level, threshold)])
    }

    /// `added` IMSIs are about to join dynamic pool `pool`: back at the
    /// threshold, its low flag goes, so the next crossing alerts again.
    pub(crate) fn dynamic_refilled(
        &self,
        stock: &Stock,
        pool: &str,
        added: u64,
        b: &mut WriteBatch,
    ) -> Result<(), InventoryError> {
        let threshold = self.stock_alert_below.load(Relaxed);
        let key = format!("{LOW}dynamic/{pool}");
        if stock.dynamic_level(pool) + added >= threshold && self.store.exists(&key)? {
            b.delete(key);
        }
        Ok(())
    }

    /// An import is about to add profiles to `pool`, each with the sponsor
    /// ids of its IMSIs: levels it brings back to the threshold lose their
    /// low flag in `b`, so the next crossing alerts again.
    pub(crate) fn stock_refilled<'a>(
        &self,
        stock: &Stock,
        pool: &str,
        added: impl Iterator<Item = &'a [String]>,
        b: &mut WriteBatch,
    ) -> Result<(), InventoryError> {
        let threshold = self.stock_alert_below.load(Relaxed);
        let mut n = 0u64;
        let mut by_sponsor: std::collections::BTreeMap<&str, u64> = Default::default();
        for sponsors in added {
            n += 1;
            for s in distinct(sponsors) {
                *by_sponsor.entry(s.as_str()).or_default() += 1;
            }
        }
        let key = format!("{LOW}pool/{pool}");
        if stock.pool_level(pool) + n >= threshold && self.store.exists(&key)? {
            b.delete(key);
        }
        for (s, added) in by_sponsor {
            let key = format!("{LOW}sponsor/{s}");
            if stock.sponsor_level(s) + added >= threshold && self.store.exists(&key)? {
                b.delete(key);
            }
        }
        Ok(())
    }
}
