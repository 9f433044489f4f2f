//! The index written out whole and read back: what lets a node with 10 M
//! profiles start in seconds instead of scanning 40 M store records. The
//! inventory tags each snapshot with the store generation it reflects and
//! replays later changes on top; the store stays the truth, and any doubt
//! about a snapshot (damage, another version, a gap in the changes) means a
//! full rebuild instead.
//!
//! Layout, little-endian, CRC-32 over everything before the trailer:
//! magic, generation, then the catalogue names the small indexes refer to
//! (so that a catalogue changed since is remapped, not misread), the profile
//! rows in ordinal order, the IMSI entries, the profile-less accounts.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering::Relaxed;

use super::index::{state, AccountEntry, AccountState, ImsiEntry, ImsiStatus, Index};
use super::table::{hash_u64, row_for_iccid};

const MAGIC: &[u8; 8] = b"GYROIDX1";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("index snapshot: {0}")]
    Io(#[from] io::Error),
    #[error("index snapshot: {0}")]
    Invalid(&'static str),
}

struct Crc<T> {
    inner: T,
    crc: crc32fast::Hasher,
}

impl<W: Write> Crc<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc.update(b);
        self.inner.write_all(b)
    }
    fn put_u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn put_u16(&mut self, v: u16) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }
}

impl<R: Read> Crc<R> {
    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0; N];
        self.inner.read_exact(&mut b)?;
        self.crc.update(&b);
        Ok(b)
    }
    fn u64(&mut self) -> io::Result<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn u16(&mut self) -> io::Result<u16> {
        self.take::<2>().map(u16::from_le_bytes)
    }
    fn string(&mut self) -> Result<String, SnapshotError> {
        let n = self.u16()? as usize;
        let mut b = vec![0; n];
        self.inner.read_exact(&mut b)?;
        self.crc.update(&b);
        String::from_utf8(b).map_err(|_| SnapshotError::Invalid("name is not UTF-8"))
    }
}

/// Old position → current position of each name (u16::MAX: gone).
fn remap(old: &[String], current: impl Fn(&str) -> Option<u16>) -> Vec<u16> {
    old.iter().map(|n| current(n).unwrap_or(u16::MAX)).collect()
}

fn at(map: &[u16], i: u16) -> u16 {
    map.get(i as usize).copied().unwrap_or(u16::MAX)
}

impl Index {
    /// Writes the whole index, tagged with `generation`. The caller keeps
    /// writers out meanwhile (the inventory holds its writer lock).
    pub fn write_snapshot(&self, generation: u64, w: impl Write) -> io::Result<()> {
        let mut w = Crc {
            inner: w,
            crc: crc32fast::Hasher::new(),
        };
        w.put(MAGIC)?;
        w.put_u64(generation)?;
        let catalog = self.catalog();
        let sponsors: Vec<&str> = catalog.sponsors.iter().map(|s| s.id.as_str()).collect();
        let products: Vec<&str> = catalog.products.iter().map(|p| p.name.as_str()).collect();
        let pools: Vec<&str> = catalog.pools.iter().map(String::as_str).collect();
        let dynamic: Vec<&str> = catalog.dynamic_pools.iter().map(String::as_str).collect();
        for names in [sponsors, products, pools, dynamic] {
            w.put_u64(names.len() as u64)?;
            for n in names {
                w.put_u16(n.len() as u16)?;
                w.put(n.as_bytes())?;
            }
        }
        let rows = self.rows.len() as u32;
        w.put_u64(rows as u64)?;
        for ord in 0..rows {
            let Some(r) = self.rows.get(ord) else {
                return Err(io::Error::other("row missing"));
            };
            w.put(&r.iccid().to_le_bytes())?;
            w.put_u64(r.account.load(Relaxed))?;
            w.put_u64(r.state.load(Relaxed))?;
            w.put_u64(self.rows.msisdn(ord).map_or(0, |m| m.load(Relaxed)))?;
            w.put_u16(self.rows.pool(ord).map_or(u16::MAX, |p| p.load(Relaxed)))?;
        }
        w.put_u64(self.imsis.len() as u64)?;
        let mut result = Ok(());
        self.imsis.for_each(|k, v| {
            if result.is_ok() {
                result = w.put_u64(k).and_then(|_| w.put_u64(v));
            }
        });
        result?;
        let orphans: Vec<(u64, AccountEntry)> = self
            .orphans
            .iter()
            .map(|e| (*e.key(), *e.value()))
            .collect();
        w.put_u64(orphans.len() as u64)?;
        for (m, a) in orphans {
            w.put_u64(m)?;
            w.put_u64(a.id)?;
            w.put_u64(state::with_account(0, a.state, a.product))?;
        }
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes())?;
        w.inner.flush()
    }

    /// Loads a snapshot of `len` octets into this index, which must be empty
    /// and hold the current catalogue; returns the snapshot's generation.
    /// Counts are checked against `len` before anything is allocated, so a
    /// damaged file fails cleanly. On error the index is in an unspecified
    /// state: discard it.
    pub fn read_snapshot(&self, r: impl Read, len: u64) -> Result<u64, SnapshotError> {
        if self.rows.len() != 0 {
            return Err(SnapshotError::Invalid("index is not empty"));
        }
        let mut r = Crc {
            inner: r,
            crc: crc32fast::Hasher::new(),
        };
        if &r.take::<8>()? != MAGIC {
            return Err(SnapshotError::Invalid(
                "not a gyro index snapshot of this version",
            ));
        }
        let generation = r.u64()?;
        let mut load = Loader {
            index: self,
            r,
            len,
            names: Remaps::default(),
        };
        load.names()?;
        load.rows()?;
        load.imsis()?;
        load.orphans()?;
        load.trailer()?;
        Ok(generation)
    }
}

