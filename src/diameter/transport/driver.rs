//! Drives one connection (TCP, or TLS over TCP): reads and frames bytes,
//! feeds the peer state machine, dispatches application requests
//! concurrently and writes what each wake-up produced in one batch, from
//! the connection's own task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::app::{Reply, Request};
use super::held::Held;
use super::outbound::{is_answer, OutboundPath};
use super::{metrics_names as mn, Shared};
use crate::diameter::answer::{error_answer, simple_error, Origin};
use crate::diameter::codes::{avp, result, DisconnectCause};
use crate::diameter::message::Message;
use crate::diameter::peer::{Action, ConnState, PeerCapabilities, PeerConnection, Role};
use crate::diameter::validate::{validate_with, Tolerance, Tolerated};

pub(super) fn command_label(code: u32) -> &'static str {
    match code {
        257 => "CE",
        258 => "RA",
        272 => "CC",
        274 => "AS",
        275 => "ST",
        280 => "DW",
        282 => "DP",
        _ => "other",
    }
}

/// Metric label for a Result-Code: the common ones without allocating, since
/// this runs for every message.
pub fn result_label(code: u32) -> metrics::SharedString {
    let s: &'static str = match code {
        2001 => "2001",
        3001 => "3001",
        3007 => "3007",
        3008 => "3008",
        3009 => "3009",
        3010 => "3010",
        4010 => "4010",
        4012 => "4012",
        5001 => "5001",
        5002 => "5002",
        5004 => "5004",
        5005 => "5005",
        5009 => "5009",
        5010 => "5010",
        5014 => "5014",
        5030 => "5030",
        other => return other.to_string().into(),
    };
    s.into()
}

fn application_label(app: u32) -> metrics::SharedString {
    match app {
        0 => "0".into(),
        4 => "4".into(),
        other => other.to_string().into(),
    }
}

/// (direction, command, request, application, Result-Code) of a message.
type MessageKind = (&'static str, u32, bool, u32, u32);

const MAX_CACHED_KINDS: usize = 512;

thread_local! {
    /// Touched twice per request: registered once per thread.
    static INFLIGHT_GAUGE: metrics::Gauge = metrics::gauge!(mn::INFLIGHT);
}

thread_local! {
    /// Counter handles by message kind: registering one (a registry look-up
    /// with label hashing) per message cost more than the increment.
    static MESSAGE_COUNTERS: std::cell::RefCell<
        std::collections::HashMap<MessageKind, metrics::Counter, rustc_hash::FxBuildHasher>,
    > = Default::default();
}

fn count_message(direction: &'static str, frame: &[u8]) {
    let Some(m) = Message::new(frame) else { return };
    let h = m.header;
    let rc = if h.is_request() {
        0
    } else {
        m.result_code().unwrap_or(0)
    };
    let key = (direction, h.command, h.is_request(), h.application, rc);
    let register = || {
        let kind = if h.is_request() { "request" } else { "answer" };
        let rc: metrics::SharedString = if rc == 0 { "".into() } else { result_label(rc) };
        metrics::counter!(mn::MESSAGES, "direction" => direction, "command" => command_label(h.command),
            "kind" => kind, "application" => application_label(h.application), "result" => rc)
    };
    MESSAGE_COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        // Peers choose Result-Codes and Application-Ids: keep the cache small.
        if c.len() >= MAX_CACHED_KINDS && !c.contains_key(&key) {
            return register().increment(1);
        }
        c.entry(key).or_insert_with(register).increment(1)
    });
}

pub(super) struct InFlight(Arc<AtomicUsize>);
impl InFlight {
    fn new(c: &Arc<AtomicUsize>) -> Self {
        c.fetch_add(1, Ordering::AcqRel);
        INFLIGHT_GAUGE.with(|g| g.increment(1.0));
        InFlight(c.clone())
    }
}
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        INFLIGHT_GAUGE.with(|g| g.decrement(1.0));
    }
}

