//! Hash tables of row ordinals (ICCID → row, MSISDN → row) that readers
//! probe without a lock (see `shard`).
//!
//! The key lives in the row, so a slot is one `AtomicU32`: four octets where
//! hashbrown took five. Its top four bits hold a tag from the key's hash, so
//! that a probe only follows (a cache miss each) the rows whose tag matches:
//! one in fifteen of the others. Removal leaves a tombstone: a slot never
//! goes back to empty in a live table, so a probe that is under way cannot
//! stop short of a key that is still there. Tombstones are dropped when a
//! writer rebuilds the table beside the live one.

use std::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};

use super::hugepages::{filled, HugeVec};
use super::shard::{capacity_for, shard_of, start, Shard, Writer, MIN_CAP, SHARDS};
use super::table::MAX_ROWS;

/// A never-used slot.
const EMPTY: u32 = 0;
/// A removed entry's slot. Entries have a non-zero tag, so neither mark can
/// be mistaken for one.
const GONE: u32 = 1;
const ORD_BITS: u32 = 28;
const ORD_MASK: u32 = (1 << ORD_BITS) - 1;
const _: () = assert!(MAX_ROWS <= 1 << ORD_BITS);

/// 1..=15 from hash bits that neither the shard nor the start slot uses.
fn tag(hash: u64) -> u32 {
    (1 + (hash as u32 & 0xffff) % 15) << ORD_BITS
}

/// One shard's slots: a power of two of them, at most 7/8 used, tombstones
/// included.
struct Slots(HugeVec<AtomicU32>);

impl Slots {
    fn with_capacity(cap: usize) -> Slots {
        Slots(filled(cap))
    }

