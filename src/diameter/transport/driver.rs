//! Drives one connection (TCP, or TLS over TCP): reads and frames bytes,
//! feeds the peer state machine, dispatches application requests
//! concurrently and writes what each wake-up produced in one batch, from
//! the connection's own task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use futures_util::stream::StreamExt;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::count::count_message;
use super::dispatch::{dispatch, note_tolerated, Later};
use super::held::Held;
use super::outbound::{is_answer, OutboundPath};
use super::peers::Registration;
use super::tls::PeerCertificate;
use super::{metrics_names as mn, Shared, OTHER_PEER};
use crate::diameter::codes::DisconnectCause;
use crate::diameter::peer::admission::Arrival;
use crate::diameter::peer::{
    Action, CloseReason, ConnState, PeerCapabilities, PeerConnection, PeerRole, Role, WatchdogState,
};

/// What a connection may hold before its peer is known: a CER is a few
/// hundred octets, so an unknown peer gets 4 KiB, not the 64 KiB buffers
/// an open connection reads and writes through.
const BEFORE_CER: usize = 4096;
/// The buffers of an open connection.
const OPEN_BUFFER: usize = 64 * 1024;

/// A connection as its task starts: where it comes from, who opened it.
pub(super) struct Conn {
    pub remote: Option<std::net::SocketAddr>,
    pub role: Role,
    /// The Origin-Host gyro dialled, on a connection it opened.
    pub dialled: Option<String>,
    /// The TLS client's certificate, on the TLS listener.
    pub certificate: Option<PeerCertificate>,
}

/// Whether the connection goes on after a step.
enum Flow {
    Continue,
    Close,
}

/// TCP and TLS share all of this. Reads happen only inside the select and writes
/// only between selects: the stream needs no split (`io::split` would lock).
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    io: S,
    conn: Conn,
) -> Option<CloseReason> {
    let mut c = Driver::new(shared, io, conn);
    if c.draining {
        return None;
    }
    loop {
        if let Flow::Close = c.act() {
            break;
        }
        if let Flow::Close = c.write().await {
            break;
        }
        if let Flow::Close = c.wait().await {
            break;
        }
        if let Flow::Close = c.goodbye_when_idle() {
            break;
        }
    }
    c.finish().await
}

