//! The way up: a gateway's request rewritten to the canonical identity and
//! sent to an upstream, failing over on silence (Tx), a lost connection,
//! 3002 or 3004 (RFC 6733 §6.1.8, RFC 4006 §5.7), with the T flag on every
//! resend; the answer relayed back with the gateway's identities. When no
//! upstream answers: 3002, or (`on_upstream_down = "local"`) gyro's own
//! answer, journalled.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::app::{refuse, relay_back, GatewaySide, Proxy, WHOLESALE_UNRECORDED};
use super::config::OnUpstreamDown;
use super::relaying::Claim;
use super::rewrite::{forward_request, identities, Canonical, Forward, Names, RewriteError};
use super::wholesale::{usage_commit, Answered};
use crate::charging::app::with_hop_by_hop;
use crate::charging::ccr::{Ccr, RequestType};
use crate::charging::identity::{location, subscriber};
use crate::charging::session::KeptAnswer;
use crate::diameter::answer::Origin;
use crate::diameter::codes::{avp, result};
use crate::diameter::header::command;
use crate::diameter::Message;
use crate::model::RateCode;
use crate::resolver::Subscriber;

/// An upstream's answer, and which upstream gave it.
pub(super) struct Upstream {
    pub index: usize,
    pub host: String,
    pub answer: Bytes,
}

/// A relayed request's usage: when and where, and the answer it got.
struct Wholesale<'a> {
    e2e: u32,
    now: i64,
    usage_at: Option<RateCode>,
    answer: &'a Bytes,
}

/// Retransmissions of relayed requests answered from the kept answer.
const RELAYED_AGAIN: &str = "gyro_proxy_retransmissions_answered_total";

/// Why no upstream answered: how many were sent the request, and how many
/// were passed over at their in-flight bound.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NoUpstream {
    pub sent: usize,
    pub busy: usize,
}

/// What a local answer journals besides the request: how it would have
/// gone up.
pub(super) struct GoingUp<'a> {
    pub canonical: &'a Canonical,
    pub visited: Option<&'a str>,
    pub account: u64,
}

/// Whether an upstream's answer means "try another one" (RFC 6733 §6.1.8).
fn fails_over(answer: &[u8]) -> bool {
    Message::new(answer)
        .and_then(|m| m.result_code())
        .is_some_and(|rc| rc == result::UNABLE_TO_DELIVER || rc == result::TOO_BUSY)
}

impl Proxy {
    /// A CCR: resolved and rewritten to the canonical identity (5030 here
    /// for subscribers gyro cannot charge), its usage costed wholesale.
    pub(super) async fn relay_ccr(
        self: &Arc<Self>,
        req: &Message<'_>,
        origin: &Origin,
        peer: &str,
        now: i64,
    ) -> Option<Bytes> {
        let ccr = Ccr::read(req);
        // A retransmission of a request gyro answered itself: the same
        // answer, neither forwarded nor charged again.
        if let Some(a) =
            self.journal
                .answer_for(ccr.session_id, ccr.request_number, req.header.end_to_end)
        {
            metrics::counter!(super::replay::RETRANSMISSIONS).increment(1);
            return Some(with_hop_by_hop(&a, req.header.hop_by_hop));
        }
        // One the OCS answered and gyro recorded: the OCS's answer again,
        // so that its wholesale cost is recorded once (its first xDR line
        // keeps the answer across a restart).
        let retained = &self.local.engine.retained;
        let e2e = req.header.end_to_end;
        if let Some(k) = retained.answer_for(ccr.session_id, ccr.request_number, e2e) {
            metrics::counter!(RELAYED_AGAIN).increment(1);
            return Some(with_hop_by_hop(&k.bytes, req.header.hop_by_hop));
        }
        let continues = matches!(
            ccr.request_type,
            Some(RequestType::Update | RequestType::Termination)
        );
        if continues && retained.is_stale(ccr.session_id, ccr.request_number) {
            let why = "CC-Request-Number below every answer kept: an old copy, relayed when first answered";
            return Some(refuse(origin, req, result::UNABLE_TO_COMPLY, why.into()));
        }
        let first = match self.relaying.claim(ccr.session_id, ccr.request_number, e2e) {
            Claim::First(f) => Some(f),
            Claim::Copy(rx) => match super::relaying::wait(rx).await {
                Some(a) => {
                    metrics::counter!(RELAYED_AGAIN).increment(1);
                    return Some(with_hop_by_hop(&a, req.header.hop_by_hop));
                }
                None => None,
            },
        };
        let answer = self.relay_claimed(req, &ccr, origin, peer, now).await;
        if let (Some(f), Some(a)) = (first, &answer) {
            f.finish(a);
        }
        answer
    }

