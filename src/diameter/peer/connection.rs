//! One transport connection's peer state machine (RFC 6733 §5.6), sans-IO:
//! frames and time go in, frames to send, messages to deliver and a close
//! decision come out. The election between two connections to the same peer is
//! the `PeerPolicy`'s call, made when a CER arrives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::capabilities::{LocalNode, PeerCapabilities};
use super::watchdog::{Watchdog, WatchdogAction, WatchdogState};
use crate::diameter::answer::{begin_answer, error_answer};
use crate::diameter::builder::MessageBuilder;
use crate::diameter::codes::{self, result, DisconnectCause};
use crate::diameter::dictionary::Dictionary;
use crate::diameter::header::{application, command};
use crate::diameter::message::Message;
use crate::diameter::validate::{validate_with, Tolerated, ValidateOptions, Violation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We connected and send the CER.
    Initiator,
    /// The peer connected; we wait for its CER.
    Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    WaitCea,
    WaitCer,
    Open,
    /// We sent DPR and wait for DPA.
    Closing,
    /// The peer sent DPR; we answered and wait for it to close.
    PeerClosing,
    Closed,
}

/// The answer to "may this peer use this connection?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accept,
    Reject { result_code: u32, message: String },
}

pub trait PeerPolicy {
    fn admit(&self, caps: &PeerCapabilities, role: Role) -> Admission;
}

/// Accepts every peer (the development default).
pub struct AcceptAll;
impl PeerPolicy for AcceptAll {
    fn admit(&self, _: &PeerCapabilities, _: Role) -> Admission {
        Admission::Accept
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    HandshakeTimeout,
    HandshakeFailed(String),
    Rejected(u32),
    UnexpectedMessage(u32),
    WatchdogDown,
    Disconnected(DisconnectCause),
    DpaTimeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Bytes),
    /// An application message (request or answer) for the dispatcher.
    Deliver(Bytes),
    Up(PeerCapabilities),
    Watchdog(WatchdogState),
    /// The peer asked to disconnect, for this reason.
    PeerDisconnecting(DisconnectCause),
    /// A peer-control message was accepted only because validation is lax.
    Tolerated(Tolerated),
    Close(CloseReason),
}

#[derive(Debug, Clone)]
pub struct ConnConfig {
    pub tw: Duration,
    /// CEA after gyro's CER, on a connection it dialled.
    pub handshake_timeout: Duration,
    /// A CER after a peer connects: an accepted connection that names no
    /// one in this time holds a socket for nothing.
    pub cer_timeout: Duration,
    pub dpa_timeout: Duration,
    /// 0 disables watchdog jitter (tests).
    pub jitter_seed: u64,
    /// How received messages are validated (`diameter.strict_m_bit`).
    pub validation: ValidateOptions,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            tw: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            cer_timeout: Duration::from_secs(5),
            dpa_timeout: Duration::from_secs(5),
            jitter_seed: 0x2545_f491_4f6c_dd1d,
            validation: ValidateOptions::default(),
        }
    }
}

pub struct PeerConnection {
    role: Role,
    state: ConnState,
    local: Arc<LocalNode>,
    dict: Arc<Dictionary>,
    cfg: ConnConfig,
    watchdog: Watchdog,
    peer: Option<PeerCapabilities>,
    deadline: Option<Instant>,
    next_hbh: u32,
    actions: VecDeque<Action>,
}

impl PeerConnection {
    pub fn new(
        role: Role,
        local: Arc<LocalNode>,
        dict: Arc<Dictionary>,
        cfg: ConnConfig,
        now: Instant,
    ) -> Self {
        let seed = cfg.jitter_seed;
        let mut c = PeerConnection {
            role,
            state: ConnState::WaitCer,
            local,
            dict,
            watchdog: Watchdog::new(cfg.tw, seed),
            cfg,
            peer: None,
            deadline: None,
            next_hbh: (seed as u32) | 1,
            actions: VecDeque::new(),
        };
        c.deadline = Some(
            now + match role {
                Role::Initiator => c.cfg.handshake_timeout,
                Role::Responder => c.cfg.cer_timeout,
            },
        );
        if role == Role::Initiator {
            c.state = ConnState::WaitCea;
            let mut buf = BytesMut::with_capacity(256);
            let hbh = c.hbh();
            c.local.write_cer(&mut buf, hbh);
            c.actions.push_back(Action::Send(buf.freeze()));
        }
        c
    }

