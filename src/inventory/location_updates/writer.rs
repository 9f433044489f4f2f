//! The one writer of the location keys: a thread that takes offers, drains
//! and compactions in arrival order, decides each against the store and the
//! writes of its own group, and commits a whole group as one store batch
//! before it answers any of them. sled 0.34 writes its log twice for every
//! batch, whatever its size, and wakes its I/O threads each time: one batch
//! per group instead of one per webhook is what keeps a webhook cheap.
//!
//! Having one owner also means no lock: two events for one profile are
//! decided one after the other by the same thread, so they never both find
//! no pending record, and a drain never deletes a record an offer in the
//! same group has just rewritten.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{
    drained_key, queue_key, seen_key, seen_time_key, Answer, Offered, PendingLocation, Seen,
    SEEN_BY_TIME,
};
use crate::inventory::store::{Storage, StorageExt, StoreError, WriteBatch};
use crate::model::ota::Located;
use crate::model::UnixTime;

/// Most jobs one group takes: bounds a group's batch and its answer delay.
const MAX_GROUP: usize = 4096;

/// What the writer is asked to do.
pub(super) enum Op {
    /// Take an event in (its `received_at` is set).
    Offer(Located),
    /// Drop the profile's pending record if it still holds the event.
    Done { iccid: String, event_id: String },
    /// Forget up to `limit` event ids taken in before `before`.
    Compact { before: UnixTime, limit: usize },
    /// Nothing: answered once everything sent before it is durable.
    Barrier,
}

/// What became of an op, once durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Offered(Offered),
    Drained(bool),
    Compacted(usize),
    Barrier,
}

pub(super) struct Job {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Answer>,
}

/// One group's writes, and what its ops read back before they are applied.
struct Group {
    batch: WriteBatch,
    /// Pending records written in this group (None: deleted).
    pending: HashMap<String, Option<PendingLocation>>,
    /// Event ids taken in (true) or forgotten (false) in this group.
    seen: HashMap<String, bool>,
    /// The last drained `observed_at` per profile, set in this group.
    drained: HashMap<String, UnixTime>,
    replies: Vec<(oneshot::Sender<Answer>, Outcome)>,
}

impl Group {
    fn new() -> Group {
        Group {
            batch: WriteBatch::default(),
            pending: HashMap::new(),
            seen: HashMap::new(),
            drained: HashMap::new(),
            replies: Vec::new(),
        }
    }

    fn seen(&self, store: &dyn Storage, event_id: &str) -> Result<bool, StoreError> {
        match self.seen.get(event_id) {
            Some(&s) => Ok(s),
            None => store.exists(&seen_key(event_id)),
        }
    }

    fn pending(
        &self,
        store: &dyn Storage,
        iccid: &str,
    ) -> Result<Option<PendingLocation>, StoreError> {
        match self.pending.get(iccid) {
            Some(p) => Ok(p.clone()),
            None => store.get(&queue_key(iccid)),
        }
    }

    /// Whether the profile's last drained event was observed after `ev`:
    /// the engine already acted on a newer location. (The same instant is
    /// no proof of order: the MVNE's clock ticks in seconds, and a sighting
    /// that comes later is taken as the newer one.)
    fn drained_since(&self, store: &dyn Storage, ev: &Located) -> Result<bool, StoreError> {
        let last = match self.drained.get(&ev.iccid) {
            Some(&at) => Some(at),
            None => store.get::<UnixTime>(&drained_key(&ev.iccid))?,
        };
        Ok(last.is_some_and(|at| at > ev.observed_at))
    }

    fn put_pending(&mut self, p: PendingLocation) {
        self.batch.put(queue_key(&p.event.iccid), &p);
        self.pending.insert(p.event.iccid.clone(), Some(p));
    }
}

