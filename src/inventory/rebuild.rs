//! Start-up rebuild of the resolver's indexes and the writers' stock from the
//! store. Accounts, profiles and IMSIs are scanned on parallel threads (the
//! index's puts do not depend on order), each record visited in place
//! without copying it out of the store.

use std::collections::{BTreeMap, HashMap};

use super::model::*;
use super::ops::{Inventory, InventoryError, Stock};
use super::store::{decode, StoreError};

/// What each scan adds to the stock; merged when all are done.
#[derive(Default)]
struct Partial {
    available: HashMap<String, BTreeMap<String, Vec<String>>>,
    dynamic: BTreeMap<(String, String), u64>,
}

type Scan = fn(&Inventory) -> Result<Partial, StoreError>;

impl Inventory {
    /// Rebuilds every index and the stock counters from the store.
    pub fn rebuild(&self) -> Result<(), InventoryError> {
        let mut stock = self.lock();
        self.refresh_catalog()?;
        *stock = Stock::default();
        let scans: [Scan; 3] = [Self::scan_accounts, Self::scan_profiles, Self::scan_imsis];
        let parts: Vec<Result<Partial, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = scans.iter().map(|f| s.spawn(|| f(self))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for p in parts {
            let p = p?;
            stock.available.extend(p.available);
            for (k, n) in p.dynamic {
                *stock.dynamic.entry(k).or_default() += n;
            }
        }
        Ok(())
    }

    fn scan_accounts(&self) -> Result<Partial, StoreError> {
        self.store.visit(b"account/", &mut |k, v| {
            let a: Account = decode(k, v)?;
            self.index.put_account(&a, None);
            Ok(())
        })?;
        Ok(Partial::default())
    }

    fn scan_profiles(&self) -> Result<Partial, StoreError> {
        let catalog = self.index.catalog();
        let sponsor_of = |imsi: &str| {
            catalog
                .sponsors
                .iter()
                .find(|s| s.owns_imsi(imsi))
                .map(|s| s.id.clone())
        };
        let mut part = Partial::default();
        self.store.visit(b"profile/", &mut |k, v| {
            let p: Profile = decode(k, v)?;
            self.index.put_profile(&p);
            if p.state == ProfileState::Available {
                let sponsors = p.imsis.iter().filter_map(|i| sponsor_of(i)).collect();
                part.available
                    .entry(p.pool)
                    .or_default()
                    .insert(p.iccid, sponsors);
            }
            Ok(())
        })?;
        Ok(part)
    }

    fn scan_imsis(&self) -> Result<Partial, StoreError> {
        let mut part = Partial::default();
        self.store.visit(b"imsi/", &mut |k, v| {
            let i: Imsi = decode(k, v)?;
            self.index.put_imsi(&i);
            if let ImsiState::InDynamicPool { pool } = i.state {
                *part.dynamic.entry((pool, i.sponsor)).or_default() += 1;
            }
            Ok(())
        })?;
        Ok(part)
    }
}
