//! The IMSI table: IMSI → one packed word, in flat open-addressing shards
//! that readers probe without a lock (see `shard`).
//!
//! Why not `dashmap`/`hashbrown`: a SwissTable keeps its control bytes apart
//! from its entries, so a look-up touches two cache lines (and, at 10 M
//! IMSIs, two TLB entries) before it even reaches the profile row. Here key
//! and value share one 16-octet slot and a probe walks consecutive slots, so
//! a hit costs one line. IMSIs are never removed (their state changes), so
//! there are no tombstones, and a slot's key, once set, never changes: a
//! reader that finds it can trust the value beside it.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use super::hugepages::{filled, HugeVec};
use super::shard::{capacity_for, shard_of, start, Shard, MIN_CAP, SHARDS};

/// Fibonacci hashing: a multiply spreads every key bit into the high bits,
/// which pick the shard and then the slot.
fn spread(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Key 0 marks an empty slot. Aligned so that a slot never straddles two
/// cache lines.
#[derive(Default)]
#[repr(align(16))]
struct Slot {
    key: AtomicU64,
    value: AtomicU64,
}

/// One shard's slots: a power of two of them, at most 7/8 used.
struct Slots(HugeVec<Slot>);

impl Slots {
    fn with_capacity(cap: usize) -> Slots {
        Slots(filled(cap))
    }

    fn find(&self, key: u64, h: u64) -> Option<u64> {
        let mask = self.0.len() - 1;
        let mut i = start(h, self.0.len());
        loop {
            let slot = &self.0[i];
            // Acquire pairs with the key's release in `put`: the value
            // written before it (and the row it names) is visible.
            match slot.key.load(Acquire) {
                k if k == key => return Some(slot.value.load(Acquire)),
                0 => return None,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Inserts or replaces; the previous value if any. Writers only, one at
    /// a time, with room for one more key.
    fn put(&self, key: u64, h: u64, value: u64) -> Option<u64> {
        let mask = self.0.len() - 1;
        let mut i = start(h, self.0.len());
        loop {
            let slot = &self.0[i];
            // Relaxed: only writers store keys, and they hold the mutex.
            match slot.key.load(Relaxed) {
                k if k == key => return Some(slot.value.swap(value, Release)),
                0 => {
                    // Value first, then the key that makes it visible.
                    slot.value.store(value, Relaxed);
                    slot.key.store(key, Release);
                    return None;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// A copy in `cap` slots. The caller holds the writers' mutex, so
    /// nothing changes here while it is copied.
    fn grown(&self, cap: usize) -> Slots {
        let new = Slots::with_capacity(cap);
        for (k, v) in self.entries() {
            new.put(k, spread(k), v);
        }
        new
    }

    fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().filter_map(|s| match s.key.load(Acquire) {
            0 => None,
            k => Some((k, s.value.load(Acquire))),
        })
    }
}

/// IMSI keys (non-zero) to values. Readers never lock or wait; writers of
/// one shard take turns, and writers of different shards do not meet.
pub(crate) struct ImsiTable {
    shards: Box<[Shard<Slots>]>,
}

impl Default for ImsiTable {
    fn default() -> Self {
        ImsiTable {
            shards: (0..SHARDS)
                .map(|_| Shard::new(Slots::with_capacity(MIN_CAP)))
                .collect(),
        }
    }
}

impl ImsiTable {
    fn shard(&self, h: u64) -> &Shard<Slots> {
        &self.shards[shard_of(h)]
    }

    pub(crate) fn get(&self, key: u64) -> Option<u64> {
        if key == 0 {
            return None;
        }
        let h = spread(key);
        self.shard(h).load().find(key, h)
    }

    /// `key` must not be 0.
    pub(crate) fn insert(&self, key: u64, value: u64) -> Option<u64> {
        debug_assert_ne!(key, 0);
        let h = spread(key);
        let mut w = self.shard(h).write();
        let want = capacity_for(w.len() + 1);
        if want > w.table().0.len() {
            let bigger = w.table().grown(want);
            w.publish(bigger);
        }
        let prev = w.table().put(key, h, value);
        if prev.is_none() {
            w.set_len(w.len() + 1);
        }
        prev
    }

    /// Every (key, value), shard by shard, as each shard's live table holds
    /// them when it is reached. Callers that need a consistent whole (the
    /// snapshot) keep writers out themselves.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        for s in self.shards.iter() {
            for (k, v) in s.load_full().entries() {
                f(k, v);
            }
        }
    }

    /// Room for `n` keys in all, so that a bulk load does not regrow.
    pub(crate) fn reserve(&self, n: usize) {
        // An eighth more than an even share: shards do not fill evenly.
        let want = capacity_for(n / SHARDS + n / (SHARDS * 8));
        for s in self.shards.iter() {
            let mut w = s.write();
            if want > w.table().0.len() {
                let bigger = w.table().grown(want);
                w.publish(bigger);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU64;

    proptest! {
        /// Behaves as a map, whatever the keys (clustered or spread).
        #[test]
        fn agrees_with_a_hash_map(ops in prop::collection::vec((1u64..5000, any::<u64>()), 0..3000)) {
            let t = ImsiTable::default();
            let mut m = HashMap::new();
            for (k, v) in ops {
                prop_assert_eq!(t.insert(k, v), m.insert(k, v));
            }
            prop_assert_eq!(t.len(), m.len());
            prop_assert_eq!(t.get(0), None);
            for k in 1u64..5000 {
                prop_assert_eq!(t.get(k), m.get(&k).copied());
            }
        }
    }

    #[test]
    fn holds_a_million_sequential_imsis() {
        let t = ImsiTable::default();
        let base = 262_010_000_000_000u64;
        for i in 0..1_000_000 {
            t.insert(base + i, i);
        }
        assert_eq!(t.len(), 1_000_000);
        for i in (0..1_000_000).step_by(7919) {
            assert_eq!(t.get(base + i), Some(i));
        }
        assert_eq!(t.get(base + 1_000_000), None);
    }

    #[test]
    fn readers_see_every_write_of_a_concurrent_writer() {
        let t = ImsiTable::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 1..200_000u64 {
                    t.insert(k, k * 3);
                }
            });
            s.spawn(|| {
                // Whatever is visible is complete and correct.
                for k in (1..200_000u64).rev() {
                    if let Some(v) = t.get(k) {
                        assert_eq!(v, k * 3);
                    }
                }
            });
        });
        assert_eq!(t.get(199_999), Some(599_997));
    }

    #[test]
    fn readers_see_every_key_inserted_before_they_look_across_growths() {
        // 12 500 keys a shard: each doubles ten times from 16 slots on the way.
        const N: u64 = 200_000;
        const BASE: u64 = 262_010_000_000_000;
        // The writer also rewrites earlier keys, flagging the value: a reader
        // may see either word, never another.
        const AGAIN: u64 = 1 << 40;
        let t = ImsiTable::default();
        // Keys 1..=done are in.
        let done = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 1..=N {
                    t.insert(BASE + k, k);
                    t.insert(BASE + k / 2 + 1, (k / 2 + 1) | AGAIN);
                    done.store(k, Release);
                }
            });
            for r in 0..3u64 {
                let (t, done) = (&t, &done);
                s.spawn(move || {
                    let mut x = r + 1;
                    loop {
                        let d = done.load(Acquire);
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // The newest key, and one at random, of those already in.
                        for k in [d, 1 + (x >> 33) % d.max(1)]
                            .into_iter()
                            .filter(|&k| k >= 1 && k <= d)
                        {
                            assert_eq!(t.get(BASE + k).map(|v| v & !AGAIN), Some(k));
                        }
                        // One that may be on its way: absent or right.
                        if let Some(v) = t.get(BASE + d + 1) {
                            assert_eq!(v & !AGAIN, d + 1);
                        }
                        if d == N {
                            break;
                        }
                    }
                });
            }
        });
        assert_eq!(t.len(), N as usize);
        assert!(t.shards.iter().all(|s| s.load().0.len() >= MIN_CAP << 9));
    }
}
