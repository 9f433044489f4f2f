//! One record by its key, as the store has it: an IMSI, a profile, an
//! account. Writers read through these under the writers' lock; the
//! charging path reads the resolver's indexes instead.

use super::store::StorageExt;
use super::{Inventory, InventoryError};
use crate::model::{Account, Imsi, Profile};

impl Inventory {
    pub fn imsi(&self, imsi: &str) -> Result<Option<Imsi>, InventoryError> {
        Ok(self.store.get(&format!("imsi/{imsi}"))?)
    }

    pub fn profile(&self, iccid: &str) -> Result<Option<Profile>, InventoryError> {
        Ok(self.store.get(&format!("profile/{iccid}"))?)
    }

    pub fn account(&self, id: u64) -> Result<Option<Account>, InventoryError> {
        Ok(self.store.get(&format!("account/{id:020}"))?)
    }

    /// The account, or NotFound.
    pub(crate) fn account_record(&self, id: u64) -> Result<Account, InventoryError> {
        self.account(id)?.ok_or_else(|| InventoryError::NotFound {
            what: "account",
            id: id.to_string(),
        })
    }
}
