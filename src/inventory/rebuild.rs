//! Start-up rebuild of the resolver's indexes and the writers' stock from the
//! store. Accounts, profiles and IMSIs are scanned on parallel threads (the
//! index's puts do not depend on order), each record visited in place
//! without copying it out of the store; the stock is then derived from the
//! index.

use super::model::*;
use super::ops::{Inventory, InventoryError, Stock};
use super::store::{decode, StoreError};

type Scan = fn(&Inventory) -> Result<(), StoreError>;

impl Inventory {
    /// Rebuilds every index and the stock counters from the store.
    pub fn rebuild(&self) -> Result<(), InventoryError> {
        let mut stock = self.lock();
        self.refresh_catalog()?;
        let scans: [Scan; 3] = [Self::scan_accounts, Self::scan_profiles, Self::scan_imsis];
        std::thread::scope(|s| {
            let handles: Vec<_> = scans.iter().map(|f| s.spawn(|| f(self))).collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        let (available, dynamic) = self.index.stock();
        *stock = Stock { available, dynamic };
        Ok(())
    }

    fn scan_accounts(&self) -> Result<(), StoreError> {
        self.store.visit(b"account/", &mut |k, v| {
            self.index.put_account(&decode::<Account>(k, v)?, None);
            Ok(())
        })
    }

    fn scan_profiles(&self) -> Result<(), StoreError> {
        self.store.visit(b"profile/", &mut |k, v| {
            self.index.put_profile(&decode::<Profile>(k, v)?);
            Ok(())
        })
    }

    fn scan_imsis(&self) -> Result<(), StoreError> {
        self.store.visit(b"imsi/", &mut |k, v| {
            self.index.put_imsi(&decode::<Imsi>(k, v)?);
            Ok(())
        })
    }
}
