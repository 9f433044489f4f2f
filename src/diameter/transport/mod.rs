//! The tokio edge of the Diameter layer: listener, outbound connectors,
//! graceful shutdown. Protocol decisions stay in the sans-IO modules.

pub mod app;
mod count;
mod dispatch;
mod driver;
mod held;
mod outbound;
pub mod peers;
mod pending;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use app::{AppContext, Application, Reply, Request};
pub use count::result_label;
pub use outbound::{SendError, SendResult};
pub use peers::PeerTable;
pub use tls::{Identity, PeerCertificate, TlsDial, TlsError};
pub use tokio_rustls::TlsAcceptor;

use crate::diameter::dictionary::Dictionary;
use crate::diameter::framer::Framer;
use crate::diameter::peer::{ConnConfig, LocalNode, PeerRules, Role};

/// Prometheus metric names.
pub mod metrics_names {
    pub const MESSAGES: &str = "gyro_diameter_messages_total";
    pub const DECODE_ERRORS: &str = "gyro_diameter_decode_errors_total";
    pub const INFLIGHT: &str = "gyro_diameter_inflight_requests";
    pub const PEER_UP: &str = "gyro_diameter_peer_up";
    pub const PEER_WATCHDOG: &str = "gyro_diameter_peer_watchdog_state";
    pub const CONNECTIONS: &str = "gyro_diameter_connections";
    /// AVPs accepted only because `diameter.strict_m_bit` is false, by `kind`.
    pub const TOLERATED_AVPS: &str = "gyro_diameter_tolerated_avps_total";
    /// Requests gyro sent to a peer, by `command` and `result`.
    pub const OUTBOUND_REQUESTS: &str = "gyro_diameter_outbound_requests_total";
    /// Requests gyro sent that still wait for their answer.
    pub const PENDING_REQUESTS: &str = "gyro_diameter_pending_requests";
    /// Answers that came after their request's Tx, or match no request.
    pub const LATE_ANSWERS: &str = "gyro_diameter_late_answers_total";
    /// TLS handshakes that failed, by `direction` (in: accepted, out: dialled).
    pub const TLS_HANDSHAKE_FAILURES: &str = "gyro_diameter_tls_handshake_failures_total";
    /// Connections closed before their CER was read, by `reason`.
    pub const CONNECTIONS_REFUSED: &str = "gyro_diameter_connections_refused_total";
    /// Peers refused at CER/CEA (CEA 3010 or close), by `reason`.
    pub const PEERS_REFUSED: &str = "gyro_diameter_peers_refused_total";
    /// Requests refused because the peer's role may not send them, by
    /// `role` and `command`.
    pub const ROLE_REFUSALS: &str = "gyro_diameter_role_refusals_total";
    /// Requests answered 3004 because the node had too many in flight.
    pub const BUSY_REFUSALS: &str = "gyro_diameter_busy_refusals_total";
}

/// The `peer` label of a peer no rule lists: names a peer chooses must not
/// make new time series.
pub const OTHER_PEER: &str = "other";

/// What the node lets in, and how much at once.
#[derive(Debug, Clone)]
pub struct Door {
    pub rules: PeerRules,
    /// Open connections, accepted ones (TCP and TLS together); past it a
    /// new connection is closed at once.
    pub max_connections: usize,
    /// Requests in flight in the whole node; past it a request gets 3004.
    pub max_inflight: usize,
}

impl Default for Door {
    fn default() -> Self {
        Door {
            rules: PeerRules::default(),
            max_connections: 1024,
            max_inflight: 65_536,
        }
    }
}

pub(crate) struct Shared {
    local: Arc<LocalNode>,
    dict: Arc<Dictionary>,
    framer: Framer,
    conn_cfg: ConnConfig,
    apps: HashMap<u32, Arc<dyn Application>>,
    app_ctx: AppContext,
    peers: Arc<PeerTable>,
    shutdown: watch::Sender<bool>,
    relays: bool,
    wall_time: fn() -> SystemTime,
    /// Accepted connections open now, against `max_connections`.
    accepted: Arc<AtomicUsize>,
    max_connections: usize,
    /// Requests in flight in the node, against `max_inflight`.
    inflight: Arc<AtomicUsize>,
    max_inflight: usize,
}

/// An outbound peer gyro keeps a connection to.
#[derive(Debug, Clone)]
pub struct OutboundPeer {
    pub origin_host: String,
    pub address: SocketAddr,
    /// Some: TLS from the first byte (RFC 6733 §13); None: plain TCP.
    pub tls: Option<TlsDial>,
}

pub struct NodeSettings {
    pub local: Arc<LocalNode>,
    pub dictionary: Arc<Dictionary>,
    pub conn: ConnConfig,
    pub max_message_size: u32,
    /// Who may connect, and the caps on connections and requests.
    pub door: Door,
    pub reconnect_interval: Duration,
    /// How long shutdown waits for DPA and in-flight requests.
    pub shutdown_grace: Duration,
    /// A relaying node (proxy mode) hands requests for other hosts and
    /// realms to its application, which routes them; otherwise they are
    /// refused with 3002/3003.
    pub relays: bool,
    /// The wall-clock time each request is stamped with on arrival: the
    /// transport reads no clock of its own, so its user decides which.
    pub wall_time: fn() -> SystemTime,
}

pub struct Node {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    reconnect: Duration,
    grace: Duration,
}