/// One connection's state, owned by its task.
struct Driver<S> {
    shared: Arc<Shared>,
    io: S,
    remote: Option<std::net::SocketAddr>,
    role: Role,
    dialled: Option<String>,
    certificate: Option<PeerCertificate>,
    reg: Registration,
    fsm: PeerConnection,
    /// The peer, once capabilities were exchanged.
    peer: Option<Arc<PeerCapabilities>>,
    /// What the peer was admitted as: what it may send.
    peer_role: PeerRole,
    /// Its `peer` label: its name when listed, `other` when not.
    peer_label: Option<metrics::SharedString>,
    /// Bytes read and not yet framed.
    buf: BytesMut,
    /// What the next write sends.
    out: BytesMut,
    /// Answers that wait on something (`Reply::Later`) are futures this
    /// task polls; everything else is written straight from `out`.
    later: Later,
    /// Answers waiting for their commit ticket.
    held: Held,
    released: Vec<bytes::Bytes>,
    outbound: OutboundPath,
    inflight: Arc<AtomicUsize>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    draining: bool,
    said_goodbye: bool,
    close_reason: Option<CloseReason>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Driver<S> {
    fn new(shared: Arc<Shared>, io: S, conn: Conn) -> Self {
        let Conn {
            remote,
            role,
            dialled,
            certificate,
        } = conn;
        let (reg, outbound_rx) = shared.peers.register();
        if let Some(h) = &dialled {
            shared.peers.dialling(&reg, h);
        }
        let fsm = PeerConnection::new(
            role,
            shared.local.clone(),
            shared.dict.clone(),
            shared.conn_cfg.clone(),
            Instant::now(),
        );
        let shutdown = shared.shutdown.subscribe();
        let draining = *shutdown.borrow();
        let outbound = OutboundPath::new(
            outbound_rx,
            shared.conn_cfg.jitter_seed.rotate_left(32) as u32,
        );
        Driver {
            shared,
            io,
            remote,
            role,
            dialled,
            certificate,
            reg,
            fsm,
            peer: None,
            peer_role: PeerRole::Gateway,
            peer_label: None,
            buf: BytesMut::with_capacity(BEFORE_CER),
            out: BytesMut::with_capacity(BEFORE_CER),
            later: Later::new(),
            held: Held::default(),
            released: Vec::new(),
            outbound,
            inflight: Arc::new(AtomicUsize::new(0)),
            shutdown,
            draining,
            said_goodbye: false,
            close_reason: None,
        }
    }

    /// Acts on everything the state machine decided.
    fn act(&mut self) -> Flow {
        while let Some(a) = self.fsm.poll_action() {
            match a {
                Action::Send(b) => emit(&mut self.out, &b),
                Action::Deliver(frame) if is_answer(&frame) => self.outbound.answer(frame),
                Action::Deliver(frame) => {
                    let answer = dispatch(
                        &self.shared,
                        frame,
                        (self.peer.as_ref(), self.peer_role),
                        &mut self.later,
                        &self.inflight,
                        &mut self.held,
                    );
                    if let Some(b) = answer {
                        emit(&mut self.out, &b);
                    }
                }
                Action::Close(reason) => {
                    tracing::info!(peer = ?self.peer_name(), remote = ?self.remote, ?reason, "closing connection");
                    self.close_reason = Some(reason);
                    return Flow::Close;
                }
                Action::Up(caps) => self.peer_up(caps),
                Action::Watchdog(state) => self.watchdog(state),
                Action::Tolerated(t) => {
                    note_tolerated(self.peer_name().map(String::as_str), None, &t)
                }
                Action::PeerDisconnecting(cause) => {
                    tracing::info!(peer = ?self.peer_name(), ?cause, "peer sent DPR");
                }
            }
        }
        Flow::Continue
    }

    fn peer_up(&mut self, caps: PeerCapabilities) {
        let admitted = self.reg.admitted();
        self.peer_role = admitted.map(|a| a.role).unwrap_or_default();
        let listed = admitted.is_some_and(|a| a.listed);
        tracing::info!(peer = %caps.origin_host, realm = %caps.origin_realm, product = %caps.product_name, remote = ?self.remote, direction = ?self.role, role = self.peer_role.as_str(), listed, "peer up");
        // Peers no rule lists share one time series: the number of them up.
        if listed {
            let label: metrics::SharedString = caps.origin_host.to_ascii_lowercase().into();
            metrics::gauge!(mn::PEER_UP, "peer" => label.clone()).set(1.0);
            self.peer_label = Some(label);
        } else {
            metrics::gauge!(mn::PEER_UP, "peer" => OTHER_PEER).increment(1.0);
        }
        // Now that the peer is known, its traffic gets the full buffers.
        self.buf.reserve(OPEN_BUFFER);
        self.out.reserve(OPEN_BUFFER);
        self.peer = Some(Arc::new(caps));
    }

    fn watchdog(&self, state: WatchdogState) {
        let name = self.peer_name().cloned().unwrap_or_default();
        tracing::info!(peer = %name, state = state.as_str(), "watchdog");
        if let Some(label) = &self.peer_label {
            metrics::gauge!(mn::PEER_WATCHDOG, "peer" => label.clone()).set(state as u8 as f64);
        }
    }

    fn peer_name(&self) -> Option<&String> {
        self.peer.as_ref().map(|p| &p.origin_host)
    }

    /// Held answers whose tickets came due meanwhile, then one write for all
    /// this wake-up produced.
    async fn write(&mut self) -> Flow {
        if !self.held.is_empty() {
            self.held.release(&mut self.released);
            for b in self.released.drain(..) {
                emit(&mut self.out, &b);
            }
        }
        if !self.out.is_empty() {
            // flush: TLS may keep records back (a no-op on TCP).
            if self.io.write_all(&self.out).await.is_err() || self.io.flush().await.is_err() {
                return Flow::Close;
            }
            self.out.clear();
        }
        Flow::Continue
    }

    /// Waits for the next thing to do: bytes in, a timer, a request to send,
    /// an answer made, or the node shutting down.
    async fn wait(&mut self) -> Flow {
        let deadline = self.fsm.poll_timeout().map(tokio::time::Instant::from_std);
        let tx_deadline = self.outbound.deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = self.io.read_buf(&mut self.buf) => {
                if let Ok(0) | Err(_) = r {
                    self.fsm.transport_closed();
                    tracing::info!(peer = ?self.peer_name(), remote = ?self.remote, "transport closed by peer");
                    return Flow::Close;
                }
                return self.frames_in();
            }
            _ = sleep_opt(deadline) => self.fsm.handle_timeout(Instant::now()),
            _ = sleep_opt(tx_deadline) => self.outbound.expire(Instant::now()),
            Some(r) = self.outbound.recv() => {
                self.outbound.write(r, self.fsm.is_usable(), Instant::now(), &mut self.out, emit)
            }
            _ = self.reg.kill.notified() => {
                tracing::info!(remote = ?self.remote, "election lost by our connection, closing it");
                return Flow::Close;
            }
            _ = self.held.changed(), if !self.held.is_empty() => {}
            Some(b) = self.later.next(), if !self.later.is_empty() => {
                if let Some(b) = b {
                    emit(&mut self.out, &b);
                }
                // Every other answer ready now goes in the same write.
                while let Some(Some(b)) = self.later.next().now_or_never() {
                    if let Some(b) = b {
                        emit(&mut self.out, &b);
                    }
                }
            }
            r = self.shutdown.changed(), if !self.draining => {
                let _ = r;
                self.draining = true;
            }
            // Finish what is in flight (held answers included) before
            // saying goodbye.
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)), if self.draining && !self.said_goodbye => {}
        }
        Flow::Continue
    }

    /// Hands every whole frame read to the state machine.
    fn frames_in(&mut self) -> Flow {
        // One clock reading per read: the frames arrived together.
        let now = Instant::now();
        loop {
            let before_cer = matches!(self.fsm.state(), ConnState::WaitCer | ConnState::WaitCea);
            if before_cer && claimed_length(&self.buf) > BEFORE_CER {
                metrics::counter!(mn::CONNECTIONS_REFUSED, "reason" => "oversized_cer")
                    .increment(1);
                tracing::warn!(remote = ?self.remote, "first message larger than a CER may be, closing");
                return Flow::Close;
            }
            match self.shared.framer.next_frame(&mut self.buf) {
                Ok(Some(frame)) => {
                    count_message("in", &frame);
                    let names =
                        |host: &str| self.certificate.as_ref().is_some_and(|c| c.names(host));
                    let arrival = Arrival {
                        remote: self.remote.map(|a| a.ip()),
                        certificate: self
                            .certificate
                            .is_some()
                            .then_some(&names as &dyn Fn(&str) -> bool),
                        dialled: self.dialled.as_deref(),
                    };
                    let policy = self.shared.peers.policy(&self.reg, arrival);
                    self.fsm.handle_frame(frame, now, &policy);
                }
                Ok(None) => return Flow::Continue,
                Err(e) => {
                    metrics::counter!(mn::DECODE_ERRORS, "kind" => "framing").increment(1);
                    tracing::warn!(remote = ?self.remote, error = %e, "unrecoverable framing error, closing");
                    return Flow::Close;
                }
            }
        }
    }

    /// Draining and nothing in flight: say goodbye (DPR) once.
    fn goodbye_when_idle(&mut self) -> Flow {
        if self.draining && !self.said_goodbye && self.inflight.load(Ordering::Acquire) == 0 {
            self.said_goodbye = true;
            self.fsm
                .disconnect(DisconnectCause::Rebooting, Instant::now());
            if self.fsm.state() == ConnState::Closed {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// Answers still being made (`Reply::Later`) go out before the close.
    async fn finish(mut self) -> Option<CloseReason> {
        match (&self.peer, &self.peer_label) {
            (Some(_), Some(label)) => {
                metrics::gauge!(mn::PEER_UP, "peer" => label.clone()).set(0.0);
            }
            (Some(_), None) => metrics::gauge!(mn::PEER_UP, "peer" => OTHER_PEER).decrement(1.0),
            (None, _) => {}
        }
        self.outbound.close();
        while let Some(b) = self.later.next().await {
            if let Some(b) = b {
                emit(&mut self.out, &b);
            }
        }
        if !self.out.is_empty() {
            let _ = self.io.write_all(&self.out).await;
        }
        let _ = self.io.shutdown().await;
        self.close_reason
    }
}

/// The length the message at the start of `buf` claims (0 before its
/// header's first four octets are in).
fn claimed_length(buf: &[u8]) -> usize {
    match buf.get(..4) {
        Some(h) => u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize,
        None => 0,
    }
}

/// Queues a message for the connection's next write.
fn emit(out: &mut BytesMut, b: &[u8]) {
    count_message("out", b);
    out.extend_from_slice(b);
}

async fn sleep_opt(d: Option<tokio::time::Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