/// The writer thread's body: one group per pass until every sender is gone.
pub(super) fn run(store: Arc<dyn Storage>, aggregate: i64, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut g = Group::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match apply(&*store, aggregate, &mut g, job.op) {
                Ok(outcome) => g.replies.push((job.reply, outcome)),
                // A failed read fails this op alone; the group goes on.
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
            if g.replies.len() < MAX_GROUP {
                // Empty or disconnected: this group is whole.
                next = jobs.try_recv().ok();
            }
        }
        let committed = if g.batch.is_empty() {
            // Barriers and no-ops still wait for what came before: an empty
            // commit is the store's flush.
            store.commit(WriteBatch::default())
        } else {
            store.commit(std::mem::take(&mut g.batch))
        };
        for (reply, outcome) in g.replies {
            let answer = match &committed {
                Ok(_) => Ok(outcome),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            };
            // A caller that gave up waiting is no one to tell.
            let _ = reply.send(answer);
        }
    }
}

fn apply(
    store: &dyn Storage,
    aggregate: i64,
    g: &mut Group,
    op: Op,
) -> Result<Outcome, StoreError> {
    match op {
        Op::Offer(ev) => offer(store, aggregate, g, ev).map(Outcome::Offered),
        Op::Done { iccid, event_id } => {
            let held = g
                .pending(store, &iccid)?
                .filter(|p| p.event.event_id == event_id);
            let Some(p) = held else {
                return Ok(Outcome::Drained(false));
            };
            g.batch.delete(queue_key(&iccid));
            // A pending record only ever starts with an event newer than
            // the last drained one, so this only moves forward.
            g.batch.put(drained_key(&iccid), &p.event.observed_at);
            g.drained.insert(iccid.clone(), p.event.observed_at);
            g.pending.insert(iccid, None);
            Ok(Outcome::Drained(true))
        }
        Op::Compact { before, limit } => compact(store, g, before, limit).map(Outcome::Compacted),
        Op::Barrier => Ok(Outcome::Barrier),
    }
}

fn offer(
    store: &dyn Storage,
    aggregate: i64,
    g: &mut Group,
    ev: Located,
) -> Result<Offered, StoreError> {
    // Both reads before any write: a failed read leaves the group as it was.
    if g.seen(store, &ev.event_id)? {
        return Ok(Offered::Duplicate);
    }
    let pending = g.pending(store, &ev.iccid)?;
    let late = pending.is_none() && g.drained_since(store, &ev)?;
    let seen = Seen {
        at: ev.received_at,
        iccid: ev.iccid.clone(),
    };
    g.batch.put(seen_key(&ev.event_id), &seen);
    g.batch
        .put(seen_time_key(ev.received_at, &ev.event_id), &String::new());
    g.seen.insert(ev.event_id.clone(), true);
    let (record, outcome) = match pending {
        // Late: the engine has acted on a newer location already.
        None if late => return Ok(Offered::Superseded),
        None => (
            PendingLocation {
                first_received: ev.received_at,
                due: ev.received_at + aggregate,
                coalesced: 0,
                event: ev,
            },
            Offered::Queued,
        ),
        Some(mut p) => {
            p.coalesced = p.coalesced.saturating_add(1);
            if ev.observed_at > p.event.observed_at {
                p.event = ev;
                (p, Offered::Replaced)
            } else {
                (p, Offered::Superseded)
            }
        }
    };
    g.put_pending(record);
    Ok(outcome)
}

fn compact(
    store: &dyn Storage,
    g: &mut Group,
    before: UnixTime,
    limit: usize,
) -> Result<usize, StoreError> {
    let prefix = SEEN_BY_TIME.as_bytes();
    // (time key, event id if it has one): written only once the visit ended.
    let mut expired: Vec<(Vec<u8>, Option<String>)> = Vec::new();
    store.visit(prefix, &mut |k, _| {
        let rest = &k[prefix.len()..];
        let at = std::str::from_utf8(rest.get(..20).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        match at {
            _ if expired.len() >= limit => Err(StoreError::Stop),
            Some(at) if at < before => {
                let id = String::from_utf8_lossy(rest.get(21..).unwrap_or_default()).into_owned();
                expired.push((k.to_vec(), Some(id)));
                Ok(())
            }
            // A key of another shape would never expire: drop it.
            None => {
                expired.push((k.to_vec(), None));
                Ok(())
            }
            Some(_) => Err(StoreError::Stop),
        }
    })?;
    let mut n = 0;
    for (key, id) in expired {
        g.batch.delete(key);
        if let Some(id) = id {
            g.batch.delete(seen_key(&id));
            g.seen.insert(id, false);
            n += 1;
        }
    }
    Ok(n)
}
