//! Replays the failsafe journal to the upstream once one answers again:
//! one record at a time, in order, the durable cursor advanced only after
//! the upstream acknowledged it; a resend (a failed attempt, or the first
//! send after a restart) carries the T flag. A record the upstream refuses
//! for good (5xxx) is logged, counted and passed over, so that one bad
//! record does not stop the rest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::app::Proxy;
use super::journal::{pending, replay_request, Position, Record, Replay};
use crate::charging::xdr::read_after;
use crate::diameter::answer::Origin;
use crate::diameter::Message;
use crate::inventory::Inventory;
use crate::resolver::index::iccid_key;

pub const JOURNAL_DEPTH: &str = "gyro_proxy_journal_depth";
pub const REPLAY_LAG: &str = "gyro_proxy_replay_lag_seconds";
pub const REPLAYED: &str = "gyro_proxy_replayed_total";

/// How often the journal is looked at when idle, and the pause after a
/// failed send.
const EVERY: Duration = Duration::from_secs(1);

pub struct Replayer {
    pub proxy: Arc<Proxy>,
    pub inventory: Arc<Inventory>,
    pub xdr_dir: PathBuf,
    pub origin: Origin,
}

enum Sent {
    Acknowledged,
    Refused(u32),
    Failed,
}

impl Replayer {
    pub fn spawn(self) {
        tokio::spawn(async move { self.run().await });
    }

    async fn run(self) {
        // The first send after a start may repeat one the upstream took
        // just before a crash: mark it as a possible duplicate.
        let mut resend = true;
        loop {
            tokio::time::sleep(EVERY).await;
            // Reading the xDR files costs: only after local answers (or
            // once at a start, or after a failed send).
            if !self
                .proxy
                .journal_dirty
                .swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                continue;
            }
            let cursor = match self.inventory.replay_cursor() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "replay cursor unreadable");
                    continue;
                }
            };
            let durable = self.proxy.local.committer.durable_now();
            let dir = self.xdr_dir.clone();
            let lines = tokio::task::spawn_blocking(move || {
                read_after::<Record>(&dir, cursor.0.saturating_sub(1))
            })
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
            let scanned = lines.iter().map(|l| l.seq).filter(|s| *s <= durable).max();
            let todo = pending(lines, cursor, durable);
            self.gauges(&todo);
            let mut done = true;
            for (pos, r) in todo {
                match self.send(pos, &r, resend).await {
                    Sent::Acknowledged => {}
                    Sent::Refused(code) => {
                        metrics::counter!(REPLAYED, "result" => "refused").increment(1);
                        tracing::warn!(
                            seq = pos.0,
                            line = pos.1,
                            account = r.account,
                            result = code,
                            "journalled usage refused by the upstream; passed over"
                        );
                    }
                    Sent::Failed => {
                        resend = true;
                        done = false;
                        break;
                    }
                }
                resend = false;
                if let Err(e) = self.inventory.set_replay_cursor(pos) {
                    tracing::warn!(error = %e, "replay cursor not stored; the record will be resent");
                    resend = true;
                    done = false;
                    break;
                }
            }
            if !done {
                self.proxy
                    .journal_dirty
                    .store(true, std::sync::atomic::Ordering::Release);
                continue;
            }
            metrics::gauge!(JOURNAL_DEPTH).set(0.0);
            // Everything durable so far is done: the next scan (and the
            // next start) begins past it.
            if let Some(s) = scanned.filter(|s| (*s, u32::MAX) > cursor) {
                if let Err(e) = self.inventory.set_replay_cursor((s, u32::MAX)) {
                    tracing::warn!(error = %e, "replay cursor not stored");
                }
            }
        }
    }

    fn gauges(&self, todo: &[(Position, Record)]) {
        metrics::gauge!(JOURNAL_DEPTH).set(todo.len() as f64);
        let now = self.proxy.local.clock.now();
        let lag = todo.first().map_or(0, |(_, r)| (now - r.time).max(0));
        metrics::gauge!(REPLAY_LAG).set(lag as f64);
    }

    async fn send(&self, pos: Position, r: &Record, resend: bool) -> Sent {
        let Some(canonical) = iccid_key(&r.iccid).and_then(|k| self.proxy.canonical_of(k)) else {
            return Sent::Refused(crate::diameter::codes::result::USER_UNKNOWN);
        };
        let sid = super::journal::session_id(&self.origin.host, pos);
        let pick = self.proxy.pick_upstream(&sid);
        let Some(host) = pick else {
            return Sent::Failed;
        };
        let mut buf = BytesMut::with_capacity(512);
        let how = Replay {
            our_host: &self.origin.host,
            our_realm: &self.origin.realm,
            upstream_host: &host,
            canonical: &canonical,
            retransmit: resend,
        };
        replay_request(&mut buf, pos, r, &how);
        match self
            .proxy
            .upstreams
            .send(&host, buf.freeze(), self.proxy.tx)
            .await
        {
            Ok(answer) => match Message::new(&answer).and_then(|m| m.result_code()) {
                Some(2001) => {
                    metrics::counter!(REPLAYED, "result" => "ok").increment(1);
                    Sent::Acknowledged
                }
                Some(code) if code >= 5000 => Sent::Refused(code),
                _ => Sent::Failed,
            },
            Err(e) => {
                tracing::debug!(error = %e, upstream = %host, "journal replay not sent");
                Sent::Failed
            }
        }
    }
}
