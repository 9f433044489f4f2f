//! The proxy's Credit-Control application: resolve, rewrite, forward,
//! fail over, relay. Requests for subscribers gyro cannot charge are
//! answered here (5030) without bothering the OCS.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};

use super::config::{Identity, OnUpstreamDown};
use super::rewrite::{forward_request, relay_answer, Canonical, Forward, RewriteError};
use super::route::{Router, UpstreamDef};
use super::wholesale::{usage_commit, Answered};
use crate::charging::app::CreditControl;
use crate::charging::cca;
use crate::charging::ccr::{Ccr, RequestType};
use crate::charging::engine::Decision;
use crate::charging::identity::{location, subscriber};
use crate::diameter::answer::{simple_error, Origin};
use crate::diameter::codes::result;
use crate::diameter::header::{application, command};
use crate::diameter::transport::app::{AppContext, Application, Reply, Request};
use crate::diameter::Message;
use crate::resolver::index::iccid_string;
use crate::resolver::location::RateCode;
use crate::resolver::{Index, Subscriber};

/// Wholesale xDRs of relayed usage that could not be recorded.
pub const WHOLESALE_UNRECORDED: &str = "gyro_proxy_wholesale_unrecorded_total";

/// Requests answered by gyro's own rating while no upstream answered.
pub const LOCAL_ANSWERS: &str = "gyro_proxy_local_answers_total";

/// Why a forwarded request got no answer from one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    #[error("no open connection")]
    NotConnected,
    #[error("the connection was lost")]
    TransportLost,
    #[error("no answer within Tx")]
    Timeout,
}

pub type SendFuture = Pin<Box<dyn Future<Output = Result<Bytes, SendFailure>> + Send>>;

/// The transport as the proxy needs it: which upstreams are up, and a
/// request sent to one of them with its answer back.
pub trait Upstreams: Send + Sync + 'static {
    fn is_up(&self, host: &str) -> bool;
    fn send(&self, host: &str, request: Bytes, tx: Duration) -> SendFuture;
}

/// The profile's own IMSI (slot 1), for `proxy.identity = "imsi"`.
pub type HomeImsi = dyn Fn(u128) -> Option<String> + Send + Sync;

