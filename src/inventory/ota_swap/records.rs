//! Reading OTA swaps back, and the location decisions kept beside them.
//!
//! Layout:
//! - `swap/<id:020>`: the swap record (written by the swap's steps);
//! - `swapby/<iccid>/<id:020>`: the same swap under its profile, written in
//!   the order's batch, so that a profile's swaps are one prefix scan;
//! - `decision/<iccid>/<id:020>`: a decision (swap or not), the last
//!   `DECISIONS_KEPT` per profile.

use crate::inventory::store::{decode, StorageExt, StoreError, WriteBatch};
use crate::inventory::{Inventory, InventoryError};
use crate::model::ota::{ImsiSwap, SwapState};

pub(in crate::inventory) const SWAP: &str = "swap/";
pub(in crate::inventory) const SWAP_BY: &str = "swapby/";
pub(in crate::inventory) const BUILT_KEY: &str = "meta/swapby-built";
const DECISION: &str = "decision/";

/// Decisions kept per profile; recording one more drops the oldest. A
/// decision follows each coalesced location report (a few a day for a
/// traveller), so this explains weeks of swaps while a profile seen for
/// years does not grow the store for ever.
pub const DECISIONS_KEPT: usize = 100;

pub(super) fn swap_key(id: u64) -> String {
    format!("{SWAP}{id:020}")
}

pub(super) fn swap_by_key(iccid: &str, id: u64) -> String {
    format!("{SWAP_BY}{iccid}/{id:020}")
}

/// The `swapby/` entry a stored swap calls for (building the index).
pub(in crate::inventory) fn entry_of_record(
    k: &[u8],
    v: &[u8],
) -> Result<Option<String>, StoreError> {
    let s: ImsiSwap = decode(k, v)?;
    Ok(Some(swap_by_key(&s.iccid, s.id)))
}

impl Inventory {
    pub fn imsi_swap(&self, id: u64) -> Result<ImsiSwap, InventoryError> {
        self.store
            .get(&swap_key(id))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "swap",
                id: id.to_string(),
            })
    }

    /// Swaps still waiting for the vendor (resumed at start).
    pub fn open_imsi_swaps(&self) -> Result<Vec<ImsiSwap>, InventoryError> {
        let all: Vec<ImsiSwap> = self.store.scan(SWAP)?;
        Ok(all
            .into_iter()
            .filter(|s| s.state == SwapState::Ordered)
            .collect())
    }

    /// Every swap of a profile, oldest first (ids grow with time).
    pub fn imsi_swaps_of(&self, iccid: &str) -> Result<Vec<ImsiSwap>, InventoryError> {
        let prefix = format!("{SWAP_BY}{iccid}/");
        let mut ids = vec![];
        self.store.visit(prefix.as_bytes(), &mut |k, _| {
            let id = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            ids.extend(id);
            Ok(())
        })?;
        ids.into_iter().map(|id| self.imsi_swap(id)).collect()
    }

    /// Keeps a decision (swap or not) for `GET /profiles/{iccid}/decisions`,
    /// dropping the oldest beyond `DECISIONS_KEPT` in the same batch. Under
    /// the writers' lock, so that two recorders never both keep one too many.
    pub fn record_decision(
        &self,
        iccid: &str,
        decision: &serde_json::Value,
    ) -> Result<(), InventoryError> {
        let _w = self.lock();
        let prefix = format!("{DECISION}{iccid}/");
        let mut kept = vec![];
        self.store.visit(prefix.as_bytes(), &mut |k, _| {
            kept.push(k.to_vec());
            Ok(())
        })?;
        let mut b = WriteBatch::default();
        let over = (kept.len() + 1).saturating_sub(DECISIONS_KEPT);
        for k in kept.into_iter().take(over) {
            b.delete(k);
        }
        let id = self.store.next_id()?;
        b.put(format!("{prefix}{id:020}"), decision);
        self.commit(b)?;
        Ok(())
    }

    /// A profile's decisions (the last `DECISIONS_KEPT`), oldest first.
    pub fn decisions(&self, iccid: &str) -> Result<Vec<serde_json::Value>, InventoryError> {
        Ok(self.store.scan(&format!("{DECISION}{iccid}/"))?)
    }
}
