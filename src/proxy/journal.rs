//! The failsafe journal, sans-IO: what gyro answered itself while no
//! upstream OCS answered, and how it is presented to the OCS later.
//!
//! A locally answered request is presented again as itself: the gateway's
//! request rewritten exactly as it would have gone up (the same Session-Id,
//! CC-Request-Number and End-to-End id, the canonical identity and visited
//! network it had then) with the T flag. An OCS that charged it before its
//! answer was lost recognises the duplicate (RFC 6733 §6.1.1, RFC 8506
//! §5.1) and charges nothing more; one that never saw it charges it once. A
//! session begun locally reaches the OCS as it happened (I, U..., T): while
//! a session has entries the OCS has not acknowledged, its next requests
//! are answered locally and journalled behind them, so the OCS never sees
//! them out of order.
//!
//! The OCS's answer decides: acknowledged (2001, and each MSCC 2001 or
//! without a Result-Code), refused (parked for an operator), or try again
//! (3xxx, a lost connection).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use super::rewrite::{forward_request, Canonical, Forward, Names, RewriteError};
use crate::diameter::codes::{avp, result};
use crate::diameter::Message;
use crate::inventory::proxy_journal::{AnsweredEntry, JournalEntry};
use crate::model::UnixTime;

/// How long a retransmission of an acknowledged entry is still answered
/// from the journal.
pub const KEPT_FOR: UnixTime = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("journal entry {0}: its request does not parse")]
    Unreadable(u64),
    #[error("journal entry {0}: the request already passed through this node")]
    Loop(u64),
}

/// An answer gyro gave itself, kept for retransmissions.
struct Kept {
    end_to_end: u32,
    /// Empty while the entry is being journalled.
    answer: Bytes,
    at: UnixTime,
    /// Not yet acknowledged upstream: kept whatever its age.
    pending: bool,
}

#[derive(Default)]
struct State {
    /// Sessions with entries the OCS has not acknowledged (or a local
    /// answer under way), by how many.
    held: HashMap<String, u32>,
    kept: HashMap<(String, u32), Kept>,
}

/// What the request path needs of the journal: which sessions stay local,
/// and the answers for retransmissions. One lock covers both.
#[derive(Default)]
pub struct Journal {
    state: Mutex<State>,
}

impl Journal {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// At a start: the entries still in the journal and the answers kept.
    pub fn load(&self, entries: &[JournalEntry], answered: &[AnsweredEntry]) {
        let mut s = self.state();
        let acknowledged = answered.iter().map(|a| {
            (
                &a.session_id,
                a.request_number,
                a.end_to_end,
                &a.answer,
                a.at,
                false,
            )
        });
        let journalled = entries.iter().map(|e| {
            (
                &e.session_id,
                e.request_number,
                e.end_to_end,
                &e.answer,
                e.at,
                true,
            )
        });
        for (sid, number, end_to_end, answer, at, pending) in acknowledged.chain(journalled) {
            if pending {
                *s.held.entry(sid.clone()).or_default() += 1;
            }
            let k = Kept {
                end_to_end,
                answer: Bytes::from(answer.clone()),
                at,
                pending,
            };
            s.kept.insert((sid.clone(), number), k);
        }
    }

    /// Whether the session's requests must be answered locally: the OCS has
    /// not acknowledged all that came before.
    pub fn holds(&self, session_id: &str) -> bool {
        self.state().held.contains_key(session_id)
    }

    /// The answer gyro gave to this request, if it answered it itself:
    /// a retransmission gets it again and is neither forwarded nor charged.
    pub fn answer_for(&self, session_id: &str, number: u32, end_to_end: u32) -> Option<Bytes> {
        let s = self.state();
        let k = s.kept.get(&(session_id.to_string(), number))?;
        (k.end_to_end == end_to_end && !k.answer.is_empty()).then(|| k.answer.clone())
    }

    /// Before a local answer: the session is held, and the request claimed
    /// for journalling. False when it is journalled already (a
    /// retransmission answered locally again must not be journalled twice).
    pub fn claim(&self, session_id: &str, number: u32, end_to_end: u32, now: UnixTime) -> bool {
        let mut s = self.state();
        *s.held.entry(session_id.to_string()).or_default() += 1;
        let key = (session_id.to_string(), number);
        if s.kept.get(&key).is_some_and(|k| k.end_to_end == end_to_end) {
            return false;
        }
        s.kept.insert(
            key,
            Kept {
                end_to_end,
                answer: Bytes::new(),
                at: now,
                pending: true,
            },
        );
        true
    }

