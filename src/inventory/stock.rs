//! Stock: what the writers keep in memory beside the store (available
//! profiles per pool, IMSIs waiting in dynamic pools), the levels reported
//! from it (`report`), and the `Stock/Low` alerts when a level crosses
//! below the threshold (`alert`).

mod alert;
mod report;

use std::collections::{BTreeMap, HashMap};

pub use report::{table, ImsiCounts, StockBy, StockLine};

use crate::model::{Imsi, Profile};

/// What the writers keep in memory beside the store: available profiles per
/// pool (with the sponsors in each) and IMSIs waiting in dynamic pools.
#[derive(Default)]
pub(crate) struct Stock {
    /// pool → ICCID → sponsor ids of its IMSIs.
    pub(crate) available: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// (dynamic pool, sponsor) → IMSIs in it.
    pub(crate) dynamic: BTreeMap<(String, String), u64>,
    /// sponsor → available profiles holding one of its IMSIs (what a
    /// `Stock/Low` check reads at every onboarding).
    by_sponsor: HashMap<String, u64>,
}

/// Each sponsor once, however many of a profile's IMSIs it lent.
fn distinct(sponsors: &[String]) -> Vec<&String> {
    let mut uniq: Vec<&String> = sponsors.iter().collect();
    uniq.sort();
    uniq.dedup();
    uniq
}

impl Stock {
    pub(crate) fn new(
        available: HashMap<String, BTreeMap<String, Vec<String>>>,
        dynamic: BTreeMap<(String, String), u64>,
    ) -> Stock {
        let mut by_sponsor: HashMap<String, u64> = HashMap::new();
        for sponsors in available.values().flat_map(|m| m.values()) {
            for s in distinct(sponsors) {
                *by_sponsor.entry(s.clone()).or_default() += 1;
            }
        }
        Stock {
            available,
            dynamic,
            by_sponsor,
        }
    }

    /// A committed change made `iccid` of `pool` available.
    pub(crate) fn added(&mut self, pool: &str, iccid: &str, sponsors: Vec<String>) {
        for s in distinct(&sponsors) {
            *self.by_sponsor.entry(s.clone()).or_default() += 1;
        }
        let avail = self.available.entry(pool.to_string()).or_default();
        if let Some(old) = avail.insert(iccid.to_string(), sponsors) {
            self.uncount(&old);
        }
    }

    /// A committed change assigned `p`: it is no longer available.
    pub(crate) fn taken(&mut self, p: &Profile) {
        let gone = self
            .available
            .get_mut(&p.pool)
            .and_then(|m| m.remove(&p.iccid));
        if let Some(sponsors) = gone {
            self.uncount(&sponsors);
        }
    }

    fn uncount(&mut self, sponsors: &[String]) {
        for s in distinct(sponsors) {
            if let Some(n) = self.by_sponsor.get_mut(s) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// A committed change put `imsi` in (its state is InDynamicPool) or took
    /// it out of (`joined` false) a dynamic pool.
    pub(crate) fn dynamic_moved(&mut self, imsi: &Imsi, pool: &str, joined: bool) {
        let n = self
            .dynamic
            .entry((pool.to_string(), imsi.sponsor.clone()))
            .or_default();
        *n = if joined { *n + 1 } else { n.saturating_sub(1) };
    }

    /// Available profiles of eSIM pool `pool`.
    fn pool_level(&self, pool: &str) -> u64 {
        self.available.get(pool).map_or(0, |m| m.len() as u64)
    }

    /// IMSIs waiting in dynamic pool `pool`, of every sponsor.
    pub(crate) fn dynamic_level(&self, pool: &str) -> u64 {
        self.dynamic
            .iter()
            .filter(|((p, _), _)| p == pool)
            .map(|(_, n)| n)
            .sum()
    }

    /// Available profiles with at least one IMSI of `sponsor`.
    pub(crate) fn sponsor_level(&self, sponsor: &str) -> u64 {
        self.by_sponsor.get(sponsor).copied().unwrap_or(0)
    }
}
