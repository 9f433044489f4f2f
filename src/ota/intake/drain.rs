//! Draining the location queue: what falls due goes to a `LocationSink`,
//! and leaves the queue only once the sink took it. `drain_once` is the
//! whole step with the time passed in; `spawn_drain` ticks it every second.

use std::sync::Arc;
use std::time::Duration;

use crate::inventory::location_updates::LocationQueue;
use crate::model::clock::NodeClock;
use crate::model::ota::Located;
use crate::model::UnixTime;

/// Event ids are remembered this long for de-duplication.
pub const SEEN_KEEP: i64 = 7 * 86_400;

/// Most expired event ids forgotten per pass, so that one pass after a long
/// stop stays short.
const COMPACT_PER_PASS: usize = 10_000;

/// Whoever acts on locations (the swap engine). `Err` keeps the event
/// pending; it is offered again on the next tick.
pub trait LocationSink: Send + Sync {
    fn located(&self, l: &Located) -> Result<(), String>;
}

/// Logs each location at info: the swap engine does so before it decides,
/// and a node without one (tests, tools) can use this alone.
pub struct LogSink;

impl LocationSink for LogSink {
    fn located(&self, l: &Located) -> Result<(), String> {
        tracing::info!(
            event_id = %l.event_id,
            iccid = %l.iccid,
            imsi = ?l.imsi,
            mcc = %l.mcc,
            mnc = %l.mnc,
            observed_at = l.observed_at,
            "location drained"
        );
        Ok(())
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Taken by the sink and removed.
    pub delivered: usize,
    /// Refused by the sink (or not removed): tried again next pass.
    pub kept: usize,
    /// Expired event ids forgotten.
    pub forgotten: usize,
}

/// One pass at `now`: every due event to `sink`, oldest due first, then
/// the expired event ids forgotten. Blocking (store and sink).
pub fn drain_once(q: &LocationQueue, now: UnixTime, sink: &dyn LocationSink) -> Drained {
    let mut out = Drained::default();
    let due = match q.due(now) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "location queue not read");
            return out;
        }
    };
    for l in &due {
        if let Err(e) = sink.located(l) {
            tracing::warn!(event_id = %l.event_id, iccid = %l.iccid, error = %e, "location sink refused; kept for the next pass");
            out.kept += 1;
            continue;
        }
        match q.done(&l.iccid, &l.event_id) {
            Ok(_) => out.delivered += 1,
            Err(e) => {
                tracing::warn!(event_id = %l.event_id, error = %e, "drained location not removed; offered again");
                out.kept += 1;
            }
        }
    }
    match q.compact(now - SEEN_KEEP, COMPACT_PER_PASS) {
        Ok(n) => out.forgotten = n,
        Err(e) => tracing::warn!(error = %e, "expired location event ids not forgotten"),
    }
    out
}

/// Runs `drain_once` every second on the blocking pool, with the node
/// clock's time.
pub fn spawn_drain(
    queue: Arc<LocationQueue>,
    clock: Arc<NodeClock>,
    sink: Arc<dyn LocationSink>,
) -> tokio::task::JoinHandle<()> {
    crate::supervise::spawn("location_drain", move || {
        drain_forever(queue.clone(), clock.clone(), sink.clone())
    })
}

/// A pass every second; a pass that panicked ends the run, which the
/// supervisor counts and starts again.
async fn drain_forever(
    queue: Arc<LocationQueue>,
    clock: Arc<NodeClock>,
    sink: Arc<dyn LocationSink>,
) -> Result<(), tokio::task::JoinError> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (q, sink, now) = (queue.clone(), sink.clone(), clock.now());
        let d = tokio::task::spawn_blocking(move || drain_once(&q, now, &*sink)).await?;
        if d.delivered + d.kept + d.forgotten > 0 {
            tracing::debug!(
                delivered = d.delivered,
                kept = d.kept,
                forgotten = d.forgotten,
                "location drain pass"
            );
        }
    }
}
