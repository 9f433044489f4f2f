//! What the transport counts: every message in and out by kind (with its
//! counter handles cached per thread, since this runs for every message),
//! and the requests in flight on a connection and in the node, which the
//! node bounds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::metrics_names as mn;
use crate::diameter::message::Message;

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

pub(super) fn count_message(direction: &'static str, frame: &[u8]) {
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

/// One request in flight on a connection and in the node, until dropped.
pub(super) struct InFlight {
    conn: Arc<AtomicUsize>,
    node: Arc<AtomicUsize>,
}

impl InFlight {
    /// A place for one more request, unless the node already has `max`
    /// in flight: then None, and the request is to be refused, since
    /// waiting for room would only move the queue into memory.
    pub(super) fn try_new(
        conn: &Arc<AtomicUsize>,
        node: &Arc<AtomicUsize>,
        max: usize,
    ) -> Option<Self> {
        node.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()?;
        conn.fetch_add(1, Ordering::AcqRel);
        INFLIGHT_GAUGE.with(|g| g.increment(1.0));
        Some(InFlight {
            conn: conn.clone(),
            node: node.clone(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.fetch_sub(1, Ordering::AcqRel);
        self.node.fetch_sub(1, Ordering::AcqRel);
        INFLIGHT_GAUGE.with(|g| g.decrement(1.0));
    }
}
