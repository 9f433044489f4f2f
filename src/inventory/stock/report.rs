//! The stock report: available eSIM profiles and IMSIs waiting in dynamic
//! pools, by sponsor or by product, each line flagged below a threshold;
//! and the CLI's table of it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{distinct, Stock};
use crate::inventory::{Inventory, InventoryError};
use crate::model::{DynamicImsiPool, EsimPool};

/// A line's name → (available profiles, dynamic IMSIs).
type Levels = BTreeMap<String, (u64, u64)>;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StockLine {
    pub name: String,
    /// Available profiles (by sponsor: those holding one of its IMSIs).
    pub available_profiles: u64,
    /// IMSIs in dynamic pools (by sponsor: its IMSIs; by product: usable for it).
    pub dynamic_imsis: u64,
    /// Set when `available_profiles` is below the alert threshold.
    pub alert: bool,
    /// By sponsor: its IMSIs available for new profiles (fresh or
    /// recycled), on hold after a closure or swap, and at end of life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imsis: Option<ImsiCounts>,
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct ImsiCounts {
    pub available: u64,
    pub on_hold: u64,
    pub end_of_life: u64,
    /// Taken by open profile orders.
    pub reserved: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StockBy {
    Sponsor,
    Product,
}

impl Inventory {
    /// IMSIs waiting in dynamic pools, by (pool, sponsor id).
    pub fn dynamic_stock(&self) -> Vec<((String, String), u64)> {
        let stock = self.lock();
        stock.dynamic.iter().map(|(k, n)| (k.clone(), *n)).collect()
    }

    /// The stock by sponsor or by product, each line flagged when its
    /// available profiles are below `alert_below`.
    pub fn stock(&self, by: StockBy, alert_below: u64) -> Result<Vec<StockLine>, InventoryError> {
        let pools = self.pools()?;
        let dyn_pools = self.dynamic_pools()?;
        let stock = self.lock();
        let lines = match by {
            StockBy::Sponsor => self.levels_by_sponsor(&stock),
            StockBy::Product => self.levels_by_product(&stock, &pools, &dyn_pools)?,
        };
        let counts_of = self.imsi_counts(by);
        Ok(lines
            .into_iter()
            .map(|(name, (p, d))| StockLine {
                imsis: counts_of(&name),
                name,
                available_profiles: p,
                dynamic_imsis: d,
                alert: p < alert_below,
            })
            .collect())
    }

    /// (available profiles, dynamic IMSIs) of every sponsor, by name: a
    /// profile counts once for each sponsor that lent it an IMSI.
    fn levels_by_sponsor(&self, stock: &Stock) -> Levels {
        let catalog = self.index.catalog();
        let mut lines = Levels::new();
        for s in catalog.sponsors.iter() {
            lines.entry(s.name.clone()).or_default();
        }
        let name_of = |id: &str| {
            catalog
                .sponsors
                .iter()
                .find(|s| s.id == id)
                .map_or_else(|| id.to_string(), |s| s.name.clone())
        };
        for avail in stock.available.values() {
            for sponsors in avail.values() {
                for s in distinct(sponsors) {
                    lines.entry(name_of(s)).or_default().0 += 1;
                }
            }
        }
        for ((_, sponsor), n) in &stock.dynamic {
            lines.entry(name_of(sponsor)).or_default().1 += n;
        }
        lines
    }

    /// (available profiles, dynamic IMSIs) of every product: those of the
    /// eSIM pools and dynamic pools that list it.
    fn levels_by_product(
        &self,
        stock: &Stock,
        pools: &[EsimPool],
        dyn_pools: &[DynamicImsiPool],
    ) -> Result<Levels, InventoryError> {
        let mut lines = Levels::new();
        for p in self.products()? {
            let profiles = pools
                .iter()
                .filter(|pool| pool.products.iter().any(|x| x.product == p.name))
                .map(|pool| {
                    stock
                        .available
                        .get(&pool.name)
                        .map_or(0, |m| m.len() as u64)
                })
                .sum();
            let dynamic = dyn_pools
                .iter()
                .filter(|d| d.products.contains(&p.name))
                .map(|d| stock.dynamic_level(&d.name))
                .sum();
            lines.insert(p.name, (profiles, dynamic));
        }
        Ok(lines)
    }

    /// By sponsor: the sponsor's IMSIs by state, for a line's name; by
    /// product: none.
    fn imsi_counts(&self, by: StockBy) -> impl Fn(&str) -> Option<ImsiCounts> {
        let states = (by == StockBy::Sponsor).then(|| self.index.imsi_states_by_sponsor());
        let catalog = self.index.catalog();
        move |name: &str| {
            let states = states.as_ref()?;
            let pos = catalog.sponsors.iter().position(|s| s.name == name)?;
            let [available, on_hold, end_of_life, reserved] =
                states.get(&(pos as u16)).copied().unwrap_or_default();
            Some(ImsiCounts {
                available,
                on_hold,
                end_of_life,
                reserved,
            })
        }
    }
}

/// A fixed-width table for the CLI.
pub fn table(lines: &[StockLine], by: StockBy) -> String {
    let head = match by {
        StockBy::Sponsor => "sponsor",
        StockBy::Product => "product",
    };
    let w = lines
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0)
        .max(head.len());
    let imsis = by == StockBy::Sponsor;
    let mut out = format!(
        "{head:<w$}  {:>18}  {:>13}",
        "available profiles", "dynamic IMSIs"
    );
    if imsis {
        out += &format!(
            "  {:>15}  {:>13}  {:>16}",
            "IMSIs available", "IMSIs on hold", "IMSIs end of life"
        );
    }
    out.push('\n');
    for l in lines {
        out += &format!(
            "{:<w$}  {:>18}  {:>13}",
            l.name, l.available_profiles, l.dynamic_imsis
        );
        if let (true, Some(c)) = (imsis, l.imsis) {
            out += &format!(
                "  {:>15}  {:>13}  {:>16}",
                c.available, c.on_hold, c.end_of_life
            );
        }
        out += if l.alert { "  LOW STOCK\n" } else { "\n" };
    }
    out
}
