//! A sled store whose commits fail while a flag is set: a full or broken
//! disk, injected under the charging and proxy paths. With `lying` set, a
//! commit is applied and durable and still reports an error: a store that
//! breaks the `Storage` contract, against which the inventory's own
//! bookkeeping (the change feed) must still hold.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gyro::inventory::store::{RecordIter, SledStore, Storage, StoreError, Visitor, WriteBatch};
use gyro::inventory::{seed, Inventory};

pub struct FailingStore {
    pub inner: SledStore,
    pub failing: Arc<AtomicBool>,
    pub lying: Arc<AtomicBool>,
}

impl FailingStore {
    /// An inventory on a throw-away failing store, seeded while `failing`
    /// is still clear.
    pub fn seeded(failing: Arc<AtomicBool>) -> Arc<Inventory> {
        let store = FailingStore {
            inner: SledStore::temporary().unwrap(),
            failing,
            lying: Arc::default(),
        };
        let inventory = Arc::new(Inventory::open(Arc::new(store)).unwrap());
        let s = seed::parse(seed::EMBEDDED, "seed").unwrap();
        inventory.apply_seed(&s, "seed").unwrap();
        inventory
    }
}

impl Storage for FailingStore {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_raw(key)
    }
    fn scan_raw(&self, prefix: &[u8]) -> RecordIter<'_> {
        self.inner.scan_raw(prefix)
    }
    fn visit(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<(), StoreError> {
        self.inner.visit(prefix, f)
    }
    fn commit(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "injected: no space left on device".into(),
            ));
        }
        let seq = self.inner.commit(batch)?;
        if self.lying.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "injected: flush failed (but it did not)".into(),
            ));
        }
        Ok(seq)
    }
    fn next_id(&self) -> Result<u64, StoreError> {
        self.inner.next_id()
    }
}
