//! Stock levels: available eSIM profiles by sponsor and by product, and IMSIs
//! waiting in dynamic pools, with alerts below a threshold.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ops::{Inventory, InventoryError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StockLine {
    pub name: String,
    /// Available profiles (by sponsor: those holding one of its IMSIs).
    pub available_profiles: u64,
    /// IMSIs in dynamic pools (by sponsor: its IMSIs; by product: usable for it).
    pub dynamic_imsis: u64,
    /// Set when `available_profiles` is below the alert threshold.
    pub alert: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StockBy {
    Sponsor,
    Product,
}

impl Inventory {
    pub fn stock(&self, by: StockBy, alert_below: u64) -> Result<Vec<StockLine>, InventoryError> {
        let pools = self.pools()?;
        let dyn_pools = self.dynamic_pools()?;
        let stock = self.lock();
        let mut lines: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        match by {
            StockBy::Sponsor => {
                for s in self.index.catalog().sponsors.iter() {
                    lines.entry(s.name.clone()).or_default();
                }
                let name_of = |id: &str| {
                    self.index
                        .catalog()
                        .sponsors
                        .iter()
                        .find(|s| s.id == id)
                        .map_or_else(|| id.to_string(), |s| s.name.clone())
                };
                for avail in stock.available.values() {
                    for sponsors in avail.values() {
                        let mut uniq: Vec<&String> = sponsors.iter().collect();
                        uniq.sort();
                        uniq.dedup();
                        for s in uniq {
                            lines.entry(name_of(s)).or_default().0 += 1;
                        }
                    }
                }
                for ((_, sponsor), n) in &stock.dynamic {
                    lines.entry(name_of(sponsor)).or_default().1 += n;
                }
            }
            StockBy::Product => {
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
                        .map(|d| {
                            stock
                                .dynamic
                                .iter()
                                .filter(|((pool, _), _)| *pool == d.name)
                                .map(|(_, n)| n)
                                .sum::<u64>()
                        })
                        .sum();
                    lines.insert(p.name, (profiles, dynamic));
                }
            }
        }
        Ok(lines
            .into_iter()
            .map(|(name, (p, d))| StockLine {
                name,
                available_profiles: p,
                dynamic_imsis: d,
                alert: p < alert_below,
            })
            .collect())
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
    let mut out = format!(
        "{head:<w$}  {:>18}  {:>13}\n",
        "available profiles", "dynamic IMSIs"
    );
    for l in lines {
        out += &format!(
            "{:<w$}  {:>18}  {:>13}{}\n",
            l.name,
            l.available_profiles,
            l.dynamic_imsis,
            if l.alert { "  LOW STOCK" } else { "" }
        );
    }
    out
}