/// The snapshot's catalogue positions → the current catalogue's.
#[derive(Default)]
struct Remaps {
    sponsors: Vec<u16>,
    products: Vec<u16>,
    pools: Vec<u16>,
    dynamic: Vec<u16>,
}

/// Reads a snapshot's sections, in order, into an empty index.
struct Loader<'i, R> {
    index: &'i Index,
    r: Crc<R>,
    /// The file's length, which every count must fit in.
    len: u64,
    names: Remaps,
}

impl<R: Read> Loader<'_, R> {
    /// Whether `n` records of `size` octets fit in the file.
    fn fits(&self, n: u64, size: u64) -> bool {
        n.checked_mul(size).is_some_and(|b| b <= self.len)
    }

    fn names(&mut self) -> Result<(), SnapshotError> {
        let mut lists = Vec::new();
        for _ in 0..4 {
            let n = self.r.u64()?;
            if !self.fits(n, 2) {
                return Err(SnapshotError::Invalid("name count"));
            }
            let names: Vec<String> = (0..n).map(|_| self.r.string()).collect::<Result<_, _>>()?;
            lists.push(names);
        }
        let catalog = self.index.catalog();
        self.names = Remaps {
            sponsors: remap(&lists[0], |n| catalog.sponsor_index(n)),
            products: remap(&lists[1], |n| catalog.product_index(n)),
            pools: remap(&lists[2], |n| catalog.pool_index(n)),
            dynamic: remap(&lists[3], |n| catalog.dynamic_pool_index(n)),
        };
        Ok(())
    }

    /// The profile rows, in ordinal order.
    fn rows(&mut self) -> Result<(), SnapshotError> {
        let rows = self.r.u64()?;
        if rows > u32::MAX as u64 || !self.fits(rows, 42) {
            return Err(SnapshotError::Invalid("row count"));
        }
        let idx = self.index;
        idx.reserve(0, rows as usize);
        let msisdn_of = |o: u32| hash_u64(idx.rows.msisdn(o).map_or(0, |m| m.load(Relaxed)));
        for ord in 0..rows as u32 {
            let iccid = u128::from_le_bytes(self.r.take::<16>()?);
            let account = self.r.u64()?;
            let word = self.r.u64()?;
            let msisdn = self.r.u64()?;
            let pool = self.r.u16()?;
            if row_for_iccid(&idx.rows, &idx.by_iccid, iccid) != Some(ord) {
                return Err(SnapshotError::Invalid("duplicate ICCID"));
            }
            let row = idx.rows.get(ord).ok_or(SnapshotError::Invalid("row"))?;
            let st = state::account(word);
            let product = at(&self.names.products, state::product(word));
            row.account.store(account, Relaxed);
            row.state
                .store(state::with_account(word, st, product), Relaxed);
            if st != AccountState::Unknown {
                idx.accounts.fetch_add(1, Relaxed);
            }
            if let Some(p) = idx.rows.pool(ord) {
                p.store(at(&self.names.pools, pool), Relaxed);
            }
            if let Some(m) = idx.rows.msisdn(ord) {
                m.store(msisdn, Relaxed);
            }
            if msisdn != 0 && st != AccountState::Closed {
                idx.by_msisdn.insert(hash_u64(msisdn), ord, msisdn_of);
            }
        }
        Ok(())
    }

    fn imsis(&mut self) -> Result<(), SnapshotError> {
        let imsis = self.r.u64()?;
        if !self.fits(imsis, 16) {
            return Err(SnapshotError::Invalid("IMSI count"));
        }
        self.index.reserve(imsis as usize, 0);
        for _ in 0..imsis {
            let key = self.r.u64()?;
            let mut e = ImsiEntry::unpack(self.r.u64()?);
            if key == 0 {
                return Err(SnapshotError::Invalid("IMSI 0"));
            }
            e.sponsor = at(&self.names.sponsors, e.sponsor);
            if e.status == ImsiStatus::InDynamicPool {
                e.profile = at(&self.names.dynamic, e.profile as u16) as u32;
            }
            self.index.imsis.insert(key, e.pack());
        }
        Ok(())
    }

    /// The accounts without a profile.
    fn orphans(&mut self) -> Result<(), SnapshotError> {
        let orphans = self.r.u64()?;
        if !self.fits(orphans, 24) {
            return Err(SnapshotError::Invalid("account count"));
        }
        for _ in 0..orphans {
            let m = self.r.u64()?;
            let id = self.r.u64()?;
            let word = self.r.u64()?;
            let entry = AccountEntry {
                id,
                product: at(&self.names.products, state::product(word)),
                state: state::account(word),
            };
            self.index.orphans.insert(m, entry);
        }
        Ok(())
    }

    /// The CRC-32 of everything read.
    fn trailer(&mut self) -> Result<(), SnapshotError> {
        let crc = self.r.crc.clone().finalize();
        let mut stored = [0; 4];
        self.r.inner.read_exact(&mut stored)?;
        if u32::from_le_bytes(stored) != crc {
            return Err(SnapshotError::Invalid("checksum mismatch"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
