//! The store side of MVNE location webhooks (#15): a durable queue of "this
//! profile was seen in MCC/MNC at T", one pending record per profile, and
//! the event ids already taken in.
//!
//! Layout:
//! - `locq/<iccid>`: the profile's pending location: the latest event by
//!   `observed_at`, when the first one came, and when it falls due;
//! - `locev/<event_id>`: an event id seen (when, for which profile);
//! - `locevt/<received:020>/<event_id>`: the same id in time order, so that
//!   compaction reads only the expired ids, not all of them;
//! - `locdone/<iccid>`: the `observed_at` of the profile's last drained
//!   event, so that one observed before it (an MVNE delivering late) is
//!   not acted on after the newer location was.
//!
//! Offers are applied under one lock (so that two events for one profile
//! never both find no pending record) and answered only once a group flush
//! made them durable; `done` and compaction commit on their own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::group_flush::GroupFlush;
use super::ops::{Inventory, InventoryError};
use super::store::{StorageExt, StoreError, WriteBatch};
use crate::model::UnixTime;
use crate::ota::intake::Located;

const QUEUE: &str = "locq/";
const SEEN: &str = "locev/";
const SEEN_BY_TIME: &str = "locevt/";
const DRAINED: &str = "locdone/";

fn queue_key(iccid: &str) -> String {
    format!("{QUEUE}{iccid}")
}

fn drained_key(iccid: &str) -> String {
    format!("{DRAINED}{iccid}")
}

fn seen_key(event_id: &str) -> String {
    format!("{SEEN}{event_id}")
}

fn seen_time_key(at: UnixTime, event_id: &str) -> String {
    format!("{SEEN_BY_TIME}{:020}/{event_id}", at.max(0))
}

/// A profile's pending location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLocation {
    /// The latest event by `observed_at` so far.
    pub event: Located,
    /// When the first event of this record came; `due` follows from it
    /// and stays put when later events coalesce into the record.
    pub first_received: UnixTime,
    pub due: UnixTime,
    /// Events folded into this record beside the first.
    pub coalesced: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    at: UnixTime,
    iccid: String,
}

impl super::store::Record for PendingLocation {}
impl super::store::Record for Seen {}

/// What an offered event became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// A new pending record for its profile.
    Queued,
    /// It replaced the pending event (it was observed later).
    Replaced,
    /// The pending event, or the last one drained for the profile, was
    /// observed later (or at the same time): this one is only recorded as
    /// seen.
    Superseded,
    /// Its event id was taken in before: nothing changed.
    Duplicate,
}

pub struct LocationQueue {
    inv: Arc<Inventory>,
    aggregate: i64,
    order: Mutex<()>,
    flush: GroupFlush,
    /// Pending records drained (`done`) since this process started.
    drained: std::sync::atomic::AtomicU64,
}

