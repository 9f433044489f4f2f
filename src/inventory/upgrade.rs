//! Indexes that a store written by an earlier release lacks, built once at
//! open, before anything reads them: the dynamic pool index and the swaps
//! by profile. Each build writes a marker with its last batch; a build cut
//! short has no marker and starts again from a clean slate, so an operator
//! upgrading only restarts the node.

use super::store::{StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};

/// Entries per batch while building an index.
const CHUNK: usize = 10_000;

/// The index entry a stored record calls for, if any.
type EntryOf = fn(&[u8], &[u8]) -> Result<Option<String>, StoreError>;

/// One index derived from one kind of record.
struct Derived {
    /// The index's keys.
    index: &'static str,
    /// Set once the index is complete.
    marker: &'static str,
    /// The records it is derived from.
    source: &'static str,
    entry: EntryOf,
}

const DERIVED: [Derived; 2] = [
    Derived {
        index: super::dynamic_pool::DYNAMIC,
        marker: super::dynamic_pool::BUILT_KEY,
        source: "imsi/",
        entry: super::dynamic_pool::entry_of_record,
    },
    Derived {
        index: super::ota_swap::SWAP_BY,
        marker: super::ota_swap::BUILT_KEY,
        source: super::ota_swap::SWAP,
        entry: super::ota_swap::entry_of_record,
    },
];

impl Inventory {
    /// Builds every index the store lacks.
    pub(crate) fn upgrade_store(&self) -> Result<(), InventoryError> {
        DERIVED.iter().try_for_each(|d| self.build_once(d))
    }

    fn build_once(&self, d: &Derived) -> Result<(), InventoryError> {
        if self.store.exists(d.marker)? {
            return Ok(());
        }
        // Entries of a build cut short: nothing kept them up to date since.
        let mut b = WriteBatch::default();
        self.store.visit(d.index.as_bytes(), &mut |k, _| {
            b.delete(k.to_vec());
            self.apply_full(&mut b)
        })?;
        let mut entries = 0u64;
        self.store.visit(d.source.as_bytes(), &mut |k, v| {
            if let Some(key) = (d.entry)(k, v)? {
                b.put(key, &String::new());
                entries += 1;
            }
            self.apply_full(&mut b)
        })?;
        b.put(d.marker, &entries);
        // Flushes the chunks applied before it too, in order.
        self.store.commit(b)?;
        tracing::info!(
            index = d.index,
            entries,
            "index built for a store written before it"
        );
        Ok(())
    }

    /// Applies `b` once it holds a chunk of writes, leaving it empty.
    fn apply_full(&self, b: &mut WriteBatch) -> Result<(), StoreError> {
        if b.len() >= CHUNK {
            self.store.apply(std::mem::take(b))?;
        }
        Ok(())
    }
}
