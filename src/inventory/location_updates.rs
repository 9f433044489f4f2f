//! The store side of the MVNE's location webhooks: a durable queue of "this
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
//! One thread writes these keys (`writer`): offers, drains and compactions
//! go to it in order and are answered once the group they fell into is
//! durable, blocking or async (the webhook handler never leaves its worker
//! thread). Readers (`pending`, `due`) read the store, which holds only what
//! was applied.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::store::{StorageExt, StoreError};
use super::{Inventory, InventoryError};
use crate::model::ota::Located;
use crate::model::UnixTime;

mod writer;

use writer::{Job, Op, Outcome};

/// Most jobs waiting for the writer; past it, offers are refused (500)
/// rather than memory growing while the disk stalls.
const MAX_WAITING: usize = 65_536;

/// What the writer answers.
type Answer = Result<Outcome, StoreError>;

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
    /// The pending event was observed later (or at the same time), or the
    /// last one drained for the profile later: this one is only recorded
    /// as seen.
    Superseded,
    /// Its event id was taken in before: nothing changed.
    Duplicate,
}

pub struct LocationQueue {
    inv: Arc<Inventory>,
    /// Always there until the queue is dropped: then dropped first, which
    /// ends the writer once it answered all.
    jobs: Option<SyncSender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Pending records drained (`done`) since this process started.
    drained: std::sync::atomic::AtomicU64,
}

impl LocationQueue {
    /// Events for one profile within `aggregate` of its first coalesce.
    /// Starts the queue's writer thread, which ends with the queue.
    pub fn new(inv: Arc<Inventory>, aggregate: Duration) -> Result<LocationQueue, InventoryError> {
        let (jobs, rx) = sync_channel(MAX_WAITING);
        let store = inv.store.clone();
        let aggregate = aggregate.as_secs() as i64;
        let writer = std::thread::Builder::new()
            .name("location writer".into())
            .spawn(move || writer::run(store, aggregate, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the location writer: {e}")))?;
        Ok(LocationQueue {
            inv,
            jobs: Some(jobs),
            writer: Some(writer),
            drained: Default::default(),
        })
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inv
    }

    fn send(&self, op: Op) -> Result<oneshot::Receiver<Answer>, StoreError> {
        let (reply, rx) = oneshot::channel();
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.try_send(Job { op, reply }).map_err(|e| {
            StoreError::Backend(match e {
                TrySendError::Full(_) => "the location queue is full".into(),
                TrySendError::Disconnected(_) => "the location writer stopped".into(),
            })
        })?;
        Ok(rx)
    }

    /// Sends `op` and blocks until it is durable (not from an async task).
    fn run(&self, op: Op) -> Result<Outcome, InventoryError> {
        let rx = self.send(op)?;
        Ok(rx.blocking_recv().map_err(|_| stopped())??)
    }

    /// Sends `op` and waits, as a task, until it is durable.
    async fn run_async(&self, op: Op) -> Result<Outcome, InventoryError> {
        let rx = self.send(op)?;
        Ok(rx.await.map_err(|_| stopped())??)
    }

    /// The profile an event id was taken in for, if it was, as the store
    /// has it: only a hint until `barrier` says the store is durable up to
    /// now.
    pub fn seen_hint(&self, event_id: &str) -> Result<Option<String>, InventoryError> {
        let seen: Option<Seen> = self.inv.store().get(&seen_key(event_id))?;
        Ok(seen.map(|s| s.iccid))
    }

    /// The profile an event id was taken in for, if it was; waits first
    /// for everything applied so far to be durable, so that an id is never
    /// called a duplicate of an event a crash could still lose.
    pub fn seen(&self, event_id: &str) -> Result<Option<String>, InventoryError> {
        let hint = self.seen_hint(event_id)?;
        if hint.is_some() {
            self.barrier()?;
        }
        Ok(hint)
    }

    /// Returns once everything sent to the writer before is durable.
    pub fn barrier(&self) -> Result<(), InventoryError> {
        self.run(Op::Barrier).map(|_| ())
    }

    /// `barrier` for async callers.
    pub async fn barrier_async(&self) -> Result<(), InventoryError> {
        self.run_async(Op::Barrier).await.map(|_| ())
    }

    /// Takes `ev` in (its `received_at` is the node's time of arrival) and
    /// returns once that is durable.
    pub fn offer(&self, ev: Located) -> Result<Offered, InventoryError> {
        offered(self.run(Op::Offer(ev))?)
    }

    /// `offer` for async callers.
    pub async fn offer_async(&self, ev: Located) -> Result<Offered, InventoryError> {
        offered(self.run_async(Op::Offer(ev)).await?)
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
        let op = Op::Done {
            iccid: iccid.into(),
            event_id: event_id.into(),
        };
        let dropped = matches!(self.run(op)?, Outcome::Drained(true));
        if dropped {
            self.drained
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(dropped)
    }

    /// Pending records drained since this process started.
    pub fn drained(&self) -> u64 {
        self.drained.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets up to `limit` event ids taken in before `before`, oldest
    /// first; how many. An MVNE retry after that is taken in anew.
    pub fn compact(&self, before: UnixTime, limit: usize) -> Result<usize, InventoryError> {
        match self.run(Op::Compact { before, limit })? {
            Outcome::Compacted(n) => Ok(n),
            _ => Ok(0),
        }
    }
}

impl Drop for LocationQueue {
    /// Waits for the writer to finish, so that the store is released (a
    /// reopened store finds its lock free).
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the location writer stopped".into())
}

fn offered(o: Outcome) -> Result<Offered, InventoryError> {
    match o {
        Outcome::Offered(o) => Ok(o),
        // The writer answers each op with its own kind.
        other => Err(StoreError::Backend(format!("the location writer answered {other:?}")).into()),
    }
}
