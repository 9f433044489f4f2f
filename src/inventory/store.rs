//! The narrow storage trait the inventory is written against, and its sled
//! implementation. Records are typed values under prefixed keys; every write
//! is one atomic batch with a sequence number, so a crash leaves either all of
//! an operation or none of it, and other back-ends (PostgreSQL) can follow the
//! same contract with an ordered change feed. What an error from a write
//! means is part of the contract: see `Storage`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Leading octet of every stored value: its encoding. Catalogue, audit and
/// other low-volume records are JSON, readable with any sled tool; the
/// records kept by the million (IMSIs, profiles, accounts) are written
/// compact, which a rebuild reads several times faster. Both stay readable.
pub const JSON: u8 = 1;
pub const COMPACT: u8 = 2;
const SEQ_KEY: &[u8] = b"meta/seq";

mod faults;
mod sled_store;

pub use faults::{Fault, StoreFaults, FAULT_FILE_ENV};
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("record {key}: {message}")]
    Corrupt { key: String, message: String },
    /// Returned by a visitor to end a visit early; the visit then succeeds.
    #[error("visit stopped")]
    Stop,
    /// A write failed and the store could not yet take it back: every
    /// operation fails until it can (see `Storage`).
    #[error("storage unavailable until a failed write is taken back: {0}")]
    Poisoned(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Writes that commit together or not at all.
#[derive(Default)]
pub struct WriteBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A value the store holds, and how it is encoded there: JSON unless the
/// type says otherwise.
pub trait Record: Serialize + DeserializeOwned {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(JSON);
        // Serialising plain data structs to JSON cannot fail.
        serde_json::to_writer(out, self).expect("inventory records serialise");
    }
    fn decode(key: &[u8], v: &[u8]) -> Result<Self, StoreError> {
        match v.split_first() {
            Some((&JSON, rest)) => decode_json(key, rest),
            Some((other, _)) => Err(corrupt(key, format!("unknown format version {other}"))),
            None => Err(corrupt(key, "empty value".into())),
        }
    }
}

pub fn decode_json<T: DeserializeOwned>(key: &[u8], json: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(json).map_err(|e| corrupt(key, e.to_string()))
}

pub fn corrupt(key: &[u8], message: String) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message,
    }
}

// Catalogue records are few: stored as JSON, readable with any sled tool.
impl Record for crate::model::Sponsor {}
impl Record for crate::model::ImsiBatch {}
impl Record for crate::model::EsimPool {}
impl Record for crate::model::DynamicImsiPool {}
impl Record for crate::model::Product {}
impl Record for crate::model::HoldPolicy {}
impl Record for crate::model::Used {}
impl Record for crate::model::order::Order {}
impl Record for crate::model::order::Perso {}
impl Record for crate::model::ota::ImsiSwap {}
impl Record for u64 {}
impl Record for i64 {}
impl Record for (u64, u32) {}
impl Record for String {}
impl Record for serde_json::Value {}
impl Record for Vec<String> {}

impl WriteBatch {
    pub fn put<T: Record>(&mut self, key: impl Into<Vec<u8>>, value: &T) {
        let mut v = Vec::with_capacity(64);
        value.encode(&mut v);
        self.ops.push((key.into(), Some(v)));
    }
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.ops.iter().map(|(k, _)| k.as_slice())
    }
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub fn decode<T: Record>(key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    T::decode(key, v)
}

/// Records in key order, as (key, value) pairs.
pub type RecordIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// Hands `records` to `f` until they run out, `f` fails, or `f` stops.
fn feed<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    records: impl Iterator<Item = Result<(K, V), StoreError>>,
    f: &mut Visitor<'_>,
) -> Result<(), StoreError> {
    for r in records {
        let (k, v) = r?;
        match f(k.as_ref(), v.as_ref()) {
            Err(StoreError::Stop) => break,
            other => other?,
        }
    }
    Ok(())
}

/// What the inventory needs from a store.
///
/// The contract of a write (`commit`, `apply`):
/// - `Ok` means the whole batch is applied: `commit` has also made it
///   durable, in order with every earlier batch; `apply` makes it durable
///   with the next successful `commit` or flush.
/// - `Err` means **not applied**: no later read sees any of the batch, and
///   no restart brings it back. A store that cannot tell (sled applies a
///   batch in memory, then its flush fails) must take the batch back (put
///   back what each of its keys held) before it returns, or, when even that
///   fails, refuse every operation (`StoreError::Poisoned`) until it has.
///   The one case left open: the process dies while the store is poisoned;
///   the next start may then find the batch, as if the process had died
///   just after a successful commit whose caller never answered.
/// - Batches given to `apply` since the last successful flush may be lost
///   when a failed flush forces the store to reopen; their writers keep a
///   log of their own (charging's xDRs) and replay it at start.
///
/// Callers rely on it: state derived from a batch (indexes, caches, the
/// change feed's generation, answers) is updated only after `Ok`, and a
/// caller that answered an error may retry the whole operation.
pub trait Storage: Send + Sync + 'static {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every (key, value) whose key starts with `prefix`, in key order.
    fn scan_raw(&self, prefix: &[u8]) -> RecordIter<'_>;
    /// Calls `f` on every (key, value) under `prefix`, in key order, with the
    /// store's own bytes where it can lend them (the rebuild reads millions of
    /// records once); stops at the first error.
    fn visit(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<(), StoreError> {
        feed(self.scan_raw(prefix), f)
    }
    /// Like `visit`, from the first key at or after `start` (which is under
    /// `prefix`).
    fn visit_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.visit(prefix, &mut |k, v| if k < start { Ok(()) } else { f(k, v) })
    }
    /// Like `visit`, from the last key under `prefix` backwards; `false` if
    /// the store cannot (then nothing was visited).
    fn visit_rev(&self, _prefix: &[u8], _f: &mut Visitor<'_>) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Applies the batch atomically and durably; returns its sequence number.
    fn commit(&self, batch: WriteBatch) -> Result<u64, StoreError>;
    /// Applies the batch atomically; it becomes durable with the store's
    /// next flush, in order with earlier batches. For writers that keep
    /// their own durable log (charging's xDRs) and can replay it.
    fn apply(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        self.commit(batch)
    }
    /// A fresh id, unique for this store.
    fn next_id(&self) -> Result<u64, StoreError>;
}

pub trait StorageExt: Storage {
    fn get<T: Record>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get_raw(key.as_bytes())? {
            Some(v) => decode(key.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }
    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.get_raw(key.as_bytes())?.is_some())
    }
    fn scan<T: Record>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.scan_raw(prefix.as_bytes())
            .map(|r| r.and_then(|(k, v)| decode(&k, &v)))
            .collect()
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}
