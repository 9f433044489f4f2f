//! One shard of a table that readers probe without ever locking or waiting.
//!
//! Readers load the shard's live table through `arc_swap` (a hazard slot of
//! their own thread, no shared counter) and probe its atomic slots. Writers
//! serialise on a mutex that readers never touch and change the live table
//! in place through those atomics, publishing each entry with a release
//! store. When the table must grow (or shed tombstones), the writer builds
//! the new one beside it, still holding the mutex so that no write can slip
//! in between the copy and the swap, and publishes it. A reader that loaded
//! the old table keeps probing it: after the swap nobody writes to it, and
//! it still holds everything written before the swap.
//!
//! Why the writer, not the last reader, frees a replaced table: dropping it
//! unmaps tens of megabytes (a syscall and a TLB shoot-down), which does not
//! belong on the charging path. The writer keeps what it replaced until no
//! reader holds it any more and drops it on a later write.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, Guard};
use crossbeam_utils::CachePadded;

/// Both tables have 2^SHARD_BITS shards, picked by the hash's top bits.
pub(crate) const SHARD_BITS: u32 = 4;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// The smallest table: a power of two, so that every table has at least one
/// empty slot at the load factor below and a probe always ends.
pub(crate) const MIN_CAP: usize = 16;

/// Which shard a hash falls in.
pub(crate) fn shard_of(h: u64) -> usize {
    (h >> (64 - SHARD_BITS)) as usize
}

/// Where a probe starts in a table of `cap` slots (a power of two, at least
/// `MIN_CAP`): the hash bits right under the shard selector, so that the
/// keys of one shard spread over all of its slots.
pub(crate) fn start(h: u64, cap: usize) -> usize {
    ((h << SHARD_BITS) >> (64 - cap.trailing_zeros())) as usize
}

/// Slots for `n` entries at a load of at most 7/8: linear probing stays
/// short below that.
pub(crate) fn capacity_for(n: usize) -> usize {
    (n * 8).div_ceil(7).next_power_of_two().max(MIN_CAP)
}

/// A shard holding a table `T`; `S` is what its writers count besides the
/// entries (kept under the mutex).
pub(crate) struct Shard<T, S = ()> {
    /// What readers load. Written only when a writer publishes a
    /// replacement, so readers of a settled shard share this line unchanged.
    live: CachePadded<ArcSwap<Table<T>>>,
    /// Writers only, on a line of its own: their locking and counting must
    /// not evict the line that readers load.
    writer: CachePadded<WriterSide<T, S>>,
}

struct WriterSide<T, S> {
    lock: Mutex<Held<T, S>>,
    /// Live entries; changed by writers under the lock, read by anyone.
    len: AtomicUsize,
}

/// A table on cache lines of its own. Readers read its header (where the
/// slots are) on every probe; sharing a line with some small allocation
/// that a writer keeps changing would cost them a miss each time.
type Table<T> = CachePadded<T>;

struct Held<T, S> {
    /// The table in `live`: writers need no load of their own.
    table: Arc<Table<T>>,
    /// Replaced tables that some reader may still hold.
    retired: Vec<Arc<Table<T>>>,
    state: S,
}

impl<T, S: Default> Shard<T, S> {
    pub(crate) fn new(table: T) -> Self {
        let table = Arc::new(CachePadded::new(table));
        Shard {
            live: CachePadded::new(ArcSwap::new(table.clone())),
            writer: CachePadded::new(WriterSide {
                lock: Mutex::new(Held {
                    table,
                    retired: Vec::new(),
                    state: S::default(),
                }),
                len: AtomicUsize::new(0),
            }),
        }
    }
}

impl<T, S> Shard<T, S> {
    /// The live table, for one probe: lock-free, and cheap enough to take
    /// per look-up.
    pub(crate) fn load(&self) -> Guard<Arc<Table<T>>> {
        self.live.load()
    }

    /// The live table, for a long walk (a guard is meant to be brief).
    pub(crate) fn load_full(&self) -> Arc<Table<T>> {
        self.live.load_full()
    }

    pub(crate) fn len(&self) -> usize {
        self.writer.len.load(Relaxed)
    }

    /// Exclusive write access among writers; readers are unaffected.
    pub(crate) fn write(&self) -> Writer<'_, T, S> {
        // A writer that panicked left every slot whole (each is one atomic
        // store), so the table is still sound.
        let mut held = self.writer.lock.lock().unwrap_or_else(|p| p.into_inner());
        if !held.retired.is_empty() {
            // Only the writer's own reference left: no reader has it, and
            // none can load it again, so it is freed here, off the read path.
            held.retired.retain(|t| Arc::strong_count(t) > 1);
        }
        Writer { shard: self, held }
    }
}

/// A writer holding its shard's mutex.
pub(crate) struct Writer<'a, T, S> {
    shard: &'a Shard<T, S>,
    held: MutexGuard<'a, Held<T, S>>,
}

impl<T, S> Writer<'_, T, S> {
    /// The live table, to change in place through its atomics.
    pub(crate) fn table(&self) -> &T {
        &self.held.table
    }

    pub(crate) fn state(&mut self) -> &mut S {
        &mut self.held.state
    }

    pub(crate) fn len(&self) -> usize {
        self.shard.len()
    }

    /// Records the live entry count (only writers change it, one at a time).
    pub(crate) fn set_len(&self, n: usize) {
        self.shard.writer.len.store(n, Relaxed);
    }

    /// Makes `table`, built from the live one, the live table. Readers that
    /// loaded the old one finish their probe on it; it is freed later.
    pub(crate) fn publish(&mut self, table: T) {
        let table = Arc::new(CachePadded::new(table));
        let old = self.shard.live.swap(table.clone());
        self.held.table = table;
        self.held.retired.push(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_keeps_a_free_slot_and_a_power_of_two() {
        assert_eq!(capacity_for(0), MIN_CAP);
        assert_eq!(capacity_for(14), 16);
        assert_eq!(capacity_for(15), 32);
        for n in [1, 100, 70_312, 1 << 20] {
            let c = capacity_for(n);
            assert!(c.is_power_of_two() && n * 8 <= c * 7 && n < c);
        }
    }

    #[test]
    fn a_replaced_table_is_freed_by_a_writer_once_no_reader_holds_it() {
        let s: Shard<u32> = Shard::new(1);
        let reader = s.load_full();
        s.write().publish(2);
        assert_eq!((**reader, ***s.load()), (1, 2));
        let weak = Arc::downgrade(&reader);
        drop(reader);
        // The reader's drop did not free it: the writer still holds it.
        assert!(weak.upgrade().is_some());
        drop(s.write());
        assert!(weak.upgrade().is_none());
    }
}