    /// The claimed request was journalled with `answer`.
    pub fn journalled(&self, session_id: &str, number: u32, answer: Bytes) {
        if let Some(k) = self.state().kept.get_mut(&(session_id.to_string(), number)) {
            k.answer = answer;
        }
    }

    /// The claimed request was not journalled (or was a duplicate): the
    /// hold `claim` took is let go; `forget` drops the claim too.
    pub fn unclaim(&self, session_id: &str, number: u32, forget: bool) {
        let mut s = self.state();
        release(&mut s, session_id);
        if forget {
            s.kept.remove(&(session_id.to_string(), number));
        }
    }

    /// The OCS acknowledged an entry: its session is held by one fewer.
    pub fn acknowledged(&self, session_id: &str, number: u32, now: UnixTime) {
        let mut s = self.state();
        release(&mut s, session_id);
        if let Some(k) = s.kept.get_mut(&(session_id.to_string(), number)) {
            k.pending = false;
            k.at = now;
        }
    }

    /// Forgets acknowledged answers older than `KEPT_FOR`.
    pub fn sweep(&self, now: UnixTime) {
        self.state()
            .kept
            .retain(|_, k| k.pending || now - k.at < KEPT_FOR);
    }
}

fn release(s: &mut State, session_id: &str) {
    if let Some(n) = s.held.get_mut(session_id) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.held.remove(session_id);
        }
    }
}

/// The entries to present now, in order: a session's entries wait behind
/// one of its own that is parked.
pub fn sendable(entries: &[JournalEntry]) -> Vec<&JournalEntry> {
    let mut blocked: HashSet<&str> = HashSet::new();
    let mut out = vec![];
    for e in entries {
        if e.parked.is_some() {
            blocked.insert(&e.session_id);
        } else if !blocked.contains(e.session_id.as_str()) {
            out.push(e);
        }
    }
    out
}

/// The entry's request as it goes to `upstream` now: rewritten as it was
/// when gyro answered it, with the T flag.
pub fn replay_request(
    buf: &mut BytesMut,
    e: &JournalEntry,
    our_host: &str,
    upstream: &str,
) -> Result<usize, JournalError> {
    let req = Message::new(&e.request).ok_or(JournalError::Unreadable(e.id))?;
    let canonical = Canonical {
        kind: e.identity.0,
        data: e.identity.1.clone(),
        user_name: e.identity.2.clone(),
    };
    let f = Forward {
        our_host,
        destination_host: Some(upstream),
        names: Names::Canonical(&canonical),
        visited: e.visited.as_deref(),
        retransmit: true,
    };
    forward_request(buf, &req, &f).map_err(|RewriteError::Loop| JournalError::Loop(e.id))
}

/// What the OCS's answer to a presented entry means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The usage is the OCS's now.
    Acknowledged,
    /// The OCS will not take it as it is: parked for an operator.
    Refused {
        result_code: u32,
        mscc_result_codes: Vec<u32>,
        error_message: Option<String>,
    },
    /// Busy, cannot deliver, or no readable answer: try again later.
    Retry,
}

/// Reads the command-level Result-Code and each MSCC's.
pub fn verdict(answer: &[u8]) -> Verdict {
    let Some(m) = Message::new(answer) else {
        return Verdict::Retry;
    };
    let Some(code) = m.result_code() else {
        return Verdict::Retry;
    };
    if (3000..4000).contains(&code) {
        return Verdict::Retry;
    }
    let mscc_result_codes: Vec<u32> = m
        .find_all(avp::MULTIPLE_SERVICES_CREDIT_CONTROL, 0)
        .filter_map(|g| g.member(avp::RESULT_CODE, 0))
        .filter_map(|r| r.u32().ok())
        .collect();
    if code == result::SUCCESS && mscc_result_codes.iter().all(|c| *c == result::SUCCESS) {
        return Verdict::Acknowledged;
    }
    Verdict::Refused {
        result_code: code,
        mscc_result_codes,
        error_message: m
            .find(crate::diameter::codes::ERROR_MESSAGE.code, 0)
            .and_then(|a| a.utf8().ok())
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests;
