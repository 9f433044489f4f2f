//! An application request on its way in: refused when the peer's role may
//! not send it, when the node has no application or command for it, when
//! it is invalid or addressed to another node, or when the node has too
//! many requests in flight; otherwise handed to its application, whose
//! answer is sent at once, held for its commit ticket, or polled by the
//! connection's task.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;

use super::app::{Reply, Request};
use super::count::{command_label, InFlight};
use super::held::Held;
use super::{metrics_names as mn, Shared};
use crate::diameter::answer::{error_answer, simple_error, Origin};
use crate::diameter::codes::{avp, result};
use crate::diameter::message::Message;
use crate::diameter::peer::{PeerCapabilities, PeerRole};
use crate::diameter::validate::{validate_with, Tolerance, Tolerated};

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
pub(super) fn note_tolerated(peer: Option<&str>, command: Option<u32>, t: &Tolerated) {
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
pub(super) type Later =
    FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = Option<Bytes>> + Send>>>;

/// A request the peer's role may not send: 3001 with the E bit, before
/// anything reads its body. RFC 6733 §7.1 defines 3001 as a command the
/// receiver does not support, which is what gyro says to this peer (and
/// what it already answers to a RAR sent to its embedded OCS); 5003 would
/// speak of the subscriber, and make a gateway refuse a user for a fault
/// of configuration.
fn role_refusal(shared: &Shared, msg: &Message<'_>, peer: &str, role: PeerRole) -> Bytes {
    let cmd = command_label(msg.header.command);
    metrics::counter!(mn::ROLE_REFUSALS, "role" => role.as_str(), "command" => cmd).increment(1);
    tracing::warn!(
        peer,
        role = role.as_str(),
        command = msg.header.command,
        "request refused: not one this peer's role may send"
    );
    let mut out = BytesMut::with_capacity(256);
    let why = format!("a peer of role {} may not send this command", role.as_str());
    simple_error(
        &mut out,
        &shared.local.origin,
        msg,
        result::COMMAND_UNSUPPORTED,
        &why,
    );
    out.freeze()
}

/// Routes an application request (answers go to the outbound path); returns
/// an answer to send at once, if any.
pub(super) fn dispatch(
    shared: &Arc<Shared>,
    frame: Bytes,
    (peer, role): (Option<&Arc<PeerCapabilities>>, PeerRole),
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
    if !role.may_send(h.command) {
        let name = peer.map(|p| p.origin_host.as_str()).unwrap_or_default();
        return Some(role_refusal(shared, &msg, name, role));
    }
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
    let Some(guard) = InFlight::try_new(inflight, &shared.inflight, shared.max_inflight) else {
        metrics::counter!(mn::BUSY_REFUSALS).increment(1);
        tracing::debug!(
            max = shared.max_inflight,
            "request refused: diameter.max_inflight reached"
        );
        let why = "too many requests in flight";
        simple_error(&mut out, &shared.local.origin, &msg, result::TOO_BUSY, why);
        return Some(out.freeze());
    };
    let peer = peer.cloned().unwrap_or_default();
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
