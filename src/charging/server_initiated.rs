//! Requests the embedded OCS sends its gateways, through the transport's
//! outbound path:
//! - a Re-Auth-Request (RFC 4006 §5.5, RFC 6733 §8.3) with
//!   Re-Auth-Request-Type AUTHORIZE_ONLY makes the gateway ask for quota
//!   again now, so that a top-up or a renewal applies at once instead of
//!   at the next Validity-Time;
//! - an Abort-Session-Request (RFC 6733 §8.5) ends a session whose
//!   profile goes on hold or is disposed; on ASA 2001 the session ends as
//!   after a CCR-T, its reservations released.
//!
//! The account's lock is held only to copy its session list; every
//! request is started before the first answer is awaited, so they are in
//! flight together and the whole call lasts at most one Tx.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::engine::Engine;
use super::gateway::{Gateway, OpenSession, SessionDirectory};
use crate::diameter::answer::Origin;
use crate::diameter::builder::MessageBuilder;
use crate::diameter::codes::{self, result, value};
use crate::diameter::header::{application, command};
use crate::diameter::peer::LocalNode;
use crate::diameter::transport::{PeerTable, SendError};
use crate::diameter::Message;
use crate::model::clock::NodeClock;

/// What came of one session's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub session_id: String,
    /// The Destination-Host (the gateway's Origin-Host).
    pub gateway: Option<String>,
    pub realm: Option<String>,
    /// The peer the request went to (the gateway, or a DRA before it).
    pub peer: Option<String>,
    /// The answer's Result-Code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_code: Option<u32>,
    /// Why there is no answer: `not_connected`, `timeout`,
    /// `transport_lost`, `no_gateway` (its CCRs named no Origin-Host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// ASR only: whether gyro ended the session (on ASA 2001).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ReAuth,
    Abort,
}

pub struct ServerInitiated {
    engine: Arc<Engine>,
    peers: Arc<PeerTable>,
    local: Arc<LocalNode>,
    /// How long each request waits for its answer (Tx).
    tx: Duration,
    /// Sessions relayed to an upstream OCS (proxy mode): an ASR reaches
    /// them too, and their end is the gateway's STR or CCR-T.
    relayed: Option<Arc<dyn SessionDirectory>>,
    /// The node clock the sessions' times are read on.
    clock: Arc<NodeClock>,
}

impl ServerInitiated {
    pub fn new(
        engine: Arc<Engine>,
        peers: Arc<PeerTable>,
        local: Arc<LocalNode>,
        tx: Duration,
        clock: Arc<NodeClock>,
    ) -> Self {
        ServerInitiated {
            engine,
            peers,
            local,
            tx,
            relayed: None,
            clock,
        }
    }

    /// Also reaches the sessions `d` relays (proxy mode).
    pub fn with_relayed(mut self, d: Arc<dyn SessionDirectory>) -> Self {
        self.relayed = Some(d);
        self
    }

    /// A RAR to every open session of the account.
    pub async fn reauth_account(&self, account: u64) -> Vec<Outcome> {
        self.to_each_session(account, Kind::ReAuth).await
    }

    /// An ASR to every open session of the account; each one its gateway
    /// answers 2001 is ended. An account holds at most one profile, so this
    /// is also what putting its profile on hold or disposing of it calls.
    pub async fn abort_sessions_of_account(&self, account: u64) -> Vec<Outcome> {
        let mut out = self.to_each_session(account, Kind::Abort).await;
        let now = self.clock.now();
        for o in &mut out {
            let agreed = o.result_code == Some(result::SUCCESS);
            o.ended = Some(agreed && self.engine.end_session(&o.session_id, now));
        }
        out
    }

    async fn to_each_session(&self, account: u64, kind: Kind) -> Vec<Outcome> {
        let mut sessions = self.engine.open_sessions(account);
        if let Some(d) = &self.relayed {
            sessions.extend(d.open_sessions(account));
        }
        let started: Vec<_> = sessions
            .into_iter()
            .map(|s| {
                let sent = s.gateway.as_ref().map(|g| {
                    let req = self.encode(kind, &s.session_id, g);
                    self.peers.send_request(&g.peer, req, self.tx)
                });
                (s, sent)
            })
            .collect();
        let mut out = Vec::with_capacity(started.len());
        for (s, sent) in started {
            let answer = match sent {
                Some(f) => f.await.map_err(SendError::label),
                None => Err("no_gateway"),
            };
            out.push(outcome(kind, &s, answer));
        }
        out
    }

    fn encode(&self, kind: Kind, session_id: &str, to: &Gateway) -> Bytes {
        let mut buf = BytesMut::with_capacity(256);
        let e2e = self.local.next_end_to_end();
        match kind {
            Kind::ReAuth => write_rar(&mut buf, &self.local.origin, e2e, session_id, to),
            Kind::Abort => write_asr(&mut buf, &self.local.origin, e2e, session_id, to),
        }
        buf.freeze()
    }
}

