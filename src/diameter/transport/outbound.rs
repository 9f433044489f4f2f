//! The outbound request path: requests gyro itself sends to a peer (RAR and
//! ASR from the embedded OCS, CCRs forwarded by the proxy mode) and the
//! answers that come back. It knows no application: a request goes out as
//! the caller encoded it, with a Hop-by-Hop id of the connection's own, and
//! its answer comes back with the caller's id restored.
//!
//! `PeerTable::send_request` queues a request on the open connection to a
//! peer; that connection's task writes it in the same batched write as its
//! answers and keeps it in its `Pending` table until the answer, the
//! deadline (Tx) or the end of the connection.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};

use super::metrics_names as mn;
use super::pending::Pending;
use crate::diameter::header::{flags, HEADER_LEN};

/// Why an outbound request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SendError {
    #[error("no open connection to the peer")]
    NoOpenConnection,
    #[error("the connection closed before the answer came")]
    TransportLost,
    #[error("no answer within the request timeout")]
    Timeout,
    /// The bytes are not a Diameter request (too short, or no R bit).
    #[error("not a Diameter request")]
    NotARequest,
}

impl SendError {
    /// The `result` label of `gyro_diameter_outbound_requests_total`.
    pub fn label(self) -> &'static str {
        match self {
            SendError::NoOpenConnection => "not_connected",
            SendError::TransportLost => "transport_lost",
            SendError::Timeout => "timeout",
            SendError::NotARequest => "not_a_request",
        }
    }
}

pub type SendResult = Result<Bytes, SendError>;

/// A request on its way to a connection's task.
pub(super) struct OutboundRequest {
    pub request: Bytes,
    /// Taken when the caller submitted it: time in the queue counts.
    pub deadline: Instant,
    pub reply: oneshot::Sender<SendResult>,
}

// Unbounded: `send_request` queues without waiting, so that many requests
// started together are in flight together; the connection drains the queue
// at every wake-up, and the deadlines bound how long anything stays.
pub(super) type OutboundTx = mpsc::UnboundedSender<OutboundRequest>;
pub(super) type OutboundRx = mpsc::UnboundedReceiver<OutboundRequest>;

pub(super) fn channel() -> (OutboundTx, OutboundRx) {
    mpsc::unbounded_channel()
}

/// Whether a delivered application message is an answer (the state machine
/// already parsed its header).
pub(super) fn is_answer(frame: &[u8]) -> bool {
    frame.len() >= HEADER_LEN && frame[4] & flags::REQUEST == 0
}

fn hop_by_hop(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[12], frame[13], frame[14], frame[15]])
}

/// One connection's end of the path: its queue and its pending requests.
pub(super) struct OutboundPath {
    rx: OutboundRx,
    pending: Pending<oneshot::Sender<SendResult>>,
}

impl OutboundPath {
    pub fn new(rx: OutboundRx, hbh_seed: u32) -> Self {
        OutboundPath {
            rx,
            pending: Pending::new(hbh_seed),
        }
    }

    pub async fn recv(&mut self) -> Option<OutboundRequest> {
        self.rx.recv().await
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.pending.next_deadline()
    }

    /// Writes `first` and whatever else is queued into `out` through `emit`,
    /// each with a fresh Hop-by-Hop id. `usable`: the connection may carry
    /// application requests now (open, watchdog OKAY); if not, they fail.
    pub fn write(
        &mut self,
        first: OutboundRequest,
        usable: bool,
        now: Instant,
        out: &mut BytesMut,
        emit: fn(&mut BytesMut, &[u8]),
    ) {
        let mut next = Some(first);
        while let Some(r) = next.take().or_else(|| self.rx.try_recv().ok()) {
            if !usable {
                let _ = r.reply.send(Err(SendError::NoOpenConnection));
                continue;
            }
            if r.deadline <= now {
                let _ = r.reply.send(Err(SendError::Timeout));
                continue;
            }
            let hbh = self
                .pending
                .insert(r.deadline, hop_by_hop(&r.request), r.reply);
            let at = out.len();
            emit(out, &r.request);
            out[at + 12..at + 16].copy_from_slice(&hbh.to_be_bytes());
            PENDING.with(|g| g.increment(1.0));
        }
    }

    /// An answer from the peer: to the request it answers, with the
    /// caller's Hop-by-Hop id back; dropped and counted when it is late or
    /// answers nothing gyro sent.
    pub fn answer(&mut self, frame: Bytes) {
        let hbh = hop_by_hop(&frame);
        let Some(e) = self.pending.take(hbh) else {
            metrics::counter!(mn::LATE_ANSWERS).increment(1);
            tracing::debug!(
                hbh,
                len = frame.len(),
                "answer matching no pending request (late or unknown), dropped"
            );
            return;
        };
        PENDING.with(|g| g.decrement(1.0));
        // The frame is a view into the read buffer: restoring the id needs
        // a copy of its own.
        let mut a = BytesMut::from(&frame[..]);
        a[12..16].copy_from_slice(&e.original_hbh.to_be_bytes());
        let _ = e.waiter.send(Ok(a.freeze()));
    }

    /// Fails the requests whose Tx has passed.
    pub fn expire(&mut self, now: Instant) {
        for e in self.pending.expire(now) {
            PENDING.with(|g| g.decrement(1.0));
            let _ = e.waiter.send(Err(SendError::Timeout));
        }
    }

