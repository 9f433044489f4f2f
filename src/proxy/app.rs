//! The proxy's Credit-Control application: resolve, rewrite, forward,
//! fail over, relay. Requests for subscribers gyro cannot charge are
//! answered here (5030) without bothering the OCS.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};

use super::config::{Identity, OnUpstreamDown};
use super::rewrite::Canonical;
use super::route::{Router, UpstreamDef};
use crate::charging::app::CreditControl;
use crate::charging::cca;
use crate::charging::engine::Decision;
use crate::diameter::answer::{simple_error, Origin};
use crate::diameter::header::{application, command};
use crate::diameter::transport::app::{AppContext, Application, Reply, Request};
use crate::diameter::Message;
use crate::resolver::index::iccid_string;
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

/// What the proxy keeps of a gateway's session, for requests the OCS sends
/// down (RAR, ASR) and for an STR.
#[derive(Debug, Clone)]
pub struct GatewaySide {
    /// The peer the session's requests came over (a DRA, or the gateway).
    pub peer: String,
    /// The gateway's Subscription-Id/User-Name AVPs, as it sent them.
    pub identities: Bytes,
    pub canonical: Canonical,
    pub seen: i64,
    /// Whose session it is, and the gateway's own name (the CCRs' Origin-
    /// Host/Realm): a closure's ASR goes there.
    pub account: u64,
    pub host: Box<str>,
    pub realm: Box<str>,
}

pub struct Proxy {
    pub index: Arc<Index>,
    /// Which peers are upstreams (their RAR/ASR go down, not up).
    upstream_hosts: Vec<String>,
    /// Sessions by Session-Id, gateway side.
    pub gateways: dashmap::DashMap<String, GatewaySide>,
    /// The embedded OCS: rating data for the sponsors' wholesale cost, and
    /// the answers while no upstream answers (`on_upstream_down = "local"`).
    pub local: CreditControl,
    pub upstreams: Arc<dyn Upstreams>,
    pub router: Mutex<Router>,
    pub identity: Identity,
    pub on_down: OnUpstreamDown,
    pub tx: Duration,
    pub home_imsi: Box<HomeImsi>,
    /// Which sessions stay local, and the answers gyro gave itself.
    pub journal: super::journal::Journal,
    /// The in-flight bounds (3004 past them).
    pub in_flight: super::inflight::InFlight,
    /// The store the journal lives in.
    pub inventory: Arc<crate::inventory::Inventory>,
    /// Requests being relayed: a retransmission that comes meanwhile waits
    /// for the first one's answer.
    pub relaying: super::relaying::Relaying,
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
        in_flight: super::inflight::InFlight,
        inventory: Arc<crate::inventory::Inventory>,
    ) -> Proxy {
        Proxy {
            index: local.engine.index.clone(),
            gateways: dashmap::DashMap::new(),
            upstream_hosts: defs.iter().map(|d| d.host.clone()).collect(),
            local,
            upstreams,
            router: Mutex::new(Router::new(defs)),
            identity,
            on_down,
            tx,
            home_imsi,
            journal: super::journal::Journal::default(),
            in_flight,
            inventory,
            relaying: Default::default(),
        }
    }

    /// The canonical identity of the profile `iccid` (journal replays).
    /// The upstream a session's request would go to now, and its place.
    pub fn pick_upstream(&self, session_id: &str) -> Option<(usize, String)> {
        let r = self.router.lock().ok()?;
        let up = |h: &str| self.upstreams.is_up(h);
        r.pick(session_id, &[], &up)
            .map(|i| (i, r.upstreams()[i].host.clone()))
    }

    /// A journalled request of the session was acknowledged by upstream
    /// `i`: the session's next requests go there.
    pub fn settle(&self, session_id: &str, i: usize, now: i64) {
        if let Ok(mut r) = self.router.lock() {
            r.stick(session_id, i, now, None);
        }
    }

    pub(super) fn canonical(&self, sub: &Subscriber) -> Option<Canonical> {
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

/// Routes a request by who sent it: the OCS's RAR/ASR go down to the
/// gateway, everything else up to the OCS.
impl Proxy {
    async fn dispatch(
        self: Arc<Self>,
        frame: Bytes,
        origin: Origin,
        peer: String,
        now: i64,
    ) -> Option<Bytes> {
        let req = Message::new(&frame)?;
        let Some(_place) = self.in_flight.enter() else {
            let why = "too many requests in flight at the proxy".to_string();
            return Some(refuse(
                &origin,
                &req,
                crate::diameter::codes::result::TOO_BUSY,
                why,
            ));
        };
        let from_upstream = self
            .upstream_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&peer));
        match req.header.command {
            command::RE_AUTH | command::ABORT_SESSION if from_upstream => {
                Some(self.relay_down(&req, &origin).await)
            }
            // Another OCS peer: its RAR or ASR goes neither down (the
            // sessions are the upstreams') nor up (it came from there).
            command::RE_AUTH | command::ABORT_SESSION => {
                tracing::warn!(
                    peer,
                    "RAR/ASR from an OCS peer that is not an upstream: refused"
                );
                let why = "only the proxy's upstreams may send this command".to_string();
                let code = crate::diameter::codes::result::COMMAND_UNSUPPORTED;
                Some(refuse(&origin, &req, code, why))
            }
            command::CREDIT_CONTROL => self.relay_ccr(&req, &origin, &peer, now).await,
            _ => Some(self.relay_session(&req, &origin, &peer).await),
        }
    }

    /// Forgets what it kept of sessions silent for a day.
    pub fn sweep(&self, now: i64) {
        self.gateways.retain(|_, g| now - g.seen < 86_400);
        self.journal.sweep(now);
        if let Ok(mut r) = self.router.lock() {
            r.sweep(now);
        }
    }
}

/// The answer to send back for one from the other side: relayed as it
/// came (`rewrite::relay_answer`), or 3002 when it does not parse.
pub(super) fn relay_back(origin: &Origin, req: &Message<'_>, answer: &[u8]) -> Bytes {
    match Message::new(answer) {
        Some(a) => {
            let mut out = BytesMut::with_capacity(answer.len() + 64);
            super::rewrite::relay_answer(&mut out, &a, req);
            out.freeze()
        }
        None => refuse(
            origin,
            req,
            crate::diameter::codes::result::UNABLE_TO_DELIVER,
            "unreadable answer".into(),
        ),
    }
}

/// A CCA refusing the request without forwarding it.
pub(super) fn refuse(origin: &Origin, req: &Message<'_>, code: u32, why: String) -> Bytes {
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
            topup_url: None,
            failure: cca::FailureHandling::default(),
        };
        cca::encode(&mut buf, origin, req, &d, &how);
    } else {
        simple_error(&mut buf, origin, req, code, &why);
    }
    buf.freeze()
}

/// The application the node dispatches Credit-Control requests to.
pub struct ProxyApp(pub Arc<Proxy>);

impl Application for ProxyApp {
    fn application_id(&self) -> u32 {
        application::CREDIT_CONTROL
    }
    fn handle(&self, request: Request, ctx: &AppContext, now: SystemTime) -> Reply {
        let now = self.0.local.clock.at(now);
        let proxy = self.0.clone();
        let origin = ctx.origin.clone();
        let frame = request.frame().clone();
        let peer = request.peer.origin_host.clone();
        Reply::Later(Box::pin(proxy.dispatch(frame, origin, peer, now)))
    }
}
