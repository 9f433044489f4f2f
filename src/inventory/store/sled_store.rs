//! The `Storage` contract on sled 0.34. sled applies a batch in memory and
//! makes it durable at the flush; when the flush fails, the batch is live
//! but the caller must hear "not applied". So every write first reads what
//! its keys held, and a write that fails after applying puts those values
//! back: in place when sled still works, else on a fresh handle (sled keeps
//! an I/O error for good, so the store is reopened from what is on disk).
//! Until that succeeds the store is poisoned: every read and write first
//! retries the recovery and fails while it cannot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::faults::StoreFaults;
use super::{feed, RecordIter, Storage, StoreError, Visitor, WriteBatch, SEQ_KEY};

/// One open sled database and the inventory's tree in it.
struct Handle {
    db: sled::Db,
    tree: sled::Tree,
}

/// Keys and what each held before a write.
type BeforeImages = Vec<(Vec<u8>, Option<sled::IVec>)>;

/// A failed write's keys and what each held before it; putting them back
/// takes the write back.
struct Undo {
    before: BeforeImages,
    cause: String,
}

/// What the writers' lock guards.
#[derive(Default)]
struct Writer {
    /// The failed write not yet taken back: the store is poisoned meanwhile.
    undo: Option<Undo>,
    /// No recovery is tried before this (a reopen reads the whole log).
    retry_at: Option<Instant>,
}

/// The least time between two tries to take a failed write back.
const RETRY: Duration = Duration::from_millis(200);

pub struct SledStore {
    live: ArcSwapOption<Handle>,
    config: sled::Config,
    /// A directory this store made and removes when dropped.
    scratch: Option<PathBuf>,
    /// Serialises writes and recovery; holds the failed write not yet taken
    /// back (the store is poisoned while it does).
    writer: Mutex<Writer>,
    poisoned: AtomicBool,
    faults: Arc<StoreFaults>,
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        Self::open_with_cache(dir, 1 << 30)
    }

    /// `cache` octets of sled's page cache (its resident size is a multiple
    /// of this).
    pub fn open_with_cache(dir: &Path, cache: u64) -> Result<SledStore, StoreError> {
        Self::open_config(sled::Config::new().path(dir).cache_capacity(cache), None)
    }

    /// A throw-away store (tests, benches) in a directory of its own, in
    /// memory when `/dev/shm` exists, removed when the store is dropped. Not
    /// sled's temporary mode: that one deletes its files when a handle
    /// closes, and a store that recovers from a failed flush reopens them.
    pub fn temporary() -> Result<SledStore, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt: u32 = rand::random();
        let dir = base.join(format!("gyro-store-{}-{n}-{salt:08x}", std::process::id()));
        let config = sled::Config::new().path(&dir);
        Self::open_config(config, Some(dir))
    }

    fn open_config(
        config: sled::Config,
        scratch: Option<PathBuf>,
    ) -> Result<SledStore, StoreError> {
        let handle = Handle::open(&config)?;
        Ok(SledStore {
            live: ArcSwapOption::from_pointee(handle),
            config,
            scratch,
            writer: Mutex::new(Writer::default()),
            poisoned: AtomicBool::new(false),
            faults: Arc::new(StoreFaults::default()),
        })
    }

    /// Injects faults from `faults` from now on (a test hook).
    pub fn with_faults(mut self, faults: Arc<StoreFaults>) -> SledStore {
        self.faults = faults;
        self
    }

    /// The store's injected faults (a test hook).
    pub fn faults(&self) -> Arc<StoreFaults> {
        self.faults.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // A panic under the lock leaves at worst an undo still to run.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live handle for a read: after a failed write, only once it is
    /// taken back.
    fn handle(&self) -> Result<Arc<Handle>, StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            let mut pending = self.lock();
            self.recover(&mut pending)?;
        }
        self.live
            .load_full()
            .ok_or_else(|| StoreError::Poisoned("the store is closed".into()))
    }

    /// Applies `batch`, flushing it when `durable`; an error means not
    /// applied (see `Storage`).
    fn write(&self, batch: WriteBatch, durable: bool) -> Result<u64, StoreError> {
        let mut pending = self.lock();
        self.recover(&mut pending)?;
        self.faults.before_apply()?;
        let h = self
            .live
            .load_full()
            .ok_or_else(|| StoreError::Poisoned("the store is closed".into()))?;
        let undo = before_images(&h.tree, &batch)?;
        let seq = h.db.generate_id()?;
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        b.insert(SEQ_KEY, &seq.to_be_bytes());
        // One sled batch is atomic: after a crash it is all there or not at
        // all, and sled makes batches durable in the order they were applied.
        let applied = h
            .tree
            .apply_batch(b)
            .map_err(StoreError::from)
            .and_then(|()| {
                if durable {
                    self.faults.at_flush()?;
                    h.tree.flush()?;
                }
                Ok(())
            });
        drop(h);
        let Err(e) = applied else {
            return Ok(seq);
        };
        tracing::error!(error = %e, "store write failed; taking it back");
        pending.undo = Some(Undo {
            before: undo,
            cause: e.to_string(),
        });
        pending.retry_at = None;
        self.poisoned.store(true, Ordering::Release);
        if let Err(still) = self.recover(&mut pending) {
            tracing::error!(error = %still, "failed store write not yet taken back; the store refuses every operation until it is");
        }
        Err(e)
    }

    /// Takes back the failed write, if any: in place, else on a reopened
    /// handle. Leaves the store poisoned when neither works.
    fn recover(&self, pending: &mut Writer) -> Result<(), StoreError> {
        let Some(undo) = pending.undo.as_ref() else {
            return Ok(());
        };
        if pending.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(StoreError::Poisoned(undo.cause.clone()));
        }
        pending.retry_at = Some(Instant::now() + RETRY);
        let in_place = self
            .live
            .load_full()
            .ok_or_else(|| StoreError::Poisoned("closed".into()))
            .and_then(|h| self.put_back(&h, undo));
        if let Err(first) = in_place {
            tracing::warn!(error = %first, "cannot take the failed write back in place; reopening the store");
            // Every handle to the old database must go before sled's lock
            // comes free; readers let theirs go within moments.
            self.live.store(None);
            let h = Handle::open(&self.config)
                .and_then(|h| self.put_back(&h, undo).map(|()| h))
                .map_err(|e| StoreError::Poisoned(format!("{}; then: {e}", undo.cause)))?;
            self.live.store(Some(Arc::new(h)));
            tracing::warn!("store reopened");
        }
        tracing::info!(cause = %undo.cause, "failed store write taken back");
        *pending = Writer::default();
        self.poisoned.store(false, Ordering::Release);
        Ok(())
    }

    /// Writes back what the failed batch's keys held, durably.
    fn put_back(&self, h: &Handle, undo: &Undo) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in &undo.before {
            match v {
                Some(v) => b.insert(k.as_slice(), v.clone()),
                None => b.remove(k.as_slice()),
            }
        }
        h.tree.apply_batch(b)?;
        self.faults.at_flush()?;
        h.tree.flush()?;
        Ok(())
    }
}

