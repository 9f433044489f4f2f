//! The IMSI table: IMSI → one packed word, in flat open-addressing shards.
//!
//! Why not `dashmap`/`hashbrown`: a SwissTable keeps its control bytes apart
//! from its entries, so a look-up touches two cache lines (and, at 10 M
//! IMSIs, two TLB entries) before it even reaches the profile row. Here key
//! and value share one 16-octet slot and a probe walks consecutive slots, so
//! a hit costs one line. IMSIs are never removed (their state changes), so
//! there are no tombstones to manage.

use std::sync::RwLock;

use crossbeam_utils::CachePadded;

use super::hugepages::{Huge, HugeVec};

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

/// Fibonacci hashing: a multiply spreads every key bit into the high bits,
/// which pick the shard and then the slot.
fn spread(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Shard {
    /// `[key, value]`; key 0 marks an empty slot. Length is 0 or a power of two.
    slots: HugeVec<[u64; 2]>,
    len: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            slots: HugeVec::new_in(Huge),
            len: 0,
        }
    }
}

impl Shard {
    fn start(&self, h: u64) -> usize {
        // The bits under the shard selector.
        let bits = self.slots.len().trailing_zeros();
        ((h << SHARD_BITS) >> (64 - bits).min(63)) as usize & (self.slots.len() - 1)
    }

    fn find(&self, key: u64, h: u64) -> Option<u64> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(h);
        loop {
            let [k, v] = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts or replaces; the previous value if any.
    fn insert(&mut self, key: u64, h: u64, value: u64) -> Option<u64> {
        // Grow at 7/8 full: linear probing stays short below that.
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(h);
        loop {
            let slot = &mut self.slots[i];
            if slot[0] == key {
                return Some(std::mem::replace(&mut slot[1], value));
            }
            if slot[0] == 0 {
                *slot = [key, value];
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, super::hugepages::filled(cap));
        self.len = 0;
        for [k, v] in old.into_iter().filter(|s| s[0] != 0) {
            self.insert(k, spread(k), v);
        }
    }
}

/// IMSI keys (non-zero) to values, sharded so that writers on one shard do
/// not hold up readers of the others; a reader holds a read lock for the
/// probe only.
pub(crate) struct ImsiTable {
    shards: Box<[CachePadded<RwLock<Shard>>]>,
}

impl Default for ImsiTable {
    fn default() -> Self {
        ImsiTable {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(RwLock::default()))
                .collect(),
        }
    }
}

impl ImsiTable {
    fn shard(&self, h: u64) -> &RwLock<Shard> {
        &self.shards[(h >> (64 - SHARD_BITS)) as usize]
    }

    pub(crate) fn get(&self, key: u64) -> Option<u64> {
        if key == 0 {
            return None;
        }
        let h = spread(key);
        let s = self.shard(h).read().unwrap_or_else(|p| p.into_inner());
        s.find(key, h)
    }

    /// `key` must not be 0.
    pub(crate) fn insert(&self, key: u64, value: u64) -> Option<u64> {
        debug_assert_ne!(key, 0);
        let h = spread(key);
        let mut s = self.shard(h).write().unwrap_or_else(|p| p.into_inner());
        s.insert(key, h, value)
    }

    /// Every (key, value), shard by shard; a shard is read-locked while it
    /// is walked.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        for s in self.shards.iter() {
            let s = s.read().unwrap_or_else(|p| p.into_inner());
            for &[k, v] in s.slots.iter().filter(|s| s[0] != 0) {
                f(k, v);
            }
        }
    }

    /// Room for `n` keys in all, so that a bulk load does not regrow.
    pub(crate) fn reserve(&self, n: usize) {
        for s in self.shards.iter() {
            let mut s = s.write().unwrap_or_else(|p| p.into_inner());
            while (n / SHARDS + n / (SHARDS * 8)) * 8 > s.slots.len() * 7 {
                s.grow();
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

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
}
