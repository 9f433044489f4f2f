//! The SIM/IMSI inventory: the durable truth (sled, behind the `Storage`
//! trait) about sponsors, IMSI batches, eSIM profiles, pools, products and
//! accounts, the operations that change it, and their audit trail. After each
//! commit the resolver's indexes are updated, so readers see changes at once.

pub mod batches;
pub mod bundle;
#[cfg(test)]
mod bundle_tests;
mod checkpoint;
pub(crate) mod compact;
mod dynamic_index;
#[cfg(test)]
mod dynamic_index_tests;
pub mod esim_swap;
pub mod export;
pub mod history;
pub mod hold;
pub mod import;
pub mod lifecycle;
#[cfg(test)]
mod lifecycle_tests;
pub mod location_updates;
mod open;
pub mod ops;
pub mod order_ingest;
pub mod orders;
pub mod ota_swap;
mod ota_swap_records;
#[cfg(test)]
mod ota_swap_tests;
pub mod outbox;
mod rebuild;
pub mod seed;
pub mod stock;
mod stock_alert;
pub mod store;
mod timers;
mod upgrade;
pub mod usage;

pub use checkpoint::StartedFrom;
pub use open::{open, InventorySettings, OpenError};
pub use ops::{Inventory, InventoryError};

/// A rejected input line: which line, which field, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: usize,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {} '{}': {}",
            self.line, self.field, self.value, self.reason
        )
    }
}