impl Handle {
    fn open(config: &sled::Config) -> Result<Handle, StoreError> {
        let db = open_when_unlocked(config)?;
        let tree = db.open_tree("inventory")?;
        Ok(Handle { db, tree })
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.live.store(None);
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What each key of `batch` (and the sequence key) holds now.
fn before_images(tree: &sled::Tree, batch: &WriteBatch) -> Result<BeforeImages, StoreError> {
    let mut keys: Vec<&[u8]> = batch.keys().chain([SEQ_KEY]).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| Ok((k.to_vec(), tree.get(k)?)))
        .collect()
}

/// How long `open` waits for the store's lock to come free.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the store, waiting up to `LOCK_WAIT` while its lock is held:
/// sled's background threads release the lock a moment after the last
/// handle is dropped (a store reopened in the same process, or a restart
/// right after the previous process exited). Still held after that, the
/// error says so: another live process has the store.
fn open_when_unlocked(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

impl Storage for SledStore {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.handle()?.tree.get(key)?.map(|v| v.to_vec()))
    }
    fn scan_raw(&self, prefix: &[u8]) -> RecordIter<'_> {
        match self.handle() {
            Ok(h) => Box::new(h.tree.scan_prefix(prefix).map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(StoreError::from)
            })),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }
    fn visit(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<(), StoreError> {
        let h = self.handle()?;
        let records = h.tree.scan_prefix(prefix);
        drop(h);
        feed(records.map(|r| r.map_err(Into::into)), f)
    }
    fn visit_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let h = self.handle()?;
        let records = h.tree.range(start..).take_while(|r| match r {
            Ok((k, _)) => k.starts_with(prefix),
            Err(_) => true,
        });
        feed(records.map(|r| r.map_err(Into::into)), f)
    }
    fn visit_rev(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<bool, StoreError> {
        let h = self.handle()?;
        let records = h.tree.scan_prefix(prefix).rev();
        feed(records.map(|r| r.map_err(Into::into)), f).map(|()| true)
    }
    fn commit(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        self.write(batch, true)
    }
    fn apply(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        self.write(batch, false)
    }
    fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.handle()?.db.generate_id()?)
    }
}
