//! The audit trail: every change commits an `AuditRecord` (who did what to
//! which subject, before and after) in its own batch, so that the trail
//! holds exactly the changes that happened. `history` keeps who held each
//! IMSI when, and answers the audit's questions about an IMSI.

pub mod history;

use serde::{Deserialize, Serialize};

use super::store::{Record, StorageExt, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::UnixTime;

const AUDIT: &str = "audit/";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: UnixTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Record for AuditRecord {}

impl Inventory {
    /// Puts the audit record of a change in the change's batch `b`.
    pub(crate) fn audit(
        &self,
        b: &mut WriteBatch,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), InventoryError> {
        let id = self.store.next_id()?;
        b.put(
            format!("{AUDIT}{id:020}"),
            &AuditRecord {
                at: self.now(),
                actor: actor.into(),
                action: action.into(),
                subject: subject.into(),
                before,
                after,
            },
        );
        Ok(())
    }

    /// Every audit record, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, InventoryError> {
        Ok(self.store.scan(AUDIT)?)
    }
}
