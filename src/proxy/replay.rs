//! Presents the failsafe journal to the upstream once one answers again:
//! each entry as the request it was (`journal::replay_request`), oldest
//! first. An entry the OCS acknowledged leaves the journal; one it refused
//! is parked with the refusal, and its session's later entries wait behind
//! it while every other session goes on; a busy upstream, 3xxx or a lost
//! connection is tried again, backing off.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::app::Proxy;
use super::journal::{replay_request, sendable, Verdict};
use crate::diameter::answer::Origin;
use crate::inventory::proxy_journal::{JournalEntry, Refusal};
use crate::inventory::Inventory;

pub const JOURNAL_DEPTH: &str = "gyro_proxy_journal_depth";
pub const JOURNAL_PARKED: &str = "gyro_proxy_journal_parked";
pub const REPLAY_LAG: &str = "gyro_proxy_replay_lag_seconds";
pub const REPLAYED: &str = "gyro_proxy_replayed_total";
/// Retransmissions of locally answered requests answered from the journal.
pub const RETRANSMISSIONS: &str = "gyro_proxy_journal_retransmissions_total";

/// How often the journal is looked at.
const EVERY: Duration = Duration::from_secs(1);
/// Longest pause after a failed attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often kept answers past `KEPT_FOR` are removed from the store.
const FORGET_EVERY: Duration = Duration::from_secs(600);

pub struct Replayer {
    pub proxy: Arc<Proxy>,
    pub inventory: Arc<Inventory>,
    pub origin: Origin,
}

/// How one attempt went.
enum Sent {
    Acknowledged,
    Parked,
    /// Try again later, backing off (the upstream is busy or did not
    /// answer, or the store failed).
    Later,
    /// No upstream is up: look again in a second.
    NoUpstream,
}

/// How a pass over the journal ended.
enum Pass {
    Done,
    NoUpstream,
    Failed,
}

impl Replayer {
    pub fn spawn(self) {
        tokio::spawn(async move { self.run().await });
    }

    async fn run(self) {
        let mut pause = EVERY;
        let mut forgotten = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(pause).await;
            if forgotten.elapsed() >= FORGET_EVERY {
                forgotten = tokio::time::Instant::now();
                self.forget_old_answers().await;
            }
            let inv = self.inventory.clone();
            let entries = match tokio::task::spawn_blocking(move || inv.journal()).await {
                Ok(Ok(e)) => e,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "failsafe journal unreadable");
                    continue;
                }
                Err(_) => continue,
            };
            self.gauges(&entries);
            pause = match self.pass(&entries).await {
                Pass::Done | Pass::NoUpstream => EVERY,
                Pass::Failed => (pause * 2).min(MAX_BACKOFF),
            };
        }
    }

    /// Presents what can go now, oldest first, until an attempt fails.
    async fn pass(&self, entries: &[JournalEntry]) -> Pass {
        let mut parked_now: Vec<&str> = vec![];
        for e in sendable(entries) {
            if parked_now.contains(&e.session_id.as_str()) {
                continue;
            }
            match self.present(e).await {
                Sent::Acknowledged => {}
                Sent::Parked => parked_now.push(&e.session_id),
                Sent::NoUpstream => return Pass::NoUpstream,
                Sent::Later => return Pass::Failed,
            }
        }
        Pass::Done
    }

    async fn forget_old_answers(&self) {
        let before = self.proxy.local.clock.now() - super::journal::KEPT_FOR;
        let inv = self.inventory.clone();
        match tokio::task::spawn_blocking(move || inv.journal_forget_answered(before)).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(answers = n, "kept local answers forgotten"),
            Ok(Err(e)) => tracing::warn!(error = %e, "kept local answers not forgotten"),
            _ => {}
        }
    }

    fn gauges(&self, entries: &[JournalEntry]) {
        let parked = entries.iter().filter(|e| e.parked.is_some()).count();
        metrics::gauge!(JOURNAL_DEPTH).set(entries.len() as f64);
        metrics::gauge!(JOURNAL_PARKED).set(parked as f64);
        let now = self.proxy.local.clock.now();
        let lag = entries
            .iter()
            .find(|e| e.parked.is_none())
            .map_or(0, |e| (now - e.at).max(0));
        metrics::gauge!(REPLAY_LAG).set(lag as f64);
    }

    /// Presents one entry to the upstream its session goes to.
    async fn present(&self, e: &JournalEntry) -> Sent {
        let Some((index, host)) = self.proxy.pick_upstream(&e.session_id) else {
            return Sent::NoUpstream;
        };
        let mut buf = BytesMut::with_capacity(e.request.len() + 128);
        let answer = match replay_request(&mut buf, e, &self.origin.host, &host) {
            Ok(_) => {
                self.proxy
                    .upstreams
                    .send(&host, buf.freeze(), self.proxy.tx)
                    .await
            }
            Err(err) => {
                tracing::error!(error = %err, "journal entry cannot be presented; parked");
                let refusal = Verdict::Refused {
                    result_code: 0,
                    mscc_result_codes: vec![],
                    error_message: Some(err.to_string()),
                };
                return self.park(e, &host, refusal, vec![]).await;
            }
        };
        let answer = match answer {
            Ok(a) => a,
            Err(err) => {
                tracing::debug!(error = %err, upstream = %host, "journal entry not presented");
                return Sent::Later;
            }
        };
        match super::journal::verdict(&answer) {
            Verdict::Acknowledged => {
                let now = self.proxy.local.clock.now();
                let inv = self.inventory.clone();
                let done = e.clone();
                let stored =
                    tokio::task::spawn_blocking(move || inv.journal_acknowledged(&done, now)).await;
                if !matches!(stored, Ok(Ok(()))) {
                    // Presented again later: the OCS knows it for a duplicate.
                    tracing::warn!(id = e.id, "journal entry acknowledged but not yet removed");
                    return Sent::Later;
                }
                self.proxy
                    .journal
                    .acknowledged(&e.session_id, e.request_number, now);
                self.proxy.settle(&e.session_id, index, now);
                metrics::counter!(REPLAYED, "result" => "ok").increment(1);
                Sent::Acknowledged
            }
            Verdict::Retry => Sent::Later,
            refused => self.park(e, &host, refused, answer.to_vec()).await,
        }
    }

    async fn park(&self, e: &JournalEntry, host: &str, v: Verdict, answer: Vec<u8>) -> Sent {
        let Verdict::Refused {
            result_code,
            mscc_result_codes,
            error_message,
        } = v
        else {
            return Sent::Later;
        };
        tracing::warn!(
            id = e.id,
            session = %e.session_id,
            account = e.account,
            result = result_code,
            mscc = ?mscc_result_codes,
            "journal entry refused by the upstream; parked until an operator retries it"
        );
        let mut parked = e.clone();
        parked.attempts += 1;
        parked.parked = Some(Refusal {
            at: self.proxy.local.clock.now(),
            upstream: host.to_string(),
            result_code,
            mscc_result_codes,
            error_message,
            answer,
        });
        let inv = self.inventory.clone();
        match tokio::task::spawn_blocking(move || inv.journal_update(&parked)).await {
            Ok(Ok(())) => {
                metrics::counter!(REPLAYED, "result" => "parked").increment(1);
                Sent::Parked
            }
            _ => Sent::Later,
        }
    }
}
