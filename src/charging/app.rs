//! The Credit-Control application on the Diameter node: reads the CCR, asks
//! the engine, encodes the CCA, and holds it until the usage it acknowledges
//! is durable. Retransmissions get the stored answer, never a second charge.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use super::cca::{self, FinalUnit};
use super::ccr::Ccr;
use super::committer::Committer;
use super::engine::Engine;
use crate::diameter::transport::{AppContext, Application, Reply, Request};

pub struct CreditControl {
    pub engine: Arc<Engine>,
    pub committer: Committer,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A stored answer re-sent for a retransmission carries the new request's
/// Hop-by-Hop Identifier (the End-to-End one is the same by definition).
fn with_hop_by_hop(answer: &Bytes, hbh: u32) -> Bytes {
    let mut b = BytesMut::from(&answer[..]);
    if b.len() >= 16 {
        b[12..16].copy_from_slice(&hbh.to_be_bytes());
    }
    b.freeze()
}

impl Application for CreditControl {
    fn application_id(&self) -> u32 {
        4
    }

    fn handle(&self, req: Request, ctx: &AppContext, now: SystemTime) -> Reply {
        let m = req.message();
        let ccr = Ccr::read(&m);
        if let Some((stored, seq)) = self.engine.duplicate(&ccr, m.header.end_to_end) {
            metrics::counter!("gyro_charging_duplicates_total").increment(1);
            let answer = with_hop_by_hop(&stored, m.header.hop_by_hop);
            if seq <= self.committer.durable_now() {
                return Reply::Ready(Some(answer));
            }
            let c = self.committer.clone();
            return Reply::Later(Box::pin(
                async move { c.durable(seq).await.then_some(answer) },
            ));
        }
        let decision = self.engine.charge(&ccr, unix(now));
        if decision.result_code != 2001 {
            tracing::info!(session = ccr.session_id, result = decision.result_code, why = ?decision.error_message, "CCR refused");
        }
        let mut buf = BytesMut::with_capacity(256);
        let fui = FinalUnit {
            action: self.engine.cfg.final_unit_action,
            redirect_url: self.engine.cfg.redirect_url.as_deref(),
        };
        cca::encode(&mut buf, &ctx.origin, &m, &decision, &fui);
        let answer = buf.freeze();
        let seq = decision.commit.map_or(0, |c| self.committer.submit(c));
        self.engine
            .remember(&ccr, m.header.end_to_end, answer.clone(), seq);
        metrics::counter!("gyro_charging_requests_total", "result" => crate::diameter::transport::result_label(decision.result_code)).increment(1);
        if seq == 0 {
            return Reply::Ready(Some(answer));
        }
        let c = self.committer.clone();
        Reply::Later(Box::pin(
            async move { c.durable(seq).await.then_some(answer) },
        ))
    }
}

/// Supervision: releases the reservations of silent sessions (Tcc) once a second.
pub fn spawn_supervision(engine: Arc<Engine>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let n = engine.expire(unix(SystemTime::now()));
            if n > 0 {
                tracing::debug!(
                    sessions = n,
                    "sessions expired (Tcc), reservations released"
                );
            }
            metrics::gauge!("gyro_charging_sessions").set(engine.sessions.len() as f64);
        }
    });
}
