//! IMSIs waiting in dynamic pools: filling a pool from a batch, and the
//! index of the waiting IMSIs by pool and sponsor, so that a swap takes one
//! with a short prefix scan instead of a pass over every IMSI.
//!
//! `dynimsi/<pool>/<sponsor>/<imsi>` exists exactly while `imsi/<imsi>` is
//! `InDynamicPool { pool }`. Every write of an IMSI record that may move it
//! into or out of a dynamic pool goes through `put_imsi`, which puts or
//! deletes the entry in the same batch: after a crash, kill -9 included, the
//! index says what the IMSI records say. A store written before the index
//! existed gets it built once at open (`upgrade`).

use super::compact::{view, ImsiStateW, ImsiW};
use super::store::{decode, StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::{Imsi, ImsiState};

pub(super) const DYNAMIC: &str = "dynimsi/";
pub(super) const BUILT_KEY: &str = "meta/dynimsi-built";

/// A name as one key segment: `/` and `%` escaped, so that pool "a/b" with
/// sponsor "c" never shares a prefix with pool "a" and sponsor "b/c".
fn segment(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

fn pool_prefix(pool: &str, sponsor: &str) -> String {
    format!("{DYNAMIC}{}/{}/", segment(pool), segment(sponsor))
}

fn entry_key(pool: &str, sponsor: &str, imsi: &str) -> String {
    pool_prefix(pool, sponsor) + imsi
}

fn entry_of(state: &ImsiState, rec: &Imsi) -> Option<String> {
    match state {
        ImsiState::InDynamicPool { pool } => Some(entry_key(pool, &rec.sponsor, &rec.imsi)),
        _ => None,
    }
}

/// The index entry a stored IMSI record calls for (building the index).
pub(super) fn entry_of_record(k: &[u8], v: &[u8]) -> Result<Option<String>, StoreError> {
    Ok(match view::<ImsiW>(k, v)? {
        Some(w) => match w.state {
            ImsiStateW::InDynamicPool { pool } => Some(entry_key(pool, w.sponsor, w.imsi)),
            _ => None,
        },
        None => {
            let r: Imsi = decode(k, v)?;
            entry_of(&r.state, &r)
        }
    })
}

/// Writes `rec` into `b` with its index entry following its state; `was` is
/// the state the store holds for it until `b` commits.
pub(crate) fn put_imsi(b: &mut WriteBatch, was: &ImsiState, rec: &Imsi) {
    let (old, new) = (entry_of(was, rec), entry_of(&rec.state, rec));
    if let Some(k) = old.filter(|k| Some(k) != new.as_ref()) {
        b.delete(k);
    }
    if let Some(k) = new {
        b.put(k, &String::new());
    }
    b.put(format!("imsi/{}", rec.imsi), rec);
}

impl Inventory {
    /// Moves `count` available IMSIs of `batch` into a dynamic IMSI pool.
    pub fn fill_dynamic_pool(
        &self,
        actor: &str,
        pool: &str,
        batch: &str,
        count: u64,
    ) -> Result<u64, InventoryError> {
        let mut stock = self.lock();
        if !self.store.exists(&format!("dynpool/{pool}"))? {
            return Err(InventoryError::NotFound {
                what: "dynamic pool",
                id: pool.into(),
            });
        }
        if !self.store.exists(&format!("batch/{batch}"))? {
            return Err(InventoryError::NotFound {
                what: "batch",
                id: batch.into(),
            });
        }
        let mut moved = vec![];
        for r in self.store.scan_raw(b"imsi/") {
            if moved.len() as u64 >= count {
                break;
            }
            let (k, v) = r?;
            let mut i: Imsi = decode(&k, &v)?;
            if i.batch == batch && i.state == ImsiState::Available {
                i.state = ImsiState::InDynamicPool { pool: pool.into() };
                moved.push(i);
            }
        }
        let mut b = WriteBatch::default();
        for i in &moved {
            put_imsi(&mut b, &ImsiState::Available, i);
        }
        self.audit(
            &mut b,
            actor,
            "fill-dynamic-pool",
            pool,
            None,
            Some(serde_json::json!({"batch": batch, "count": moved.len()})),
        )?;
        self.dynamic_refilled(&stock, pool, moved.len() as u64, &mut b)?;
        self.commit(b)?;
        for i in &moved {
            self.index.put_imsi(i);
            stock.dynamic_moved(i, pool, true);
        }
        Ok(moved.len() as u64)
    }

    /// The first IMSI (in key order) of `sponsor` waiting in dynamic pool
    /// `pool`. Each entry is checked against its record before it is
    /// trusted; one that does not match (none should) is dropped in `b`, so
    /// a mismatch can only cost a pick, never hand an IMSI out twice.
    pub(crate) fn dynamic_imsi(
        &self,
        pool: &str,
        sponsor: &str,
        b: &mut WriteBatch,
    ) -> Result<Option<Imsi>, InventoryError> {
        let prefix = pool_prefix(pool, sponsor);
        let mut found = None;
        let mut stale = vec![];
        self.store.visit(prefix.as_bytes(), &mut |k, _| {
            let imsi = String::from_utf8_lossy(&k[prefix.len()..]);
            let rec: Option<Imsi> = self.store.get(&format!("imsi/{imsi}"))?;
            match rec {
                Some(r) if entry_of(&r.state, &r).is_some_and(|e| e.as_bytes() == k) => {
                    found = Some(r);
                    Err(StoreError::Stop)
                }
                _ => {
                    stale.push(k.to_vec());
                    Ok(())
                }
            }
        })?;
        for k in stale {
            tracing::warn!(key = %String::from_utf8_lossy(&k), "dynamic pool index entry without its IMSI; dropped");
            b.delete(k);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