impl LocationQueue {
    /// Events for one profile within `aggregate` of its first coalesce.
    pub fn new(inv: Arc<Inventory>, aggregate: Duration) -> LocationQueue {
        LocationQueue {
            inv,
            aggregate: aggregate.as_secs() as i64,
            order: Mutex::new(()),
            flush: GroupFlush::default(),
            drained: Default::default(),
        }
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inv
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // Nothing is held under the lock but the order of writes.
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `ticket`'s batch is on disk, sharing flushes with every
    /// offer in flight.
    fn durable(&self, ticket: u64) -> Result<(), StoreError> {
        // An empty commit is the store's flush: sled writes out every batch
        // applied before it, in order.
        let store = self.inv.store();
        self.flush
            .wait(ticket, || store.commit(WriteBatch::default()).map(|_| ()))
    }

    /// The profile an event id was taken in for, if it was. Waits for
    /// everything applied so far to be durable first, so that an id is
    /// never called a duplicate of an event that a crash could still lose.
    pub fn seen(&self, event_id: &str) -> Result<Option<String>, InventoryError> {
        let seen: Option<Seen> = self.inv.store().get(&seen_key(event_id))?;
        match seen {
            Some(s) => {
                self.durable(self.flush.latest())?;
                Ok(Some(s.iccid))
            }
            None => Ok(None),
        }
    }

    /// Takes `ev` in (its `received_at` is the node's time of arrival) and
    /// returns once that is durable.
    pub fn offer(&self, ev: Located) -> Result<Offered, InventoryError> {
        let store = self.inv.store();
        let g = self.lock();
        if store.exists(&seen_key(&ev.event_id))? {
            drop(g);
            self.durable(self.flush.latest())?;
            return Ok(Offered::Duplicate);
        }
        let mut b = WriteBatch::default();
        let seen = Seen {
            at: ev.received_at,
            iccid: ev.iccid.clone(),
        };
        b.put(seen_key(&ev.event_id), &seen);
        b.put(seen_time_key(ev.received_at, &ev.event_id), &String::new());
        let key = queue_key(&ev.iccid);
        let (record, outcome) = match store.get::<PendingLocation>(&key)? {
            // Late: the engine has acted on a newer location already.
            None if self.drained_since(&ev)? => (None, Offered::Superseded),
            None => (
                Some(PendingLocation {
                    first_received: ev.received_at,
                    due: ev.received_at + self.aggregate,
                    coalesced: 0,
                    event: ev,
                }),
                Offered::Queued,
            ),
            Some(mut p) => {
                p.coalesced = p.coalesced.saturating_add(1);
                if ev.observed_at > p.event.observed_at {
                    p.event = ev;
                    (Some(p), Offered::Replaced)
                } else {
                    (Some(p), Offered::Superseded)
                }
            }
        };
        if let Some(record) = record {
            b.put(key, &record);
        }
        // Only location keys, none of them indexed: applied without the
        // inventory's writer lock or feed, made durable by the group flush.
        store.apply(b)?;
        let ticket = self.flush.ticket();
        drop(g);
        self.durable(ticket)?;
        Ok(outcome)
    }

    /// Whether the profile's last drained event was observed no earlier
    /// than `ev`: the engine already acted on a location at least as new.
    fn drained_since(&self, ev: &Located) -> Result<bool, StoreError> {
        let last: Option<UnixTime> = self.inv.store().get(&drained_key(&ev.iccid))?;
        Ok(last.is_some_and(|at| at >= ev.observed_at))
    }

    /// Every pending record, the earliest due first.
    pub fn pending(&self) -> Result<Vec<PendingLocation>, InventoryError> {
        let mut all: Vec<PendingLocation> = self.inv.store().scan(QUEUE)?;
        all.sort_by(|a, b| (a.due, &a.event.iccid).cmp(&(b.due, &b.event.iccid)));
        Ok(all)
    }

    /// The pending events due at `now`, the earliest due first.
    pub fn due(&self, now: UnixTime) -> Result<Vec<Located>, InventoryError> {
        Ok(self
            .pending()?
            .into_iter()
            .filter(|p| p.due <= now)
            .map(|p| p.event)
            .collect())
    }

    /// Drops the profile's pending record if it still holds `event_id`
    /// (a later event that came meanwhile stays pending); whether it did.
    pub fn done(&self, iccid: &str, event_id: &str) -> Result<bool, InventoryError> {
        let _g = self.lock();
        let key = queue_key(iccid);
        let p: Option<PendingLocation> = self.inv.store().get(&key)?;
        let Some(p) = p.filter(|p| p.event.event_id == event_id) else {
            return Ok(false);
        };
        let mut b = WriteBatch::default();
        b.delete(key);
        // A pending record only ever starts with an event newer than the
        // last drained one, so this only moves forward.
        b.put(drained_key(iccid), &p.event.observed_at);
        // No indexed key: the inventory's writer lock is not needed.
        self.inv.commit(b)?;
        self.drained
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// Pending records drained since this process started.
    pub fn drained(&self) -> u64 {
        self.drained.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets up to `limit` event ids taken in before `before`, oldest
    /// first; how many. An MVNE retry after that is taken in anew.
    pub fn compact(&self, before: UnixTime, limit: usize) -> Result<usize, InventoryError> {
        let _g = self.lock();
        let mut b = WriteBatch::default();
        let mut n = 0;
        let prefix = SEEN_BY_TIME.as_bytes();
        self.inv.store().visit(prefix, &mut |k, _| {
            let rest = &k[prefix.len()..];
            let at = std::str::from_utf8(rest.get(..20).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
            match at {
                Some(at) if at < before && n < limit => {
                    let id = String::from_utf8_lossy(rest.get(21..).unwrap_or_default());
                    b.delete(seen_key(&id));
                    b.delete(k.to_vec());
                    n += 1;
                    Ok(())
                }
                // A key of another shape would never expire: drop it.
                None if n < limit => {
                    b.delete(k.to_vec());
                    Ok(())
                }
                _ => Err(StoreError::Stop),
            }
        })?;
        if !b.is_empty() {
            self.inv.commit(b)?;
        }
        Ok(n)
    }
}
