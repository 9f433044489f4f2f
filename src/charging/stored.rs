//! Charging's usage on its way into the store, after the xDR log made it
//! durable: gathered over `STORE_EVERY`, applied as one batch, retried while
//! the disk fails, and replayed from the log at start for what a crash kept
//! from the store.
//!
//! Errors are of two kinds. A failing disk (full, EIO: the store's backend
//! error) is transient: the group is retried with backoff, answers wait and,
//! past the stall bound, new requests get 3004. An item the store can never
//! take (a fair-usage event whose profile or account record does not
//! decode) is permanent: it is found by checking each event alone, parked
//! (recorded in the store with its error, counted in
//! `gyro_charging_parked_total`, logged) and the rest of the group goes
//! through, balances included.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::xdr::XdrWriter;
use crate::inventory::usage::{FupEvent, ParkedUsage, UsageGroup};
use crate::inventory::{Inventory, InventoryError};
use crate::model::Used;

/// How long usage may sit in the xDR log before it is applied to the store
/// (and how often a failing store is retried).
pub(super) const STORE_EVERY: Duration = Duration::from_millis(100);
/// Longest wait between two tries of a failing group.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Usage made durable in the xDR log and not yet applied to the store.
#[derive(Default)]
pub(super) struct Unstored {
    latest: FxHashMap<u64, Used>,
    fup_events: Vec<FupEvent>,
    fup_restores: Vec<u64>,
    parked: Vec<ParkedUsage>,
    sequence: u64,
    since: Option<Instant>,
    /// The last try failed: answers wait for the store until it is back.
    pub failing: bool,
}

impl Unstored {
    pub fn add(&mut self, u: UsageGroup) {
        // Groups come in sequence order: a later total replaces an earlier one.
        self.latest.extend(u.balances);
        self.fup_events.extend(u.fup_events);
        self.fup_restores.extend(u.fup_restores);
        self.sequence = u.sequence;
        self.since.get_or_insert_with(Instant::now);
    }
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|s| s + STORE_EVERY)
    }
    fn group(&self) -> UsageGroup {
        UsageGroup {
            balances: self.latest.iter().map(|(a, u)| (*a, *u)).collect(),
            fup_events: self.fup_events.clone(),
            fup_restores: self.fup_restores.clone(),
            sequence: self.sequence,
            parked: self.parked.clone(),
        }
    }

    /// Sets aside the events the store can never raise; true when any was.
    fn park(&mut self, inv: &Inventory) -> bool {
        let seq = self.sequence;
        let mut parked = vec![];
        self.fup_events
            .retain(|e| match inv.check_usage_event(e.account, Some(e)) {
                Err(err) if err.is_permanent() => {
                    parked.push(ParkedUsage {
                        sequence: seq,
                        account: e.account,
                        fup: Some(e.clone()),
                        error: err.to_string(),
                    });
                    false
                }
                _ => true,
            });
        self.fup_restores
            .retain(|a| match inv.check_usage_event(*a, None) {
                Err(err) if err.is_permanent() => {
                    parked.push(ParkedUsage {
                        sequence: seq,
                        account: *a,
                        fup: None,
                        error: err.to_string(),
                    });
                    false
                }
                _ => true,
            });
        for p in &parked {
            metrics::counter!("gyro_charging_parked_total").increment(1);
            tracing::error!(
                account = p.account,
                seq = p.sequence,
                error = %p.error,
                "a fair-usage event the store cannot raise is parked; the usage is applied and charging goes on"
            );
        }
        let any = !parked.is_empty();
        self.parked.extend(parked);
        any
    }

    /// One try: applies the group, parking what can never go in first.
    fn apply(&mut self, inv: &Inventory, flush: bool) -> Result<(), InventoryError> {
        match inv.commit_usage(&self.group(), flush) {
            Err(e) if e.is_permanent() && self.park(inv) => inv.commit_usage(&self.group(), flush),
            r => r,
        }
    }
}

/// Applies what the store lacks, retrying until it takes it. While it
/// fails, no answer leaves (the caller has not raised the watermark) and,
/// past the stall bound, new requests get 3004 (`failed` marks it busy).
pub(super) fn store_until_done(u: &mut Unstored, inv: &Inventory, flush: bool, failed: &dyn Fn()) {
    if u.since.is_none() && !flush {
        return;
    }
    let mut backoff = Duration::from_millis(20);
    loop {
        match u.apply(inv, flush) {
            Ok(()) => {
                *u = Unstored::default();
                return;
            }
            Err(e) => {
                u.failing = true;
                failed();
                metrics::counter!("gyro_charging_commit_failures_total").increment(1);
                tracing::error!(error = %e, seq = u.sequence, "cannot apply usage to the store; answers wait, retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Brings the store up to the xDR files (its flush lags their fsync) and
/// returns the last sequence both now hold.
pub(super) fn replay(inv: &Inventory, xdr: &XdrWriter) -> Result<u64, InventoryError> {
    let stored = inv.charging_sequence()?;
    let lines = xdr
        .replay_after(stored)
        .map_err(|e| crate::inventory::invalid("charging.xdr_dir", e.to_string()))?;
    let Some(top) = lines.last().map(|l| l.seq) else {
        return Ok(stored);
    };
    let mut u = Unstored::default();
    for l in &lines {
        if let Some(used) = l.used_after {
            u.latest.insert(l.account, used);
        }
        u.fup_events.extend(l.fup.clone());
    }
    u.sequence = top;
    u.apply(inv, true)?;
    tracing::warn!(
        lines = lines.len(),
        from = stored + 1,
        to = top,
        "usage the store had not flushed before a stop replayed from the xDR files"
    );
    Ok(top)
}
