//! The Credit-Control application on the Diameter node: reads the CCR, has
//! the engine charge it, and holds the answer until the usage it
//! acknowledges is durable. Retransmissions get the kept answer, never a
//! second charge.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use super::cca::{self, Answering, FailureHandling, FinalUnit};
use super::ccr::Ccr;
use super::commit::{Commit, Committer};
use super::engine::{Decision, Engine, Sequencer};
use crate::diameter::answer::{simple_error, Origin};
use crate::diameter::codes::result;
use crate::diameter::header::command;
use crate::diameter::transport::{AppContext, Application, Reply, Request};
use crate::diameter::Message;

#[derive(Clone)]
pub struct CreditControl {
    pub engine: Arc<Engine>,
    pub committer: Committer,
    /// Sent in every CCA-I.
    pub failure: FailureHandling,
    /// The node clock (a test clock runs ahead of the system's).
    pub clock: Arc<crate::model::clock::NodeClock>,
}

impl Sequencer for Committer {
    fn accepting(&self) -> bool {
        Committer::accepting(self)
    }
    fn submit(&self, commit: Commit) -> u64 {
        Committer::submit(self, commit)
    }
}

/// A kept answer re-sent for a retransmission carries the new request's
/// Hop-by-Hop Identifier (the End-to-End one is the same by definition).
pub fn with_hop_by_hop(answer: &Bytes, hbh: u32) -> Bytes {
    let mut b = BytesMut::from(&answer[..]);
    if b.len() >= 16 {
        b[12..16].copy_from_slice(&hbh.to_be_bytes());
    }
    b.freeze()
}

impl CreditControl {
    /// Charges one CCR: its answer, and the commit sequence the answer may
    /// not leave before (0: none). Proxy mode answers through this too
    /// while no upstream answers.
    /// `via_peer`: the peer the request came over (RAR/ASR go back that way).
    pub fn charge(
        &self,
        m: &Message<'_>,
        origin: &Origin,
        via_peer: &str,
        now: SystemTime,
    ) -> (Bytes, u64) {
        let mut ccr = Ccr::read(m);
        ccr.via_peer = via_peer;
        let how = Answering {
            fui: FinalUnit {
                action: self.engine.cfg.final_unit_action,
                redirect_url: self.engine.cfg.redirect_url.as_deref(),
                filter_id: self.engine.cfg.filter_id.as_deref(),
            },
            topup_url: self.engine.cfg.topup_url.as_deref(),
            failure: self.failure,
        };
        let encode = |d: &Decision| {
            let mut buf = BytesMut::with_capacity(256);
            cca::encode(&mut buf, origin, m, d, &how);
            buf.freeze()
        };
        let c = self.engine.charge(
            &ccr,
            m.header.end_to_end,
            self.clock.at(now),
            &self.committer,
            &encode,
        );
        let answer = if c.duplicate {
            metrics::counter!("gyro_charging_duplicates_total").increment(1);
            with_hop_by_hop(&c.answer, m.header.hop_by_hop)
        } else {
            if c.result_code != result::SUCCESS {
                tracing::info!(
                    session = ccr.session_id,
                    result = c.result_code,
                    "CCR refused"
                );
            }
            count_request(c.result_code);
            c.answer
        };
        (answer, c.seq)
    }
}

impl Application for CreditControl {
    fn application_id(&self) -> u32 {
        crate::diameter::header::application::CREDIT_CONTROL
    }

    fn handle(&self, req: Request, ctx: &AppContext, now: SystemTime) -> Reply {
        let m = req.message();
        match m.header.command {
            command::CREDIT_CONTROL => {}
            command::SESSION_TERMINATION => {
                let ended = m
                    .session_id()
                    .is_some_and(|sid| self.engine.end_session(sid, self.clock.at(now)));
                let code = if ended {
                    result::SUCCESS
                } else {
                    result::UNKNOWN_SESSION_ID
                };
                let mut buf = BytesMut::with_capacity(128);
                cca::encode_sta(&mut buf, &ctx.origin, &m, code);
                return Reply::Ready(Some(buf.freeze()));
            }
            // Re-Auth and Abort-Session go from the server to the client,
            // never to gyro.
            _ => {
                let mut buf = BytesMut::with_capacity(128);
                simple_error(
                    &mut buf,
                    &ctx.origin,
                    &m,
                    result::COMMAND_UNSUPPORTED,
                    "gyro serves CCR and STR on the Credit-Control application",
                );
                return Reply::Ready(Some(buf.freeze()));
            }
        }
        let (answer, seq) = self.charge(&m, &ctx.origin, &req.peer.origin_host, now);
        if seq == 0 || seq <= self.committer.durable_now() {
            return Reply::Ready(Some(answer));
        }
        Reply::AfterTicket {
            ticket: seq,
            answer,
        }
    }

    fn tickets(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.committer.watermark())
    }
}

thread_local! {
    /// Counter handles by Result-Code (gyro's own few), registered once.
    static REQUESTS: std::cell::RefCell<rustc_hash::FxHashMap<u32, metrics::Counter>> =
        Default::default();
}

fn count_request(result_code: u32) {
    REQUESTS.with(|r| {
        r.borrow_mut()
            .entry(result_code)
            .or_insert_with(|| {
                metrics::counter!("gyro_charging_requests_total", "result" => crate::diameter::transport::result_label(result_code))
            })
            .increment(1)
    });
}

/// Supervision: once a second, Tcc for silent sessions and forgetting
/// ended ones.
pub fn spawn_supervision(engine: Arc<Engine>, clock: Arc<crate::model::clock::NodeClock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let swept = engine.expire(clock.now());
            if swept.expired > 0 {
                tracing::debug!(
                    sessions = swept.expired,
                    "silent sessions past Tcc ended, reservations released"
                );
            }
            metrics::gauge!("gyro_charging_sessions").set(engine.ledger.sessions() as f64);
        }
    });
}