    /// The connection is gone: every pending and queued request fails now.
    pub fn close(&mut self) {
        self.rx.close();
        if self.pending.len() > 0 {
            tracing::info!(
                pending = self.pending.len(),
                "connection closed with requests of ours unanswered; they fail"
            );
        }
        for e in self.pending.fail_all() {
            PENDING.with(|g| g.decrement(1.0));
            let _ = e.waiter.send(Err(SendError::TransportLost));
        }
        while let Ok(r) = self.rx.try_recv() {
            let _ = r.reply.send(Err(SendError::TransportLost));
        }
    }
}

/// (command, Result-Code or the error) of one outbound request.
type OutcomeKey = (u32, Result<u32, SendError>);

thread_local! {
    /// Touched twice per request: registered once per thread.
    static PENDING: metrics::Gauge = metrics::gauge!(mn::PENDING_REQUESTS);
    /// Counter handles by (command, Result-Code or error): a registry
    /// look-up with label hashing per request cost more than the increment.
    static OUTBOUND: std::cell::RefCell<rustc_hash::FxHashMap<OutcomeKey, metrics::Counter>> =
        Default::default();
}

/// Peers choose Result-Codes: keep the cache small.
const MAX_CACHED: usize = 256;

/// Counts one outbound request by command and outcome (Result-Code, or the
/// error's label).
pub(super) fn count_outbound(command: u32, r: &SendResult) {
    let key = (
        command,
        r.as_ref()
            .map(|a| {
                crate::diameter::message::Message::new(a)
                    .and_then(|m| m.result_code())
                    .unwrap_or(0)
            })
            .map_err(|e| *e),
    );
    let register = || {
        let result = match key.1 {
            Ok(0) => "none".into(),
            Ok(rc) => super::count::result_label(rc),
            Err(e) => e.label().into(),
        };
        metrics::counter!(mn::OUTBOUND_REQUESTS, "command" => super::count::command_label(command), "result" => result)
    };
    OUTBOUND.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED && !c.contains_key(&key) {
            return register().increment(1);
        }
        c.entry(key).or_insert_with(register).increment(1)
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn message(request: bool, hbh: u32) -> Bytes {
        let mut b = BytesMut::new();
        let mut m = crate::diameter::MessageBuilder::request(&mut b, 258, 4, true, hbh, 9);
        m.utf8(crate::diameter::codes::SESSION_ID, "s");
        m.finish();
        if !request {
            b[4] &= !flags::REQUEST;
        }
        b.freeze()
    }

    fn queued(tx: &OutboundTx, hbh: u32, deadline: Instant) -> oneshot::Receiver<SendResult> {
        let (reply, rx) = oneshot::channel();
        tx.send(OutboundRequest {
            request: message(true, hbh),
            deadline,
            reply,
        })
        .unwrap();
        rx
    }

    fn plain(out: &mut BytesMut, b: &[u8]) {
        out.extend_from_slice(b);
    }

    #[test]
    fn requests_leave_under_fresh_ids_and_answers_come_back_under_the_callers() {
        let t0 = Instant::now();
        let (tx, rx) = channel();
        let mut path = OutboundPath::new(rx, 1000);
        let mut first = queued(&tx, 7, t0 + Duration::from_secs(5));
        let mut second = queued(&tx, 7, t0 + Duration::from_secs(5));
        let mut out = BytesMut::new();
        let r = path.rx.try_recv().unwrap();
        path.write(r, true, t0, &mut out, plain);
        assert_eq!(out.len(), 2 * message(true, 0).len(), "both in one write");
        let (a, b) = (hop_by_hop(&out), hop_by_hop(&out[out.len() / 2..]));
        assert_eq!((a, b), (1001, 1002));
        path.answer(message(false, b));
        let got = second.try_recv().unwrap().unwrap();
        assert_eq!(hop_by_hop(&got), 7, "the caller's id restored");
        assert!(first.try_recv().is_err(), "still waiting");
        path.answer(message(false, b)); // late: dropped, no panic
        path.answer(message(false, 0xffff)); // unknown: dropped
        path.expire(t0 + Duration::from_secs(5));
        assert_eq!(first.try_recv().unwrap(), Err(SendError::Timeout));
        path.answer(message(false, a)); // after its Tx: late
    }

    #[test]
    fn a_closed_or_unusable_connection_fails_its_requests() {
        let t0 = Instant::now();
        let (tx, rx) = channel();
        let mut path = OutboundPath::new(rx, 0);
        let mut out = BytesMut::new();
        let mut refused = queued(&tx, 1, t0 + Duration::from_secs(5));
        let r = path.rx.try_recv().unwrap();
        path.write(r, false, t0, &mut out, plain);
        assert!(out.is_empty());
        assert_eq!(
            refused.try_recv().unwrap(),
            Err(SendError::NoOpenConnection)
        );
        let mut waiting = queued(&tx, 2, t0 + Duration::from_secs(5));
        let r = path.rx.try_recv().unwrap();
        path.write(r, true, t0, &mut out, plain);
        let mut queued_only = queued(&tx, 3, t0 + Duration::from_secs(5));
        path.close();
        assert_eq!(waiting.try_recv().unwrap(), Err(SendError::TransportLost));
        assert_eq!(
            queued_only.try_recv().unwrap(),
            Err(SendError::TransportLost)
        );
        assert!(
            tx.send(OutboundRequest {
                request: message(true, 4),
                deadline: t0,
                reply: oneshot::channel().0,
            })
            .is_err(),
            "a closed connection takes no more"
        );
    }
}