impl Node {
    pub fn new(s: NodeSettings, apps: Vec<Arc<dyn Application>>) -> Node {
        let peers = PeerTable::new(&s.local.origin.host, s.door.rules);
        let app_ctx = AppContext {
            origin: s.local.origin.clone(),
            dictionary: s.dictionary.clone(),
        };
        let shared = Arc::new(Shared {
            local: s.local,
            dict: s.dictionary,
            framer: Framer::new(s.max_message_size),
            conn_cfg: s.conn,
            apps: apps.into_iter().map(|a| (a.application_id(), a)).collect(),
            app_ctx,
            peers,
            shutdown: watch::channel(false).0,
            relays: s.relays,
            wall_time: s.wall_time,
            accepted: Arc::new(AtomicUsize::new(0)),
            max_connections: s.door.max_connections,
            inflight: Arc::new(AtomicUsize::new(0)),
            max_inflight: s.door.max_inflight,
        });
        Node {
            shared,
            tasks: JoinSet::new(),
            reconnect: s.reconnect_interval,
            grace: s.shutdown_grace,
        }
    }

    pub fn peers(&self) -> Arc<PeerTable> {
        self.shared.peers.clone()
    }

    /// This node's identity, and the End-to-End ids of requests it originates.
    pub fn local(&self) -> Arc<LocalNode> {
        self.shared.local.clone()
    }

    /// Accepts connections on `listener` until shutdown.
    pub fn listen(&mut self, listener: TcpListener) {
        self.accept_on(listener, None);
    }

    /// Accepts TLS connections on `listener` until shutdown: TLS from the
    /// first byte, then Diameter as on `listen`.
    pub fn listen_tls(&mut self, listener: TcpListener, acceptor: TlsAcceptor) {
        tls::register_metrics("in");
        self.accept_on(listener, Some(acceptor));
    }

    fn accept_on(&mut self, listener: TcpListener, tls: Option<TlsAcceptor>) {
        let shared = self.shared.clone();
        let mut stop = shared.shutdown.subscribe();
        self.tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    r = listener.accept() => match r {
                        Ok((stream, addr)) => {
                            let Some(slot) = Slot::take(&shared) else {
                                metrics::counter!(metrics_names::CONNECTIONS_REFUSED, "reason" => "max_connections").increment(1);
                                tracing::warn!(%addr, max = shared.max_connections, "connection refused: diameter.max_connections reached");
                                drop(stream);
                                continue;
                            };
                            tracing::debug!(%addr, tls = tls.is_some(), "accepted connection");
                            let (s, tls) = (shared.clone(), tls.clone());
                            conns.spawn(async move {
                                let _slot = slot;
                                metrics::gauge!(metrics_names::CONNECTIONS).increment(1.0);
                                serve_accepted(s, stream, addr, tls).await;
                                metrics::gauge!(metrics_names::CONNECTIONS).decrement(1.0);
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    _ = stop.changed() => break,
                }
            }
            // Stop accepting; let the open connections finish and send DPR.
            drop(listener);
            while conns.join_next().await.is_some() {}
        });
    }

    /// Keeps a connection to `peer`, reconnecting every `reconnect_interval` (Tc).
    pub fn connect(&mut self, peer: OutboundPeer) {
        if peer.tls.is_some() {
            tls::register_metrics("out");
        }
        let shared = self.shared.clone();
        let tc = self.reconnect;
        let mut stop = shared.shutdown.subscribe();
        self.tasks.spawn(async move {
            loop {
                if *stop.borrow() {
                    return;
                }
                match TcpStream::connect(peer.address).await {
                    Ok(stream) => {
                        tracing::info!(peer = %peer.origin_host, addr = %peer.address, tls = peer.tls.is_some(), "connected");
                        serve_dialled(&shared, stream, &peer).await;
                    }
                    Err(e) => tracing::warn!(peer = %peer.origin_host, addr = %peer.address, error = %e, "connect failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(tc) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Graceful stop: no new connections, in-flight requests finish, DPR to
    /// every peer, wait for DPA (bounded by the grace period).
    pub async fn shutdown(mut self) {
        let _ = self.shared.shutdown.send(true);
        let grace = self.grace;
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }

    /// Runs until one of the node's tasks ends (they end only on shutdown).
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// One of the `max_connections` places, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(shared: &Shared) -> Option<Slot> {
        let max = shared.max_connections;
        shared
            .accepted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(shared.accepted.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection: the TLS handshake first when the listener has
/// one, then the peer state machine on whichever stream results.
async fn serve_accepted(
    shared: Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = driver::Conn {
        remote: Some(addr),
        role: Role::Responder,
        dialled: None,
        certificate: None,
    };
    match tls {
        None => {
            driver::run(shared, stream, conn).await;
        }
        Some(acceptor) => {
            let timeout = shared.conn_cfg.handshake_timeout;
            if let Some((s, cert)) = tls::accept(&acceptor, stream, addr, timeout).await {
                conn.certificate = cert;
                driver::run(shared, s, conn).await;
            }
        }
    }
}

/// One dialled connection (see `serve_accepted`).
async fn serve_dialled(shared: &Arc<Shared>, stream: TcpStream, peer: &OutboundPeer) {
    let _ = stream.set_nodelay(true);
    let conn = driver::Conn {
        remote: Some(peer.address),
        role: Role::Initiator,
        dialled: Some(peer.origin_host.clone()),
        certificate: None,
    };
    match &peer.tls {
        None => {
            driver::run(shared.clone(), stream, conn).await;
        }
        Some(dial) => {
            let timeout = shared.conn_cfg.handshake_timeout;
            if let Some(s) = tls::connect(dial, stream, peer.address, timeout).await {
                driver::run(shared.clone(), s, conn).await;
            }
        }
    }
}
