//! Fast start-up: the index checkpoint and the store's change feed.
//!
//! Rebuilding 10 M profiles means reading 40 M records out of sled, which
//! takes minutes. So every inventory commit that touches an indexed record
//! (IMSI, profile, account) also bumps the inventory generation and writes a
//! feed entry naming the keys it changed, in the same atomic batch. A
//! checkpoint is the index written out (`resolver::snapshot`) at some
//! generation G; a start loads it and replays the feed after G, which is
//! exact however the previous run ended, kill -9 included. Anything doubtful
//! (no file, damage, a feed gap, a store older than the file) falls back to
//! the full rebuild: the store is the truth, the checkpoint only a cache.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::atomic::Ordering::SeqCst;

use super::stock::Stock;
use super::store::{decode, StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::{Account, Imsi, Profile};
use crate::resolver::index::{digits_u64, ImsiStatus, Place};
use crate::resolver::Index;

const GENERATION_KEY: &str = "meta/inventory-generation";
const FEED: &str = "feed/";
const INDEXED: [&str; 3] = ["imsi/", "profile/", "account/"];
/// Marks a feed key of a failed commit: its record may never have been
/// written, and then there is nothing to replay.
const MAYBE: &str = "?";
/// `checkpointed` when no checkpoint file holds the index in memory.
const NO_CHECKPOINT: u64 = u64::MAX;

fn feed_key(generation: u64) -> String {
    format!("{FEED}{generation:020}")
}

fn feed_generation(key: &[u8]) -> u64 {
    std::str::from_utf8(&key[FEED.len()..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// How the index was built at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedFrom {
    /// From the store, record by record.
    Rebuild,
    /// From the checkpoint, plus this many feed entries replayed.
    Checkpoint { replayed: u64 },
}

/// Why a checkpoint was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Snapshot(#[from] crate::resolver::snapshot::SnapshotError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Stale(String),
}

impl Inventory {
    /// Commits an inventory batch, with its feed entry when it changes
    /// indexed records. Callers hold the writer lock.
    ///
    /// Each feed entry spends a generation whether or not its commit
    /// succeeds, so that no two commits ever write the same feed key. A
    /// failed commit applied nothing (the `Storage` contract), but its keys
    /// are written again under its generation by the next commit, marked
    /// as maybe written: the feed then has no gap, and replaying them
    /// re-reads whatever the store holds (nothing when it holds nothing),
    /// which is right even for a store that broke the contract.
    pub(crate) fn commit(&self, mut b: WriteBatch) -> Result<u64, InventoryError> {
        let keys: Vec<String> = b
            .keys()
            .filter(|k| INDEXED.iter().any(|p| k.starts_with(p.as_bytes())))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        if keys.is_empty() {
            return Ok(self.store.commit(b)?);
        }
        let mut carry = self.feed_carry.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.generation.fetch_add(1, SeqCst) + 1;
        for (g, k) in carry.iter() {
            b.put(feed_key(*g), k);
        }
        b.put(GENERATION_KEY, &next);
        b.put(feed_key(next), &keys);
        match self.store.commit(b) {
            Ok(seq) => {
                carry.clear();
                Ok(seq)
            }
            Err(e) => {
                let maybe = keys.iter().map(|k| format!("{MAYBE}{k}")).collect();
                carry.push((next, maybe));
                Err(e.into())
            }
        }
    }

    /// Writes the feed entries of failed commits, so that the store's
    /// generation is the index's again. Callers hold the writer lock.
    fn settle_carry(&self) -> Result<(), InventoryError> {
        let mut carry = self.feed_carry.lock().unwrap_or_else(|p| p.into_inner());
        if carry.is_empty() {
            return Ok(());
        }
        let mut b = WriteBatch::default();
        for (g, k) in carry.iter() {
            b.put(feed_key(*g), k);
        }
        b.put(GENERATION_KEY, &self.generation.load(SeqCst));
        self.store.commit(b)?;
        carry.clear();
        Ok(())
    }

    /// Opening: the checkpoint plus the feed when they are sound, the full
    /// rebuild otherwise. A start that rebuilt or replayed leaves a fresh
    /// checkpoint due.
    pub(crate) fn start(&mut self) -> Result<(), InventoryError> {
        self.upgrade_store()?;
        let generation: u64 = self.store.get(GENERATION_KEY)?.unwrap_or(0);
        self.generation.store(generation, SeqCst);
        // Its deletions go through the feed, so after the generation.
        self.finish_interrupted_imports()?;
        let generation = self.generation.load(SeqCst);
        self.checkpointed.store(generation, SeqCst);
        let Some(path) = self.checkpoint.clone() else {
            return self.rebuild();
        };
        self.refresh_catalog()?;
        let fresh = match self.load_checkpoint(&path, generation) {
            Ok(replayed) => {
                tracing::info!(path = %path.display(), generation, replayed, "index loaded from checkpoint");
                self.started_from = StartedFrom::Checkpoint { replayed };
                replayed == 0
            }
            Err(why) => {
                if path.exists() {
                    tracing::warn!(path = %path.display(), %why, "index checkpoint not used; rebuilding from the store");
                }
                self.index = Index::new();
                self.rebuild()?;
                false
            }
        };
        if !fresh {
            // No file holds this index yet: the node writes one once it is
            // serving (see `changed_since_checkpoint`), not before.
            self.checkpointed.store(NO_CHECKPOINT, SeqCst);
        }
        Ok(())
    }

    /// Loads the checkpoint and replays the feed up to `generation`; the
    /// number of feed entries replayed.
    fn load_checkpoint(&self, path: &Path, generation: u64) -> Result<u64, Unusable> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let at = self
            .index
            .read_snapshot(BufReader::with_capacity(1 << 20, file), len)?;
        if at > generation {
            return Err(Unusable::Stale(format!(
                "checkpoint at generation {at} is newer than the store ({generation})"
            )));
        }
        let mut expected = at + 1;
        let mut failed = None;
        self.store.visit(FEED.as_bytes(), &mut |k, v| {
            let g = feed_generation(k);
            if g < expected || failed.is_some() {
                return Ok(());
            }
            if g != expected {
                failed = Some(format!("change feed jumps from {expected} to {g}"));
                return Ok(());
            }
            expected += 1;
            for key in decode::<Vec<String>>(k, v)? {
                if let Err(e) = self.replay(&key) {
                    failed = Some(e);
                    return Ok(());
                }
            }
            Ok(())
        })?;
        if let Some(why) = failed {
            return Err(Unusable::Stale(why));
        }
        if expected != generation + 1 {
            return Err(Unusable::Stale(format!(
                "change feed ends at {} short of generation {generation}",
                expected - 1
            )));
        }
        let (available, dynamic) = self.index.stock();
        *self.lock() = Stock::new(available, dynamic);
        Ok(generation - at)
    }

    /// Re-reads one changed record into the index.
    fn replay(&self, key: &str) -> Result<(), String> {
        let (key, maybe) = match key.strip_prefix(MAYBE) {
            Some(k) => (k, true),
            None => (key, false),
        };
        let raw = self
            .store
            .get_raw(key.as_bytes())
            .map_err(|e| e.to_string())?;
        if raw.is_none() && maybe {
            return Ok(());
        }
        // Only IMSIs are ever deleted (with their batch), and the live index,
        // which cannot drop an entry, kept them as end of life: so does the
        // replay. Any other record that is gone means a rebuild.
        let Some(v) = raw else {
            let imsi = key.strip_prefix("imsi/").and_then(digits_u64);
            let gone = imsi.ok_or_else(|| format!("{key} is gone"))?;
            self.index
                .put_imsi_fields(gone, None, ImsiStatus::EndOfLife, Place::Nowhere);
            return Ok(());
        };
        let k = key.as_bytes();
        let bad = |e: StoreError| e.to_string();
        if key.starts_with("imsi/") {
            self.index.put_imsi(&decode::<Imsi>(k, &v).map_err(bad)?);
        } else if key.starts_with("profile/") {
            self.index
                .put_profile(&decode::<Profile>(k, &v).map_err(bad)?);
        } else if key.starts_with("account/") {
            self.index
                .put_account(&decode::<Account>(k, &v).map_err(bad)?, None);
        }
        Ok(())
    }

    /// Whether the index holds anything the checkpoint file does not:
    /// changes committed since it was written, or a start that had to
    /// rebuild or replay.
    pub fn changed_since_checkpoint(&self) -> bool {
        self.generation.load(SeqCst) != self.checkpointed.load(SeqCst)
    }

    /// Writes the index at the current generation, atomically replacing the
    /// previous checkpoint, and drops the feed entries it covers. Holds the
    /// writer lock meanwhile, so the file matches exactly one generation.
    pub fn write_checkpoint(&self) -> Result<(), InventoryError> {
        let Some(path) = &self.checkpoint else {
            return Ok(());
        };
        let _writers = self.lock();
        // A checkpoint newer than the store's generation would never load.
        self.settle_carry()?;
        let generation = self.generation.load(SeqCst);
        let io = |e: std::io::Error| {
            InventoryError::Store(StoreError::Backend(format!("{}: {e}", path.display())))
        };
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        self.index.write_snapshot(generation, &mut w).map_err(io)?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        // Only now may the feed the checkpoint covers go.
        let mut covered = Vec::new();
        self.store.visit(FEED.as_bytes(), &mut |k, _| {
            if feed_generation(k) <= generation {
                covered.push(k.to_vec());
            }
            Ok(())
        })?;
        for chunk in covered.chunks(1000) {
            let mut b = WriteBatch::default();
            for k in chunk {
                b.delete(k.clone());
            }
            self.store.commit(b)?;
        }
        self.checkpointed.store(generation, SeqCst);
        Ok(())
    }
}