/// TCP and TLS share all of this. Reads happen only inside the select and writes
/// only between selects: the stream needs no split (`io::split` would lock).
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut io: S,
    remote: Option<std::net::SocketAddr>,
    role: Role,
    dial_host: Option<String>,
) -> Option<crate::diameter::peer::CloseReason> {
    // Answers that wait on something (`Reply::Later`) are futures this
    // task polls; everything else is written straight from `out`.
    let mut later = Later::new();
    let mut out = BytesMut::with_capacity(64 * 1024);
    let (reg, outbound_rx) = shared.peers.register();
    if let Some(h) = &dial_host {
        shared.peers.dialling(&reg, h);
    }
    let mut fsm = PeerConnection::new(
        role,
        shared.local.clone(),
        shared.dict.clone(),
        shared.conn_cfg.clone(),
        Instant::now(),
    );
    let mut shutdown = shared.shutdown.subscribe();
    let inflight = Arc::new(AtomicUsize::new(0));
    let mut peer: Option<Arc<PeerCapabilities>> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut held = Held::default();
    let mut outbound = OutboundPath::new(
        outbound_rx,
        shared.conn_cfg.jitter_seed.rotate_left(32) as u32,
    );
    let mut released = Vec::new();
    let mut draining = *shutdown.borrow();
    let mut said_goodbye = false;
    let mut close_reason = None;
    if draining {
        return None;
    }
    'conn: loop {
        // Act on everything the state machine decided.
        while let Some(a) = fsm.poll_action() {
            match a {
                Action::Send(b) => emit(&mut out, &b),
                Action::Deliver(frame) if is_answer(&frame) => outbound.answer(frame),
                Action::Deliver(frame) => {
                    if let Some(b) = dispatch(
                        &shared,
                        frame,
                        peer.as_ref(),
                        &mut later,
                        &inflight,
                        &mut held,
                    ) {
                        emit(&mut out, &b);
                    }
                }
                Action::Up(caps) => {
                    tracing::info!(peer = %caps.origin_host, realm = %caps.origin_realm, product = %caps.product_name, ?remote, ?role, "peer up");
                    metrics::gauge!(mn::PEER_UP, "peer" => caps.origin_host.clone()).set(1.0);
                    peer = Some(Arc::new(caps));
                }
                Action::Watchdog(state) => {
                    let name = peer
                        .as_ref()
                        .map(|p| p.origin_host.clone())
                        .unwrap_or_default();
                    tracing::info!(peer = %name, state = state.as_str(), "watchdog");
                    metrics::gauge!(mn::PEER_WATCHDOG, "peer" => name).set(state as u8 as f64);
                }
                Action::Tolerated(t) => {
                    note_tolerated(peer.as_ref().map(|p| p.origin_host.as_str()), None, &t)
                }
                Action::PeerDisconnecting(cause) => {
                    tracing::info!(peer = ?peer.as_ref().map(|p| &p.origin_host), ?cause, "peer sent DPR");
                }
                Action::Close(reason) => {
                    tracing::info!(peer = ?peer.as_ref().map(|p| &p.origin_host), ?remote, ?reason, "closing connection");
                    close_reason = Some(reason);
                    break 'conn;
                }
            }
        }
        // Held answers whose tickets came due meanwhile, then one write
        // for all this wake-up produced.
        if !held.is_empty() {
            held.release(&mut released);
            for b in released.drain(..) {
                emit(&mut out, &b);
            }
        }
        if !out.is_empty() {
            // flush: TLS may keep records back (a no-op on TCP).
            if io.write_all(&out).await.is_err() || io.flush().await.is_err() {
                break 'conn;
            }
            out.clear();
        }
        let deadline = fsm.poll_timeout().map(tokio::time::Instant::from_std);
        let tx_deadline = outbound.deadline().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = io.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => {
                        fsm.transport_closed();
                        tracing::info!(peer = ?peer.as_ref().map(|p| &p.origin_host), ?remote, "transport closed by peer");
                        break 'conn;
                    }
                    Ok(_) => {}
                }
                // One clock reading per read: the frames arrived together.
                let now = Instant::now();
                loop {
                    match shared.framer.next_frame(&mut buf) {
                        Ok(Some(frame)) => {
                            count_message("in", &frame);
                            fsm.handle_frame(frame, now, &shared.peers.policy(&reg));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            metrics::counter!(mn::DECODE_ERRORS, "kind" => "framing").increment(1);
                            tracing::warn!(?remote, error = %e, "unrecoverable framing error, closing");
                            break 'conn;
                        }
                    }
                }
            }
            _ = sleep_opt(deadline) => fsm.handle_timeout(Instant::now()),
            _ = sleep_opt(tx_deadline) => outbound.expire(Instant::now()),
            Some(r) = outbound.recv() => outbound.write(r, fsm.is_usable(), Instant::now(), &mut out, emit),
            _ = reg.kill.notified() => {
                tracing::info!(?remote, "election lost by our connection, closing it");
                break 'conn;
            }
            _ = held.changed(), if !held.is_empty() => {}
            Some(b) = later.next(), if !later.is_empty() => {
                if let Some(b) = b {
                    emit(&mut out, &b);
                }
                // Every other answer ready now goes in the same write.
                while let Some(Some(b)) = later.next().now_or_never() {
                    if let Some(b) = b {
                        emit(&mut out, &b);
                    }
                }
            }
            r = shutdown.changed(), if !draining => {
                let _ = r;
                draining = true;
            }
            // Finish what is in flight (held answers included) before
            // saying goodbye.
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)), if draining && !said_goodbye => {}
        }
        if draining && !said_goodbye && inflight.load(Ordering::Acquire) == 0 {
            said_goodbye = true;
            fsm.disconnect(DisconnectCause::Rebooting, Instant::now());
            if fsm.state() == ConnState::Closed {
                break 'conn;
            }
        }
    }
    if let Some(p) = &peer {
        metrics::gauge!(mn::PEER_UP, "peer" => p.origin_host.clone()).set(0.0);
    }
    outbound.close();
    // Answers still being made (`Reply::Later`) go out before the close.
    while let Some(b) = later.next().await {
        if let Some(b) = b {
            emit(&mut out, &b);
        }
    }
    if !out.is_empty() {
        let _ = io.write_all(&out).await;
    }
    let _ = io.shutdown().await;
    close_reason
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

