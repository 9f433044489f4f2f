//! The SIM/IMSI inventory: the durable truth (sled, behind the `Storage`
//! trait) about sponsors, IMSI batches, eSIM profiles, pools, products and
//! accounts, the operations that change it, and their audit trail.
//!
//! Writers serialise on one mutex and commit one atomic batch (with its
//! audit record) per operation; after each commit the resolver's indexes
//! are updated, so readers, which use those lock-free indexes, see the
//! change at once. The operations live by concept: the catalogue,
//! onboarding, stock, the lifecycle, swaps, orders, imports, the audit.

pub mod audit;
pub mod batches;
pub mod bundle;
mod catalogue;
mod checkpoint;
pub(crate) mod compact;
mod dynamic_pool;
mod error;
pub mod esim_swap;
pub mod export;
#[cfg(test)]
mod fixtures;
pub mod hold;
pub mod idempotency;
pub mod import;
pub mod lifecycle;
pub mod location_updates;
mod onboarding;
mod open;
pub mod order_ingest;
pub mod orders;
pub mod ota_swap;
pub mod outbox;
mod periods;
pub mod proxy_journal;
mod rebuild;
mod records;
pub mod seed;
pub mod stock;
pub mod store;
mod timers;
mod upgrade;
pub mod usage;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use checkpoint::StartedFrom;
pub(crate) use error::invalid;
pub use error::{ClosedRefusal, Conflict, InventoryError, LineError};
pub use open::{open, InventorySettings, OpenError};

use crate::model::clock::NodeClock;
use crate::model::UnixTime;
use crate::resolver::index::Index;
use stock::Stock;
use store::Storage;

pub struct Inventory {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) index: Arc<Index>,
    pub(crate) write: Mutex<Stock>,
    /// Count of committed changes to indexed records (see `checkpoint`).
    pub(crate) generation: AtomicU64,
    /// Feed entries of commits that failed: written again by the next one
    /// (see `checkpoint`).
    pub(crate) feed_carry: Mutex<Vec<(u64, Vec<String>)>>,
    /// The generation the checkpoint file reflects (`u64::MAX`: none does).
    pub(crate) checkpointed: AtomicU64,
    /// Where the index checkpoint lives, if the inventory keeps one.
    pub(crate) checkpoint: Option<std::path::PathBuf>,
    pub(crate) started_from: StartedFrom,
    /// Held from numbering events to committing them, so that outbox ids
    /// become visible in increasing order (see `outbox`).
    pub(crate) events_lock: Mutex<()>,
    /// Woken after every commit that added events.
    pub(crate) events_written: Arc<tokio::sync::Notify>,
    /// `inventory.stock_alert_below` (0: no `Stock/Low` events).
    pub(crate) stock_alert_below: AtomicU64,
    /// `lifecycle.grace_reminders`, in seconds before grace ends.
    pub(crate) grace_reminders: RwLock<Vec<i64>>,
    /// The node clock: every record's time comes from it.
    pub(crate) clock: Arc<NodeClock>,
}

impl Inventory {
    /// Opens the inventory over `store` and rebuilds the indexes from it.
    pub fn open(store: Arc<dyn Storage>) -> Result<Inventory, InventoryError> {
        Self::open_with_checkpoint(store, None)
    }

    /// Opens the inventory, starting from the index checkpoint at `path`
    /// when it is sound and rebuilding from the store when not. Writing a
    /// fresh checkpoint is left to the caller (`changed_since_checkpoint`),
    /// so that a node serves before it writes one.
    pub fn open_with_checkpoint(
        store: Arc<dyn Storage>,
        path: Option<std::path::PathBuf>,
    ) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory {
            store,
            index: Index::new(),
            write: Mutex::new(Stock::default()),
            generation: Default::default(),
            feed_carry: Mutex::new(Vec::new()),
            checkpointed: Default::default(),
            checkpoint: path,
            started_from: StartedFrom::Rebuild,
            events_lock: Mutex::new(()),
            events_written: Arc::new(tokio::sync::Notify::new()),
            stock_alert_below: AtomicU64::new(0),
            clock: Arc::new(NodeClock::system()),
            grace_reminders: RwLock::new(vec![]),
        };
        inv.start()?;
        Ok(inv)
    }

    pub fn started_from(&self) -> StartedFrom {
        self.started_from
    }

    pub fn index(&self) -> Arc<Index> {
        self.index.clone()
    }

    pub fn store(&self) -> &dyn Storage {
        &*self.store
    }

    /// Uses `clock` as the node clock from now on.
    pub fn set_clock(&mut self, clock: Arc<NodeClock>) {
        self.clock = clock;
    }

    pub fn clock(&self) -> Arc<NodeClock> {
        self.clock.clone()
    }

    /// The node's time.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Reminders during grace, this many seconds before it ends.
    pub fn set_grace_reminders(&self, before_end: Vec<i64>) {
        *self
            .grace_reminders
            .write()
            .unwrap_or_else(|p| p.into_inner()) = before_end;
    }

    pub(crate) fn grace_reminders(&self) -> Vec<i64> {
        self.grace_reminders
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The writers' lock, with the stock it guards.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Stock> {
        // A writer that panicked left no half-written state behind (commits
        // are atomic), so the guard is still good.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }
}