fn outcome(kind: Kind, s: &OpenSession, answer: Result<Bytes, &'static str>) -> Outcome {
    let g = s.gateway.as_deref();
    let (result_code, error) = match answer {
        Ok(a) => match Message::new(&a).and_then(|m| m.result_code()) {
            Some(rc) => (Some(rc), None),
            None => (None, Some("no_result_code")),
        },
        Err(e) => (None, Some(e)),
    };
    if let Some(e) = error {
        tracing::info!(session = %s.session_id, ?kind, error = e, "server-initiated request unanswered");
    }
    Outcome {
        session_id: s.session_id.to_string(),
        gateway: g.map(|g| g.host.to_string()),
        realm: g.map(|g| g.realm.to_string()),
        peer: g.map(|g| g.peer.to_string()),
        result_code,
        error: error.map(str::to_string),
        ended: None,
    }
}

/// The AVPs RAR and ASR open with (RFC 6733 §8.3.1, §8.5.1). The
/// Hop-by-Hop id is the connection's to give.
fn begin<'b>(
    buf: &'b mut BytesMut,
    code: u32,
    origin: &Origin,
    e2e: u32,
    session_id: &str,
    to: &Gateway,
) -> MessageBuilder<'b> {
    let mut b = MessageBuilder::request(buf, code, application::CREDIT_CONTROL, true, 0, e2e);
    b.utf8(codes::SESSION_ID, session_id)
        .utf8(codes::ORIGIN_HOST, &origin.host)
        .utf8(codes::ORIGIN_REALM, &origin.realm)
        .utf8(codes::DESTINATION_REALM, &to.realm)
        .utf8(codes::DESTINATION_HOST, &to.host)
        .u32(codes::AUTH_APPLICATION_ID, application::CREDIT_CONTROL);
    b
}

pub fn write_rar(buf: &mut BytesMut, origin: &Origin, e2e: u32, session_id: &str, to: &Gateway) {
    let mut b = begin(buf, command::RE_AUTH, origin, e2e, session_id, to);
    b.i32(codes::RE_AUTH_REQUEST_TYPE, value::AUTHORIZE_ONLY)
        .u32(codes::ORIGIN_STATE_ID, origin.state_id);
    b.finish();
}

pub fn write_asr(buf: &mut BytesMut, origin: &Origin, e2e: u32, session_id: &str, to: &Gateway) {
    let mut b = begin(buf, command::ABORT_SESSION, origin, e2e, session_id, to);
    b.u32(codes::ORIGIN_STATE_ID, origin.state_id);
    b.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diameter::codes::avp;
    use crate::diameter::validate::{validate_with, ValidateOptions};
    use crate::diameter::Dictionary;

    fn gateway() -> Gateway {
        Gateway {
            host: "pgw.test.local".into(),
            realm: "gw.realm".into(),
            peer: "dra.test.local".into(),
        }
    }

    fn origin() -> Origin {
        Origin {
            host: "gyro.test.local".into(),
            realm: "test.local".into(),
            state_id: 7,
        }
    }

    #[test]
    fn rar_and_asr_are_valid_and_addressed_to_the_gateway() {
        let dict = Dictionary::builtin();
        for (code, write) in [
            (
                command::RE_AUTH,
                write_rar as fn(&mut BytesMut, &Origin, u32, &str, &Gateway),
            ),
            (command::ABORT_SESSION, write_asr),
        ] {
            let mut buf = BytesMut::new();
            write(&mut buf, &origin(), 42, "s-1", &gateway());
            let m = Message::new(&buf).unwrap();
            let h = m.header;
            assert_eq!((h.command, h.application, h.end_to_end), (code, 4, 42));
            assert!(h.is_request() && h.is_proxiable());
            validate_with(&dict, &m, ValidateOptions::default(), &mut |_| {})
                .unwrap_or_else(|v| panic!("{code}: {}", v.message));
            let s = |c| m.find(c, 0).and_then(|a| a.utf8().ok());
            assert_eq!(s(avp::SESSION_ID), Some("s-1"));
            assert_eq!(s(avp::DESTINATION_HOST), Some("pgw.test.local"));
            assert_eq!(s(avp::DESTINATION_REALM), Some("gw.realm"));
            let rart = m
                .find(avp::RE_AUTH_REQUEST_TYPE, 0)
                .and_then(|a| a.enumerated().ok());
            let want = (code == command::RE_AUTH).then_some(value::AUTHORIZE_ONLY);
            assert_eq!(rart, want);
        }
    }
}
