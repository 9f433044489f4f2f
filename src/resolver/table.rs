//! Compact storage behind the resolver: one fixed-size row per eSIM profile,
//! addressed by a dense ordinal, and hash tables that hold only ordinals.
//!
//! Why not plain maps: at 10 M profiles a `HashMap<String, Profile>` costs
//! hundreds of octets per profile. Rows here are 40 octets of atomics, grown
//! in chunks that never move, so a reader holding an ordinal needs no lock;
//! the ordinal tables (`ordinal_table`) store 4 octets per slot and compare
//! keys through the rows they point at.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use super::hugepages::Huge;
use super::ordinal_table::OrdinalTable;

type HugeBox<T> = allocator_api2::boxed::Box<T, Huge>;

/// 2^16 rows of 32 octets: one 2 MiB huge page per chunk.
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
/// 2^12 chunks of 2^16 rows: 268 M profiles, far past one node's inventory.
const CHUNKS: usize = 1 << 12;
/// Rows there can be; ordinals are below it.
pub(crate) const MAX_ROWS: usize = CHUNKS * CHUNK;

/// One profile and the account it is assigned to: the words a charging
/// request reads, 32-octet aligned so that they share one cache line. Every
/// field is read and written whole, so a reader never sees half of one.
#[derive(Default)]
#[repr(align(32))]
pub(crate) struct Row {
    /// The ICCID key (see `iccid_key`), written once before the ordinal is
    /// published.
    iccid: [AtomicU64; 2],
    pub(crate) account: AtomicU64,
    /// Profile status, account state, product and grace end: see `state`.
    pub(crate) state: AtomicU64,
}

impl Row {
    pub(crate) fn iccid(&self) -> u128 {
        (self.iccid[0].load(Relaxed) as u128) << 64 | self.iccid[1].load(Relaxed) as u128
    }
    /// Applies `f` to the state word atomically: two writers (a profile and
    /// its account, rebuilt on two threads) may touch different fields of it.
    /// Returns the word as it was.
    pub(crate) fn update_state(&self, f: impl Fn(u64) -> u64) -> u64 {
        match self.state.fetch_update(Relaxed, Relaxed, |s| Some(f(s))) {
            Ok(prev) | Err(prev) => prev,
        }
    }
}

/// A growable array whose elements never move: chunks are allocated once
/// and published through `OnceLock`, so a reader needs no lock.
struct Chunked<T> {
    chunks: Box<[OnceLock<HugeBox<[T]>>]>,
}

impl<T: Default> Chunked<T> {
    fn new() -> Self {
        Chunked {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }
    fn get(&self, i: u32) -> Option<&T> {
        let chunk = self.chunks.get((i >> CHUNK_BITS) as usize)?.get()?;
        chunk.get(i as usize & (CHUNK - 1))
    }
    fn get_or_grow(&self, i: u32) -> Option<&T> {
        let chunk = self.chunks.get((i >> CHUNK_BITS) as usize)?;
        let chunk = chunk.get_or_init(|| super::hugepages::filled(CHUNK).into_boxed_slice());
        chunk.get(i as usize & (CHUNK - 1))
    }
}

/// Rows by ordinal, and apart from them what charging never reads: each
/// row's MSISDN (for MSISDN look-ups) and eSIM pool (for stock). Ordinals
/// are never reused: profiles are disposed, not deleted.
pub(crate) struct Rows {
    rows: Chunked<Row>,
    msisdns: Chunked<AtomicU64>,
    pools: Chunked<AtomicU16>,
    len: AtomicU32,
}

impl Default for Rows {
    fn default() -> Self {
        Rows {
            rows: Chunked::new(),
            msisdns: Chunked::new(),
            pools: Chunked::new(),
            len: AtomicU32::new(0),
        }
    }
}

impl Rows {
    pub(crate) fn get(&self, ord: u32) -> Option<&Row> {
        self.rows.get(ord)
    }
    pub(crate) fn msisdn(&self, ord: u32) -> Option<&AtomicU64> {
        self.msisdns.get(ord)
    }
    pub(crate) fn pool(&self, ord: u32) -> Option<&AtomicU16> {
        self.pools.get(ord)
    }
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed) as usize
    }
    /// A new row holding `iccid`; `None` once the table is full.
    fn push(&self, iccid: u128) -> Option<u32> {
        let ord = self.len.fetch_add(1, Relaxed);
        self.msisdns.get_or_grow(ord)?;
        self.pools.get_or_grow(ord)?.store(u16::MAX, Relaxed);
        let row = self.rows.get_or_grow(ord)?;
        row.iccid[0].store((iccid >> 64) as u64, Relaxed);
        row.iccid[1].store(iccid as u64, Relaxed);
        Some(ord)
    }
}

/// ICCID key → row, creating the row on first sight. Creation happens under
/// the shard's writer mutex, so two threads that meet the same ICCID (its
/// profile on one, its IMSIs on another) share one row.
pub(crate) fn row_for_iccid(rows: &Rows, table: &OrdinalTable, iccid: u128) -> Option<u32> {
    table.find_or_insert(
        hash_u128(iccid),
        |o| rows.get(o).is_some_and(|r| r.iccid() == iccid),
        || rows.push(iccid),
        |o| hash_u128(rows.get(o).map_or(0, Row::iccid)),
    )
}

/// A full-avalanche finaliser (MurmurHash3's): the ordinal tables take the
/// shard and start slot from the top bits and the tag from the bottom ones,
/// and sequential ICCIDs and MSISDNs must spread over both.
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

pub(crate) fn hash_u64(k: u64) -> u64 {
    mix(k)
}

pub(crate) fn hash_u128(k: u128) -> u64 {
    mix(k as u64 ^ mix((k >> 64) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_created_once_per_iccid_and_survive_chunk_growth() {
        let rows = Rows::default();
        let t = OrdinalTable::default();
        let n = CHUNK as u128 * 2 + 7;
        for k in 0..n {
            assert_eq!(row_for_iccid(&rows, &t, k * 31 + 5), Some(k as u32));
        }
        for k in (0..n).step_by(997) {
            assert_eq!(row_for_iccid(&rows, &t, k * 31 + 5), Some(k as u32));
            assert_eq!(rows.get(k as u32).unwrap().iccid(), k * 31 + 5);
        }
        assert_eq!((rows.len(), t.len()), (n as usize, n as usize));
    }

    #[test]
    fn concurrent_writers_share_one_row_per_key() {
        let rows = Rows::default();
        let t = OrdinalTable::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for k in 0..5000u128 {
                        row_for_iccid(&rows, &t, k).unwrap();
                    }
                });
            }
        });
        assert_eq!((rows.len(), t.len()), (5000, 5000));
    }

    #[test]
    fn removal_takes_out_only_the_matching_ordinal() {
        let rows = Rows::default();
        let t = OrdinalTable::default();
        let a = row_for_iccid(&rows, &t, 1).unwrap();
        let b = row_for_iccid(&rows, &t, 2).unwrap();
        t.remove(hash_u128(1), |o| o == a);
        let rows = &rows;
        let eq = |k: u128| move |o: u32| rows.get(o).unwrap().iccid() == k;
        assert_eq!(t.find(hash_u128(1), eq(1)), None);
        assert_eq!(t.find(hash_u128(2), eq(2)), Some(b));
    }
}