    /// `relay_ccr` once no other copy of the request is on its way up.
    async fn relay_claimed(
        self: &Arc<Self>,
        req: &Message<'_>,
        ccr: &Ccr<'_>,
        origin: &Origin,
        peer: &str,
        now: i64,
    ) -> Option<Bytes> {
        let sub = match subscriber(&self.index, ccr, now) {
            Ok(s) => s,
            Err(u) => return Some(refuse(origin, req, result::USER_UNKNOWN, u.0)),
        };
        let Some(canonical) = self.canonical(&sub) else {
            let why = format!(
                "account {} has no {:?} to charge upstream by",
                sub.account, self.identity
            );
            return Some(refuse(origin, req, result::USER_UNKNOWN, why));
        };
        let loc = location(ccr);
        let visited = loc.map(|p| p.to_string());
        let going_up = GoingUp {
            canonical: &canonical,
            visited: visited.as_deref(),
            account: sub.account,
        };
        // The OCS has not yet acknowledged what gyro answered of this
        // session: this request waits behind it, answered locally.
        if self.on_down == OnUpstreamDown::Local && self.journal.holds(ccr.session_id) {
            return Some(self.answer_locally(origin, req, peer, &going_up).await);
        }
        let names = Names::Canonical(&canonical);
        let up = match self.send_up(req, origin, names, going_up.visited).await {
            Ok(up) => up,
            Err(none) => {
                return Some(
                    self.no_upstream(origin, req, peer, none, Some(&going_up))
                        .await,
                )
            }
        };
        let a = Message::new(&up.answer)?;
        let at = loc.map(|p| p.rate_code());
        let usage_at = self.after_answer(ccr.session_id, ccr.request_type, up.index, now, at);
        // RFC 4006 §5.7: an OCS without failover support keeps its sessions.
        if a.find(avp::CC_SESSION_FAILOVER, 0)
            .and_then(|x| x.enumerated().ok())
            == Some(0)
        {
            if let Ok(mut r) = self.router.lock() {
                r.pin(ccr.session_id);
            }
        }
        self.remember_gateway(req, ccr, peer, (canonical, sub.account), now);
        let by = Answered {
            upstream: &up.host,
            result_code: a.result_code().unwrap_or(0),
        };
        let back = relay_back(origin, req, &up.answer);
        let wholesale = Wholesale {
            e2e: req.header.end_to_end,
            now,
            usage_at: usage_at.or(at),
            answer: &back,
        };
        self.record_wholesale(ccr, &sub, &wholesale, &by).await;
        Some(back)
    }

    fn remember_gateway(
        &self,
        req: &Message<'_>,
        ccr: &Ccr<'_>,
        peer: &str,
        (canonical, account): (crate::proxy::rewrite::Canonical, u64),
        now: i64,
    ) {
        if matches!(
            ccr.request_type,
            Some(RequestType::Termination | RequestType::Event)
        ) {
            self.gateways.remove(ccr.session_id);
            return;
        }
        match self.gateways.get_mut(ccr.session_id) {
            Some(mut g) => g.seen = now,
            None => {
                self.gateways.insert(
                    ccr.session_id.to_string(),
                    GatewaySide {
                        peer: peer.to_string(),
                        identities: Bytes::from(identities(req)),
                        canonical,
                        seen: now,
                        account,
                        host: ccr.origin_host.into(),
                        realm: ccr.origin_realm.into(),
                    },
                );
            }
        }
    }

    /// Any other request of a session (an STR): to where the session is,
    /// with the canonical identity if it names the subscriber at all.
    pub(super) async fn relay_session(
        self: &Arc<Self>,
        req: &Message<'_>,
        origin: &Origin,
        peer: &str,
    ) -> Bytes {
        let sid = req.session_id().unwrap_or_default().to_string();
        let side = self.gateways.get(&sid).map(|g| g.clone());
        let names = match &side {
            Some(g) => Names::Canonical(&g.canonical),
            None => Names::Unchanged,
        };
        let up = match self.send_up(req, origin, names, None).await {
            Ok(up) => up,
            Err(none) => return self.no_upstream(origin, req, peer, none, None).await,
        };
        if req.header.command == command::SESSION_TERMINATION {
            self.gateways.remove(&sid);
            if let Ok(mut r) = self.router.lock() {
                r.forget(&sid);
            }
        }
        relay_back(origin, req, &up.answer)
    }