/// A request addressed to another node: a Destination-Host not ours (3002,
/// RFC 6733 §6.1.4), or a Destination-Realm not ours (3003). Unless the
/// node relays (proxy mode), it must not be served as if it were ours.
fn misaddressed(origin: &Origin, msg: &Message<'_>) -> Option<(u32, &'static str)> {
    let named = |code| msg.find(code, 0).and_then(|a| a.utf8().ok());
    if named(avp::DESTINATION_HOST).is_some_and(|h| !h.eq_ignore_ascii_case(&origin.host)) {
        return Some((
            result::UNABLE_TO_DELIVER,
            "Destination-Host is not this node",
        ));
    }
    if named(avp::DESTINATION_REALM).is_some_and(|r| !r.eq_ignore_ascii_case(&origin.realm)) {
        return Some((
            result::REALM_NOT_SERVED,
            "Destination-Realm is not served here",
        ));
    }
    None
}

/// Validates an application request: the error answer it deserves, if any.
fn refusal(
    shared: &Shared,
    msg: &Message<'_>,
    peer: Option<&Arc<PeerCapabilities>>,
) -> Option<Bytes> {
    let mut tolerated = vec![];
    let opts = shared.conn_cfg.validation;
    let peer_name = peer.map(|p| p.origin_host.as_str());
    match validate_with(&shared.dict, msg, opts, &mut |t| tolerated.push(t)) {
        Ok(()) => {
            for t in &tolerated {
                note_tolerated(peer_name, Some(msg.header.command), t);
            }
            None
        }
        Err(v) => {
            metrics::counter!(mn::DECODE_ERRORS, "kind" => "invalid").increment(1);
            tracing::info!(peer = ?peer_name, result = v.result_code, error = %v.message, "rejected request");
            let mut out = BytesMut::with_capacity(256);
            error_answer(&mut out, &shared.dict, &shared.local.origin, msg, &v);
            Some(out.freeze())
        }
    }
}

/// Counts and logs an AVP that only lax validation (`diameter.strict_m_bit
/// = false`) let through, so operators can see what their dictionaries lack.
fn note_tolerated(peer: Option<&str>, command: Option<u32>, t: &Tolerated) {
    let kind = t.tolerance.label();
    metrics::counter!(mn::TOLERATED_AVPS, "kind" => kind).increment(1);
    let value = match t.tolerance {
        Tolerance::UnknownEnum(v) => Some(v),
        Tolerance::UnknownMBit => None,
    };
    let (code, vendor) = (t.code, t.vendor);
    tracing::debug!(
        ?peer,
        ?command,
        %kind,
        code,
        vendor,
        ?value,
        "AVP tolerated (strict_m_bit = false)"
    );
}

/// A connection's answers in the making.
type Later =
    FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = Option<Bytes>> + Send>>>;

/// Routes an application request (answers go to the outbound path); returns
/// an answer to send at once, if any.
fn dispatch(
    shared: &Arc<Shared>,
    frame: Bytes,
    peer: Option<&Arc<PeerCapabilities>>,
    later: &mut Later,
    inflight: &Arc<AtomicUsize>,
    held: &mut Held,
) -> Option<Bytes> {
    let msg = Message::new(&frame)?;
    let h = msg.header;
    // Only refusals are written here: no buffer for the requests served.
    let mut out = BytesMut::new();
    let Some(app) = shared.apps.get(&h.application) else {
        metrics::counter!(mn::DECODE_ERRORS, "kind" => "application").increment(1);
        simple_error(
            &mut out,
            &shared.local.origin,
            &msg,
            result::APPLICATION_UNSUPPORTED,
            "no application registered for this Application-Id",
        );
        return Some(out.freeze());
    };
    if shared.dict.command(h.application, h.command).is_none() {
        simple_error(
            &mut out,
            &shared.local.origin,
            &msg,
            result::COMMAND_UNSUPPORTED,
            "command not supported",
        );
        return Some(out.freeze());
    }
    if let Some(answer) = refusal(shared, &msg, peer) {
        return Some(answer);
    }
    if let Some((code, why)) = (!shared.relays)
        .then(|| misaddressed(&shared.local.origin, &msg))
        .flatten()
    {
        tracing::info!(peer = ?peer.map(|p| &p.origin_host), result = code, why, "request not for this node");
        simple_error(&mut out, &shared.local.origin, &msg, code, why);
        return Some(out.freeze());
    }
    let peer = peer.cloned().unwrap_or_default();
    let guard = InFlight::new(inflight);
    match app.handle(
        Request::new(frame, peer),
        &shared.app_ctx,
        (shared.wall_time)(),
    ) {
        Reply::Ready(a) => a,
        Reply::AfterTicket { ticket, answer } => {
            held.hold(|| app.tickets(), ticket, answer, guard);
            None
        }
        // Polled by this connection's task: no task, channel or wake-up
        // of its own, and its answer joins this connection's next write.
        Reply::Later(fut) => {
            later.push(Box::pin(async move {
                let _guard = guard;
                fut.await
            }));
            None
        }
    }
}
