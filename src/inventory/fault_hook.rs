//! A test hook, off by default: store writes that fail on demand in a real
//! `gyro serve`, for the fault harness (tests/it/faults). When the
//! environment variable `GYRO_TEST_STORE_FAULT_FILE` names a path, every
//! store commit made while a file exists at that path fails as a full disk
//! would, and nothing of it is applied; reads are never affected. A harness
//! creates and removes the file to fail a running node's writes without
//! restarting it. Without the variable the store is used as it is.

use std::path::PathBuf;
use std::sync::Arc;

use super::store::{RecordIter, Storage, StoreError, Visitor, WriteBatch};

/// The variable that turns the hook on, naming the trigger file.
pub const ENV: &str = "GYRO_TEST_STORE_FAULT_FILE";

/// `store`, or `store` behind the hook when `GYRO_TEST_STORE_FAULT_FILE` is
/// set.
pub(super) fn wrap<S: Storage>(store: S) -> Arc<dyn Storage> {
    match std::env::var_os(ENV) {
        Some(path) if !path.is_empty() => {
            let trigger = PathBuf::from(path);
            tracing::warn!(
                trigger = %trigger.display(),
                "{ENV} is set: store writes fail while the trigger file exists (a test hook)"
            );
            Arc::new(FaultHook {
                inner: store,
                trigger,
            })
        }
        _ => Arc::new(store),
    }
}

struct FaultHook<S> {
    inner: S,
    trigger: PathBuf,
}

impl<S> FaultHook<S> {
    /// Refuses a write, before anything of it is applied, while the trigger
    /// file exists.
    fn writable(&self) -> Result<(), StoreError> {
        if self.trigger.exists() {
            return Err(StoreError::Backend(format!(
                "injected fault: {} exists ({ENV})",
                self.trigger.display()
            )));
        }
        Ok(())
    }
}

impl<S: Storage> Storage for FaultHook<S> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_raw(key)
    }
    fn scan_raw(&self, prefix: &[u8]) -> RecordIter<'_> {
        self.inner.scan_raw(prefix)
    }
    fn visit(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<(), StoreError> {
        self.inner.visit(prefix, f)
    }
    fn visit_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        f: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.visit_from(prefix, start, f)
    }
    fn visit_rev(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<bool, StoreError> {
        self.inner.visit_rev(prefix, f)
    }
    fn commit(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        self.writable()?;
        self.inner.commit(batch)
    }
    fn apply(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        self.writable()?;
        self.inner.apply(batch)
    }
    fn next_id(&self) -> Result<u64, StoreError> {
        self.inner.next_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::store::{SledStore, StorageExt};

    #[test]
    fn writes_fail_while_the_trigger_exists_and_apply_nothing() {
        let trigger = std::env::temp_dir().join(format!("gyro-fault-{}", std::process::id()));
        let _ = std::fs::remove_file(&trigger);
        let store = FaultHook {
            inner: SledStore::temporary().unwrap(),
            trigger: trigger.clone(),
        };
        let put = |v: u64| {
            let mut b = WriteBatch::default();
            b.put("k", &v);
            b
        };
        store.commit(put(1)).unwrap();
        std::fs::write(&trigger, b"").unwrap();
        assert!(store.commit(put(2)).is_err());
        assert!(store.apply(put(3)).is_err());
        assert_eq!(store.get::<u64>("k").unwrap(), Some(1), "nothing applied");
        std::fs::remove_file(&trigger).unwrap();
        store.apply(put(4)).unwrap();
        assert_eq!(store.get::<u64>("k").unwrap(), Some(4));
    }
}