    /// Sends `req` up, failing over until one upstream answers; an
    /// upstream at its in-flight bound is passed over. Err: none answered.
    async fn send_up(
        &self,
        req: &Message<'_>,
        origin: &Origin,
        names: Names<'_>,
        visited: Option<&str>,
    ) -> Result<Upstream, NoUpstream> {
        let session = req.session_id().unwrap_or_default();
        let mut tried = vec![];
        let mut none = NoUpstream::default();
        loop {
            let pick = {
                let r = self.router.lock().map_err(|_| none)?;
                let up = |h: &str| self.upstreams.is_up(h);
                r.pick(session, &tried, &up)
                    .map(|i| (i, r.upstreams()[i].host.clone()))
            };
            let Some((i, host)) = pick else {
                return Err(none);
            };
            let Some(_place) = self.in_flight.to_upstream(&host) else {
                tried.push(i);
                none.busy += 1;
                continue;
            };
            let mut buf = BytesMut::with_capacity(req.raw().len() + 128);
            let f = Forward {
                our_host: &origin.host,
                destination_host: Some(&host),
                names,
                visited,
                retransmit: none.sent > 0 || req.header.is_retransmit(),
            };
            if let Err(RewriteError::Loop) = forward_request(&mut buf, req, &f) {
                // Said as an answer of our own: a loop has no upstream to try.
                let why = "the request already passed through this node".to_string();
                let answer = refuse(origin, req, result::LOOP_DETECTED, why);
                return Ok(Upstream {
                    index: i,
                    host,
                    answer,
                });
            }
            tried.push(i);
            none.sent += 1;
            match self.upstreams.send(&host, buf.freeze(), self.tx).await {
                Ok(answer) if !fails_over(&answer) => {
                    return Ok(Upstream {
                        index: i,
                        host,
                        answer,
                    })
                }
                Ok(_) => {
                    tracing::info!(upstream = %host, session, "upstream busy or cannot deliver; failing over")
                }
                Err(e) => tracing::warn!(upstream = %host, session, error = %e, "failing over"),
            }
        }
    }

    /// Records where the session went; returns where its usage happened
    /// (the location before this request).
    fn after_answer(
        &self,
        session: &str,
        rt: Option<RequestType>,
        i: usize,
        now: i64,
        at: Option<RateCode>,
    ) -> Option<RateCode> {
        let mut r = self.router.lock().ok()?;
        let before = r.location(session);
        match rt {
            Some(RequestType::Termination | RequestType::Event) => r.forget(session),
            _ => r.stick(session, i, now, at),
        }
        before
    }

    /// The sponsors' wholesale cost of the relayed usage, durable before
    /// the answer goes back (as in embedded mode).
    async fn record_wholesale(
        &self,
        ccr: &Ccr<'_>,
        sub: &Subscriber,
        w: &Wholesale<'_>,
        by: &Answered<'_>,
    ) {
        let Some(at) = w.usage_at else { return };
        let rating = self.local.engine.rating();
        let catalog = self.index.catalog();
        let (e2e, now) = (w.e2e, w.now);
        let Some(mut c) = usage_commit(&rating, &catalog, sub, ccr, e2e, now, at, by) else {
            return;
        };
        if let Some(first) = c.xdrs.first_mut() {
            first.answer = Some(w.answer.clone());
        }
        let committer = &self.local.committer;
        if !committer.accepting() {
            metrics::counter!(WHOLESALE_UNRECORDED).increment(c.xdrs.len() as u64);
            tracing::warn!(session = %ccr.session_id, "wholesale xDRs not recorded: the disk is stalled");
            return;
        }
        let seq = committer.submit(c);
        self.durable(seq).await;
        let kept = KeptAnswer {
            number: ccr.request_number,
            end_to_end: e2e,
            bytes: w.answer.clone(),
            seq,
            at: now,
        };
        self.local
            .engine
            .retained
            .keep(ccr.session_id, [&kept], now);
    }

    pub(super) async fn durable(&self, seq: u64) {
        if seq > 0 {
            let mut w = self.local.committer.watermark();
            let _ = w.wait_for(|d| *d >= seq).await;
        }
    }

    /// No upstream answered: 3004 when the ones there were are at their
    /// bound, 3002, or gyro's own answer within the failsafe grant,
    /// journalled for replay.
    async fn no_upstream(
        &self,
        origin: &Origin,
        req: &Message<'_>,
        peer: &str,
        none: NoUpstream,
        going_up: Option<&GoingUp<'_>>,
    ) -> Bytes {
        if none.sent == 0 && none.busy > 0 {
            let why = "every upstream OCS has too many requests in flight".to_string();
            return refuse(origin, req, result::TOO_BUSY, why);
        }
        if let (OnUpstreamDown::Local, Some(g)) = (self.on_down, going_up) {
            return self.answer_locally(origin, req, peer, g).await;
        }
        let why = if none.sent == 0 {
            "no upstream OCS is connected".to_string()
        } else {
            format!("no upstream OCS answered ({} tried)", none.sent)
        };
        refuse(origin, req, result::UNABLE_TO_DELIVER, why)
    }
}
