//! What the index tells the writers' stock and the stock report: available
//! profiles by pool, IMSIs in dynamic pools, and IMSIs by sponsor and state.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use super::*;

impl Index {
    /// IMSIs by sponsor (catalogue position) and state: available, on hold,
    /// end of life, reserved by orders; for the stock report.
    pub fn imsi_states_by_sponsor(&self) -> HashMap<u16, [u64; 4]> {
        let mut out: HashMap<u16, [u64; 4]> = HashMap::new();
        self.imsis.for_each(|_, w| {
            let e = ImsiEntry::unpack(w);
            let slot = match e.status {
                ImsiStatus::Available => 0,
                ImsiStatus::Hold => 1,
                ImsiStatus::EndOfLife => 2,
                ImsiStatus::Reserved => 3,
                _ => return,
            };
            out.entry(e.sponsor).or_default()[slot] += 1;
        });
        out
    }

    /// The writers' stock, derived from the index: available profiles by
    /// eSIM pool (ICCID → sponsor ids of its IMSIs), and IMSIs by (dynamic
    /// pool, sponsor id).
    pub(crate) fn stock(&self) -> (AvailableProfiles, DynamicImsis) {
        let catalog = self.catalog.load();
        let sponsor_id = |i: u16| catalog.sponsors.get(i as usize).map(|s| s.id.clone());
        let mut sponsors_of: HashMap<u32, Vec<String>> = HashMap::new();
        let mut dynamic = DynamicImsis::new();
        self.imsis.for_each(|_, w| {
            let e = ImsiEntry::unpack(w);
            match e.status {
                ImsiStatus::Embedded => {
                    let available = self.rows.get(e.profile).is_some_and(|r| {
                        state::profile(r.state.load(Relaxed)) == ProfileStatus::Available
                    });
                    if available {
                        let list = sponsors_of.entry(e.profile).or_default();
                        list.extend(sponsor_id(e.sponsor));
                    }
                }
                ImsiStatus::InDynamicPool => {
                    if let (Some(pool), Some(sp)) = (
                        catalog.dynamic_pools.get(e.profile as usize),
                        sponsor_id(e.sponsor),
                    ) {
                        *dynamic.entry((pool.clone(), sp)).or_default() += 1;
                    }
                }
                _ => {}
            }
        });
        let mut available = AvailableProfiles::new();
        for ord in 0..self.rows.len() as u32 {
            let Some(row) = self.rows.get(ord) else {
                continue;
            };
            if state::profile(row.state.load(Relaxed)) != ProfileStatus::Available {
                continue;
            }
            let pool = self.rows.pool(ord).map_or(u16::MAX, |p| p.load(Relaxed));
            let Some(pool) = catalog.pools.get(pool as usize) else {
                continue;
            };
            let mut sponsors = sponsors_of.remove(&ord).unwrap_or_default();
            sponsors.sort();
            available
                .entry(pool.clone())
                .or_default()
                .insert(iccid_string(row.iccid()), sponsors);
        }
        (available, dynamic)
    }
}
