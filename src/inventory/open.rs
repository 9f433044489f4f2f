//! Opening a node's inventory: the sled store under the data folder, the
//! index (from its checkpoint when that is current), the node clock, grace
//! reminders, the stock alert, and the seed an empty store gets. `gyro serve`
//! and the CLI on a data folder both start here.

use std::path::PathBuf;
use std::sync::Arc;

use super::seed;
use super::store::{SledStore, StoreError};
use super::{Inventory, InventoryError};
use crate::model::clock::NodeClock;

/// What opening an inventory needs to know of the node.
#[derive(Debug, Clone)]
pub struct InventorySettings {
    /// The node's data folder: the store lives in `inventory/` below it, the
    /// index checkpoint beside that.
    pub data_dir: PathBuf,
    /// A clock the API may move forward (tests only).
    pub test_clock: bool,
    /// `Bundle/Grace` reminders, seconds before grace ends.
    pub grace_reminders: Vec<i64>,
    /// Stock lines below this many available profiles are flagged.
    pub stock_alert_below: u64,
    /// Seed scenario for an empty inventory: None, the embedded
    /// config/seed.toml; an empty path, no seed.
    pub seed: Option<PathBuf>,
}

/// Why the inventory could not be opened; the texts name the setting.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("node.data_dir: cannot create {}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "node.data_dir: cannot open the inventory in {}: {error} (is another gyro using it? then use --api)",
        .dir.display()
    )]
    Store { dir: PathBuf, error: StoreError },
    #[error("inventory.seed: cannot read {}", .path.display())]
    ReadSeed {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// Opens the inventory under `s.data_dir` and seeds it when empty.
pub fn open(s: &InventorySettings) -> Result<Arc<Inventory>, OpenError> {
    let dir = s.data_dir.join("inventory");
    std::fs::create_dir_all(&dir).map_err(|source| OpenError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let store = SledStore::open(&dir).map_err(|error| OpenError::Store {
        dir: dir.clone(),
        error,
    })?;
    let store = super::fault_hook::wrap(store);
    let started = std::time::Instant::now();
    // Beside the store, not in it: a derived cache that may be deleted.
    let checkpoint = s.data_dir.join("index.checkpoint");
    let mut inv = Inventory::open_with_checkpoint(store, Some(checkpoint))?;
    if s.test_clock {
        tracing::warn!(
            "node.test_clock = true: POST /api/v1/clock may move the node clock forward"
        );
        inv.set_clock(Arc::new(NodeClock::test()));
        inv.resume_test_clock()?;
    }
    inv.set_grace_reminders(s.grace_reminders.clone());
    let inv = Arc::new(inv);
    inv.set_stock_alert_below(s.stock_alert_below);
    let (imsis, profiles, accounts) = inv.index().counts();
    tracing::info!(
        imsis,
        profiles,
        accounts,
        ms = started.elapsed().as_millis() as u64,
        "inventory indexes ready"
    );
    let (text, name) = match &s.seed {
        Some(p) if p.as_os_str().is_empty() => return Ok(inv),
        Some(p) => (
            std::fs::read_to_string(p).map_err(|source| OpenError::ReadSeed {
                path: p.clone(),
                source,
            })?,
            p.display().to_string(),
        ),
        None => (
            seed::EMBEDDED.to_string(),
            "embedded config/seed.toml".to_string(),
        ),
    };
    if !inv.is_seeded()? && accounts == 0 && profiles == 0 {
        let seed = seed::parse(&text, &name)?;
        inv.apply_seed(&seed, &name)?;
        let (imsis, profiles, accounts) = inv.index().counts();
        tracing::info!(seed = %name, imsis, profiles, accounts, "empty inventory seeded");
    }
    Ok(inv)
}