pub struct Proxy {
    pub index: Arc<Index>,
    /// The embedded OCS: rating data for the sponsors' wholesale cost, and
    /// the answers while no upstream answers (`on_upstream_down = "local"`).
    pub local: CreditControl,
    pub upstreams: Arc<dyn Upstreams>,
    pub router: Mutex<Router>,
    pub identity: Identity,
    pub on_down: OnUpstreamDown,
    pub tx: Duration,
    pub home_imsi: Box<HomeImsi>,
    /// Set when a request was answered locally: the journal has work.
    pub journal_dirty: std::sync::atomic::AtomicBool,
}

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        local: CreditControl,
        upstreams: Arc<dyn Upstreams>,
        defs: Vec<UpstreamDef>,
        identity: Identity,
        on_down: OnUpstreamDown,
        tx: Duration,
        home_imsi: Box<HomeImsi>,
    ) -> Proxy {
        Proxy {
            index: local.engine.index.clone(),
            local,
            upstreams,
            router: Mutex::new(Router::new(defs)),
            identity,
            on_down,
            tx,
            home_imsi,
            journal_dirty: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The canonical identity of the profile `iccid` (journal replays).
    pub fn canonical_of(&self, iccid: u128) -> Option<Canonical> {
        let sub = Subscriber {
            imsi: 0,
            iccid,
            slot: 0,
            sponsor: crate::resolver::resolve::NO_SPONSOR,
            account: 0,
            product: 0,
        };
        self.canonical(&sub)
    }

    /// The upstream a new session would go to now.
    pub fn pick_upstream(&self, session_id: &str) -> Option<String> {
        let r = self.router.lock().ok()?;
        let up = |h: &str| self.upstreams.is_up(h);
        r.pick(session_id, &[], &up)
            .map(|i| r.upstreams()[i].host.clone())
    }

    fn canonical(&self, sub: &Subscriber) -> Option<Canonical> {
        match self.identity {
            Identity::Msisdn => self
                .index
                .msisdn_of_profile(sub.iccid)
                .map(|m| Canonical::msisdn(&m.to_string())),
            Identity::Iccid => (sub.iccid != 0).then(|| Canonical::iccid(&iccid_string(sub.iccid))),
            Identity::Imsi => (self.home_imsi)(sub.iccid).map(|i| Canonical::imsi(&i)),
        }
    }
}

/// A CCA refusing the request without forwarding it.
fn refuse(origin: &Origin, req: &Message<'_>, code: u32, why: String) -> Bytes {
    let mut buf = BytesMut::with_capacity(256);
    if req.header.command == command::CREDIT_CONTROL {
        let d = Decision {
            result_code: code,
            error_message: Some(why),
            ..Decision::default()
        };
        let how = cca::Answering {
            fui: cca::FinalUnit {
                action: 0,
                redirect_url: None,
                filter_id: None,
            },
            failure: cca::FailureHandling::default(),
        };
        cca::encode(&mut buf, origin, req, &d, &how);
    } else {
        simple_error(&mut buf, origin, req, code, &why);
    }
    buf.freeze()
}

/// Whether an upstream's answer means "try another one" (RFC 6733 §6.1.8).
fn fails_over(answer: &[u8]) -> bool {
    Message::new(answer)
        .and_then(|m| m.result_code())
        .is_some_and(|rc| rc == result::UNABLE_TO_DELIVER || rc == result::TOO_BUSY)
}

impl Proxy {
    async fn relay(
        self: Arc<Self>,
        frame: Bytes,
        origin: Origin,
        peer: String,
        now: i64,
    ) -> Option<Bytes> {
        let req = Message::new(&frame)?;
        let ccr = Ccr::read(&req);
        let sub = match subscriber(&self.index, &ccr, now) {
            Ok(s) => s,
            Err(u) => return Some(refuse(&origin, &req, result::USER_UNKNOWN, u.0)),
        };
        let Some(canonical) = self.canonical(&sub) else {
            let why = format!(
                "account {} has no {:?} to charge upstream by",
                sub.account, self.identity
            );
            return Some(refuse(&origin, &req, result::USER_UNKNOWN, why));
        };
        let visited = location(&ccr).map(|p| p.to_string());
        let session = ccr.session_id.to_string();
        let mut tried = vec![];
        loop {
            let pick = {
                let r = self.router.lock().ok()?;
                let up = |h: &str| self.upstreams.is_up(h);
                r.pick(&session, &tried, &up)
                    .map(|i| (i, r.upstreams()[i].host.clone()))
            };
            let Some((i, host)) = pick else {
                return Some(self.no_upstream(&origin, &req, &peer, tried.len()).await);
            };
            let mut buf = BytesMut::with_capacity(frame.len() + 128);
            let f = Forward {
                our_host: &origin.host,
                upstream_host: &host,
                canonical: &canonical,
                visited: visited.as_deref(),
                retransmit: !tried.is_empty() || req.header.is_retransmit(),
            };
            if let Err(RewriteError::Loop) = forward_request(&mut buf, &req, &f) {
                let why = "the request already passed through this node".to_string();
                return Some(refuse(&origin, &req, result::LOOP_DETECTED, why));
            }
            tried.push(i);
            match self.upstreams.send(&host, buf.freeze(), self.tx).await {
                Ok(answer) if !fails_over(&answer) => {
                    let a = Message::new(&answer)?;
                    let at = location(&ccr).map(|p| p.rate_code());
                    let usage_at = self.after_answer(&session, ccr.request_type, i, now, at);
                    let by = Answered {
                        upstream: &host,
                        result_code: a.result_code().unwrap_or(0),
                    };
                    self.record_wholesale(
                        &ccr,
                        &sub,
                        req.header.end_to_end,
                        now,
                        usage_at.or(at),
                        &by,
                    )
                    .await;
                    let mut out = BytesMut::with_capacity(answer.len() + 64);
                    relay_answer(&mut out, &a, &req);
                    return Some(out.freeze());
                }
                Ok(_) => {
                    tracing::info!(upstream = %host, session = %session, "upstream busy or cannot deliver; failing over")
                }
                Err(e) => {
                    tracing::warn!(upstream = %host, session = %session, error = %e, "failing over")
                }
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
        e2e: u32,
        now: i64,
        usage_at: Option<RateCode>,
        by: &Answered<'_>,
    ) {
        let Some(at) = usage_at else { return };
        let rating = self.local.engine.rating();
        let catalog = self.index.catalog();
        let Some(c) = usage_commit(&rating, &catalog, sub, ccr, e2e, now, at, by) else {
            return;
        };
        let committer = &self.local.committer;
        if !committer.accepting() {
            metrics::counter!(WHOLESALE_UNRECORDED).increment(c.xdrs.len() as u64);
            tracing::warn!(session = %ccr.session_id, "wholesale xDRs not recorded: the disk is stalled");
            return;
        }
        let seq = committer.submit(c);
        self.durable(seq).await;
    }

    async fn durable(&self, seq: u64) {
        if seq > 0 {
            let mut w = self.local.committer.watermark();
            let _ = w.wait_for(|d| *d >= seq).await;
        }
    }

    /// No upstream answered: 3002, or gyro's own answer within the
    /// failsafe grant, journalled for replay.
    async fn no_upstream(
        &self,
        origin: &Origin,
        req: &Message<'_>,
        peer: &str,
        tried: usize,
    ) -> Bytes {
        if self.on_down == OnUpstreamDown::Local && req.header.command == command::CREDIT_CONTROL {
            metrics::counter!(LOCAL_ANSWERS).increment(1);
            let (answer, seq) = self.local.charge(req, origin, peer, SystemTime::now());
            self.durable(seq).await;
            self.journal_dirty
                .store(true, std::sync::atomic::Ordering::Release);
            return answer;
        }
        let why = if tried == 0 {
            "no upstream OCS is connected".to_string()
        } else {
            format!("no upstream OCS answered ({tried} tried)")
        };
        refuse(origin, req, result::UNABLE_TO_DELIVER, why)
    }
}

/// The application the node dispatches Credit-Control requests to.
pub struct ProxyApp(pub Arc<Proxy>);

impl Application for ProxyApp {
    fn application_id(&self) -> u32 {
        application::CREDIT_CONTROL
    }
    fn handle(&self, request: Request, ctx: &AppContext, now: SystemTime) -> Reply {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let proxy = self.0.clone();
        let origin = ctx.origin.clone();
        let frame = request.frame().clone();
        let peer = request.peer.origin_host.clone();
        Reply::Later(Box::pin(proxy.relay(frame, origin, peer, now)))
    }
}