    /// Marks the peer as one that failed before, so that the RFC 3539 REOPEN
    /// validation (three DWA) applies once the connection opens.
    pub fn after_failure(&mut self) {
        self.watchdog.on_closed();
    }

    pub fn state(&self) -> ConnState {
        self.state
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn peer(&self) -> Option<&PeerCapabilities> {
        self.peer.as_ref()
    }
    pub fn watchdog_state(&self) -> WatchdogState {
        self.watchdog.state()
    }
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadline, self.watchdog.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn hbh(&mut self) -> u32 {
        self.next_hbh = self.next_hbh.wrapping_add(1);
        self.next_hbh
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state != ConnState::Closed {
            self.state = ConnState::Closed;
            self.deadline = None;
            self.watchdog.on_closed();
            self.actions.push_back(Action::Close(reason));
        }
    }

    fn send_with(&mut self, f: impl FnOnce(&mut BytesMut)) {
        let mut buf = BytesMut::with_capacity(256);
        f(&mut buf);
        self.actions.push_back(Action::Send(buf.freeze()));
    }

    fn watchdog_event(&mut self, a: Option<WatchdogAction>) {
        match a {
            None => {}
            Some(WatchdogAction::SendDwr) => {
                let hbh = self.hbh();
                let e2e = self.local.next_end_to_end();
                let origin = self.local.origin.clone();
                self.send_with(|buf| {
                    let mut b =
                        MessageBuilder::request(buf, command::DEVICE_WATCHDOG, 0, false, hbh, e2e);
                    b.utf8(codes::ORIGIN_HOST, &origin.host)
                        .utf8(codes::ORIGIN_REALM, &origin.realm)
                        .u32(codes::ORIGIN_STATE_ID, origin.state_id);
                    b.finish();
                });
            }
            Some(WatchdogAction::Failover) | Some(WatchdogAction::Failback) => {
                self.actions
                    .push_back(Action::Watchdog(self.watchdog.state()));
            }
            Some(WatchdogAction::CloseConnection) => {
                self.actions
                    .push_back(Action::Watchdog(WatchdogState::Down));
                self.close(CloseReason::WatchdogDown);
            }
        }
    }

    /// Begins an orderly disconnect: DPR now, close on DPA or timeout.
    pub fn disconnect(&mut self, cause: DisconnectCause, now: Instant) {
        match self.state {
            ConnState::Open => {
                let hbh = self.hbh();
                let e2e = self.local.next_end_to_end();
                let origin = self.local.origin.clone();
                self.send_with(|buf| {
                    let mut b =
                        MessageBuilder::request(buf, command::DISCONNECT_PEER, 0, false, hbh, e2e);
                    b.utf8(codes::ORIGIN_HOST, &origin.host)
                        .utf8(codes::ORIGIN_REALM, &origin.realm)
                        .i32(codes::DISCONNECT_CAUSE, cause as i32);
                    b.finish();
                });
                self.state = ConnState::Closing;
                self.deadline = Some(now + self.cfg.dpa_timeout);
            }
            ConnState::Closing | ConnState::PeerClosing | ConnState::Closed => {}
            ConnState::WaitCea | ConnState::WaitCer => self.close(CloseReason::Disconnected(cause)),
        }
    }

    pub fn transport_closed(&mut self) {
        self.state = ConnState::Closed;
        self.deadline = None;
        self.watchdog.on_closed();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline {
            if now >= d {
                self.deadline = None;
                match self.state {
                    ConnState::WaitCea | ConnState::WaitCer => {
                        return self.close(CloseReason::HandshakeTimeout)
                    }
                    ConnState::Closing => return self.close(CloseReason::DpaTimeout),
                    ConnState::PeerClosing => {
                        return self.close(CloseReason::Disconnected(DisconnectCause::Rebooting))
                    }
                    _ => {}
                }
            }
        }
        if matches!(self.state, ConnState::Open | ConnState::Closing) {
            let a = self.watchdog.on_timeout(now);
            self.watchdog_event(a);
        }
    }

    /// A complete frame from the framer.
    pub fn handle_frame(&mut self, frame: Bytes, now: Instant, policy: &dyn PeerPolicy) {
        let Some(msg) = Message::new(&frame) else {
            return self.close(CloseReason::HandshakeFailed("unparseable header".into()));
        };
        let h = msg.header;
        match self.state {
            ConnState::Closed => {}
            ConnState::WaitCer => {
                if h.command == command::CAPABILITIES_EXCHANGE && h.is_request() {
                    self.on_cer(&msg, now, policy);
                } else {
                    // RFC 6733 §5.6.1: anything but a CER first drops the connection.
                    self.close(CloseReason::UnexpectedMessage(h.command));
                }
            }
            ConnState::WaitCea => {
                if h.command == command::CAPABILITIES_EXCHANGE && !h.is_request() {
                    self.on_cea(&msg, now, policy);
                } else {
                    self.close(CloseReason::UnexpectedMessage(h.command));
                }
            }
            ConnState::Open | ConnState::Closing | ConnState::PeerClosing => {
                let is_dwa = h.command == command::DEVICE_WATCHDOG && !h.is_request();
                let a = self.watchdog.on_receive(is_dwa, now);
                self.watchdog_event(a);
                match (h.command, h.is_request()) {
                    (command::DEVICE_WATCHDOG, true) => self.answer_base(&msg, |_| {}),
                    (command::DEVICE_WATCHDOG, false) => {}
                    (command::DISCONNECT_PEER, true) => self.on_dpr(&msg, now),
                    (command::DISCONNECT_PEER, false) => {
                        if self.state == ConnState::Closing {
                            self.close(CloseReason::DpaTimeout);
                            // Replace the reason: the DPA did arrive.
                            if let Some(Action::Close(r)) = self.actions.back_mut() {
                                *r = CloseReason::Disconnected(DisconnectCause::Rebooting);
                            }
                        }
                    }
                    (command::CAPABILITIES_EXCHANGE, true) => {
                        // A second CER on an open connection is not part of the protocol.
                        self.answer_error(
                            &msg,
                            result::UNABLE_TO_COMPLY,
                            "capabilities already exchanged",
                        );
                    }
                    (command::CAPABILITIES_EXCHANGE, false) => {}
                    _ => self.actions.push_back(Action::Deliver(frame)),
                }
            }
        }
    }

    /// Validates a peer-control message; what lax validation let through is
    /// reported only when the message is accepted.
    fn validate<'a>(&mut self, msg: &Message<'a>) -> Result<(), Violation<'a>> {
        let mut tolerated = vec![];
        validate_with(&self.dict, msg, self.cfg.validation, &mut |t| {
            tolerated.push(t)
        })?;
        self.actions
            .extend(tolerated.into_iter().map(Action::Tolerated));
        Ok(())
    }

    fn answer_error(&mut self, msg: &Message<'_>, code: u32, text: &str) {
        let origin = self.local.origin.clone();
        self.send_with(|buf| {
            crate::diameter::answer::simple_error(buf, &origin, msg, code, text);
        });
    }

    /// DWA/DPA: Result-Code 2001 plus what `extra` adds; invalid requests get
    /// the validator's answer instead.
    fn answer_base(&mut self, msg: &Message<'_>, extra: impl FnOnce(&mut MessageBuilder<'_>)) {
        let dict = self.dict.clone();
        let origin = self.local.origin.clone();
        let include_state = msg.header.command == command::DEVICE_WATCHDOG;
        match self.validate(msg) {
            Ok(()) => self.send_with(|buf| {
                let mut b = begin_answer(buf, &origin, msg, result::SUCCESS);
                if include_state {
                    b.u32(codes::ORIGIN_STATE_ID, origin.state_id);
                }
                extra(&mut b);
                b.finish();
            }),
            Err(v) => self.send_with(|buf| {
                error_answer(buf, &dict, &origin, msg, &v);
            }),
        }
    }

    fn on_dpr(&mut self, msg: &Message<'_>, now: Instant) {
        let cause = msg
            .find(273, 0)
            .and_then(|a| a.enumerated().ok())
            .and_then(DisconnectCause::from_i32)
            .unwrap_or(DisconnectCause::Rebooting);
        self.answer_base(msg, |_| {});
        self.actions.push_back(Action::PeerDisconnecting(cause));
        // The side that receives the DPA closes; give the peer time to do so.
        self.state = ConnState::PeerClosing;
        self.deadline = Some(now + self.cfg.dpa_timeout);
    }

    fn on_cer(&mut self, msg: &Message<'_>, now: Instant, policy: &dyn PeerPolicy) {
        if let Err(v) = self.validate(msg) {
            let local = self.local.clone();
            let text = v.message.clone();
            self.send_with(|buf| local.write_cea(buf, msg, v.result_code, Some(&text)));
            return self.close(CloseReason::HandshakeFailed(v.message));
        }
        let caps = PeerCapabilities::read(msg);
        if caps
            .common_applications(&self.local.auth_applications)
            .is_empty()
        {
            let local = self.local.clone();
            self.send_with(|buf| {
                local.write_cea(
                    buf,
                    msg,
                    result::NO_COMMON_APPLICATION,
                    Some("no common application"),
                )
            });
            return self.close(CloseReason::Rejected(result::NO_COMMON_APPLICATION));
        }
        match policy.admit(&caps, self.role) {
            Admission::Accept => {
                let local = self.local.clone();
                self.send_with(|buf| local.write_cea(buf, msg, result::SUCCESS, None));
                self.open(caps, now);
            }
            Admission::Reject {
                result_code,
                message,
            } => {
                let local = self.local.clone();
                self.send_with(|buf| local.write_cea(buf, msg, result_code, Some(&message)));
                self.close(CloseReason::Rejected(result_code));
            }
        }
    }

    fn on_cea(&mut self, msg: &Message<'_>, now: Instant, policy: &dyn PeerPolicy) {
        let rc = msg.result_code();
        if let Err(v) = self.validate(msg) {
            return self.close(CloseReason::HandshakeFailed(v.message));
        }
        if rc != Some(result::SUCCESS) {
            return self.close(CloseReason::Rejected(rc.unwrap_or(0)));
        }
        let caps = PeerCapabilities::read(msg);
        if caps
            .common_applications(&self.local.auth_applications)
            .is_empty()
        {
            return self.close(CloseReason::Rejected(result::NO_COMMON_APPLICATION));
        }
        if let Admission::Reject { result_code, .. } = policy.admit(&caps, self.role) {
            return self.close(CloseReason::Rejected(result_code));
        }
        self.open(caps, now);
    }

    fn open(&mut self, caps: PeerCapabilities, now: Instant) {
        self.state = ConnState::Open;
        self.deadline = None;
        self.watchdog.on_open(now);
        self.peer = Some(caps.clone());
        self.actions.push_back(Action::Up(caps));
        self.actions
            .push_back(Action::Watchdog(self.watchdog.state()));
    }

    /// Whether application requests may be sent to this peer now.
    pub fn is_usable(&self) -> bool {
        self.state == ConnState::Open && self.watchdog.is_usable()
    }

    pub fn application_supported(&self, app: u32) -> bool {
        app == application::COMMON
            || self.peer.as_ref().is_some_and(|p| {
                p.applications.contains(&app) || p.applications.contains(&application::RELAY)
            })
    }
}

#[cfg(test)]
mod tests;