    /// The ordinal that `eq` accepts, and the index of its slot.
    fn position(&self, hash: u64, eq: impl Fn(u32) -> bool) -> Option<(usize, u32)> {
        let mask = self.0.len() - 1;
        let tag = tag(hash);
        let mut i = start(hash, self.0.len());
        loop {
            // Acquire pairs with the release in `put`: the row the ordinal
            // names was written before it, and `eq` reads that row.
            match self.0[i].load(Acquire) {
                EMPTY => return None,
                s if s & !ORD_MASK == tag && eq(s & ORD_MASK) => return Some((i, s & ORD_MASK)),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Takes the first free or removed slot on the probe path; whether it
    /// was a never-used one. Writers only, one at a time, with room.
    fn put(&self, hash: u64, ord: u32) -> bool {
        let mask = self.0.len() - 1;
        let mut i = start(hash, self.0.len());
        loop {
            let s = self.0[i].load(Relaxed);
            if s <= GONE {
                self.0[i].store(tag(hash) | ord, Release);
                return s == EMPTY;
            }
            i = (i + 1) & mask;
        }
    }

    /// The live entries in a new table of `cap` slots, without tombstones.
    /// The caller holds the writers' mutex, so nothing changes meanwhile.
    fn rebuilt(&self, cap: usize, rehash: impl Fn(u32) -> u64) -> Slots {
        let new = Slots::with_capacity(cap);
        for s in self.0.iter().map(|s| s.load(Relaxed)).filter(|&s| s > GONE) {
            let ord = s & ORD_MASK;
            new.put(rehash(ord), ord);
        }
        new
    }
}

/// Slots in use, tombstones included: what bounds a probe's length.
type Used = usize;

/// A hash table of row ordinals, the keys compared through the rows. Readers
/// never lock or wait; writers of one shard take turns.
pub(crate) struct OrdinalTable {
    shards: Box<[Shard<Slots, Used>]>,
}

impl Default for OrdinalTable {
    fn default() -> Self {
        OrdinalTable {
            shards: (0..SHARDS)
                .map(|_| Shard::new(Slots::with_capacity(MIN_CAP)))
                .collect(),
        }
    }
}

impl OrdinalTable {
    fn shard(&self, hash: u64) -> &Shard<Slots, Used> {
        &self.shards[shard_of(hash)]
    }

    pub(crate) fn find(&self, hash: u64, eq: impl Fn(u32) -> bool) -> Option<u32> {
        Some(self.shard(hash).load().position(hash, eq)?.1)
    }

    /// `ord` must not be in the table yet.
    pub(crate) fn insert(&self, hash: u64, ord: u32, rehash: impl Fn(u32) -> u64) {
        put(&mut self.shard(hash).write(), hash, ord, rehash);
    }

    /// The ordinal that `eq` accepts, or else the one `make` gives, inserted.
    /// `make` runs under the shard's writer mutex, so two threads that meet
    /// the same key get one ordinal.
    pub(crate) fn find_or_insert(
        &self,
        hash: u64,
        eq: impl Fn(u32) -> bool,
        make: impl FnOnce() -> Option<u32>,
        rehash: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        if let Some(o) = self.find(hash, &eq) {
            return Some(o);
        }
        let mut w = self.shard(hash).write();
        if let Some((_, o)) = w.table().position(hash, &eq) {
            return Some(o);
        }
        let ord = make()?;
        put(&mut w, hash, ord, rehash);
        Some(ord)
    }

    pub(crate) fn remove(&self, hash: u64, eq: impl Fn(u32) -> bool) {
        let w = self.shard(hash).write();
        if let Some((i, _)) = w.table().position(hash, eq) {
            w.table().0[i].store(GONE, Release);
            w.set_len(w.len() - 1);
        }
    }

    /// Room for `n` more keys in all, so that a bulk load does not rehash.
    pub(crate) fn reserve(&self, n: usize, rehash: impl Fn(u32) -> u64) {
        for s in self.shards.iter() {
            let mut w = s.write();
            // An eighth more than an even share: shards do not fill evenly.
            let want = capacity_for(w.len() + n / SHARDS + n / (SHARDS * 8));
            if want > w.table().0.len() {
                rebuild(&mut w, want, &rehash);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }
}

fn put(w: &mut Writer<'_, Slots, Used>, hash: u64, ord: u32, rehash: impl Fn(u32) -> u64) {
    debug_assert!(ord <= ORD_MASK);
    let cap = w.table().0.len();
    if capacity_for(*w.state() + 1) > cap {
        // Tombstones may be what filled it: rebuild at the same size if the
        // live entries take under half of what it may hold, else double it.
        let live = w.len() + 1;
        let cap = if capacity_for(2 * live) <= cap {
            cap
        } else {
            cap * 2
        };
        rebuild(w, cap, rehash);
    }
    if w.table().put(hash, ord) {
        *w.state() += 1;
    }
    w.set_len(w.len() + 1);
}

fn rebuild(w: &mut Writer<'_, Slots, Used>, cap: usize, rehash: impl Fn(u32) -> u64) {
    let new = w.table().rebuilt(cap, rehash);
    w.publish(new);
    *w.state() = w.len();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU64;

    /// Keys by ordinal, as the rows hold them; `AtomicU64` so that readers
    /// on other threads may read them while a writer adds more.
    fn keys(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    fn hash(k: u64) -> u64 {
        super::super::table::hash_u64(k)
    }

    proptest! {
        /// Behaves as a map from key to ordinal under inserts and removals,
        /// including keys that come back after removal.
        #[test]
        fn agrees_with_a_hash_map(ops in prop::collection::vec((1u64..300, any::<bool>()), 0..3000)) {
            let rows = keys(ops.len());
            let of = |o: u32| rows[o as usize].load(Relaxed);
            let t = OrdinalTable::default();
            let mut m = HashMap::new();
            for (next, (k, add)) in ops.into_iter().enumerate() {
                let eq = |o: u32| of(o) == k;
                prop_assert_eq!(t.find(hash(k), eq), m.get(&k).copied());
                if add && !m.contains_key(&k) {
                    rows[next].store(k, Relaxed);
                    t.insert(hash(k), next as u32, |o| hash(of(o)));
                    m.insert(k, next as u32);
                } else if !add {
                    t.remove(hash(k), eq);
                    m.remove(&k);
                }
            }
            prop_assert_eq!(t.len(), m.len());
            for k in 1u64..300 {
                prop_assert_eq!(t.find(hash(k), |o| of(o) == k), m.get(&k).copied());
            }
        }
    }

    #[test]
    fn churn_reuses_tombstones_instead_of_growing() {
        let rows = keys(100_000);
        let of = |o: u32| rows[o as usize].load(Relaxed);
        let t = OrdinalTable::default();
        // Four keys live at a time in all, each removed soon after.
        for o in 0..100_000u32 {
            let k = o as u64 + 1;
            rows[o as usize].store(k, Relaxed);
            t.insert(hash(k), o, |o| hash(of(o)));
            if o >= 4 {
                let gone = k - 4;
                t.remove(hash(gone), |o| of(o) == gone);
            }
        }
        assert_eq!(t.len(), 4);
        assert!(t.shards.iter().all(|s| s.load().0.len() == MIN_CAP));
        assert_eq!(t.find(hash(100_000), |o| of(o) == 100_000), Some(99_999));
    }

    #[test]
    fn readers_see_every_key_inserted_before_they_look_across_growths() {
        // 12 500 keys a shard: each doubles ten times from 16 slots on the way.
        const N: usize = 200_000;
        let rows = keys(N);
        let of = |o: u32| rows[o as usize].load(Relaxed);
        let t = OrdinalTable::default();
        // Ordinals 0..done are in.
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for (o, row) in rows.iter().enumerate() {
                    row.store(o as u64 * 31 + 7, Relaxed);
                    t.insert(hash(o as u64 * 31 + 7), o as u32, |o| hash(of(o)));
                    done.store(o + 1, Release);
                }
            });
            for r in 0..3usize {
                let (t, done, of) = (&t, &done, &of);
                s.spawn(move || loop {
                    let d = done.load(Acquire);
                    // The newest ordinal, and one at random, of those in.
                    let random = (d.wrapping_mul(2_654_435_761) ^ r) % d.max(1);
                    for o in [d.wrapping_sub(1), random].into_iter().filter(|&o| o < d) {
                        let k = o as u64 * 31 + 7;
                        assert_eq!(t.find(hash(k), |x| of(x) == k), Some(o as u32));
                    }
                    if d == N {
                        break;
                    }
                });
            }
        });
        assert_eq!(t.len(), N);
        assert!(t.shards.iter().all(|s| s.load().0.len() >= MIN_CAP << 9));
    }
}
