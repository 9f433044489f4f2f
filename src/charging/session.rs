//! Credit-control sessions on the server side (RFC 4006 §7): request numbers,
//! stored answers for retransmissions, reservations per rating group, and
//! supervision (Tcc) that releases the reservations of a silent session.

use std::collections::VecDeque;

use bytes::Bytes;
use dashmap::DashMap;

use super::balance::Allowance;
use crate::inventory::model::UnixTime;
use crate::resolver::location::RateCode;
use crate::resolver::Subscriber;

/// Answers kept per session for retransmissions.
const KEPT_ANSWERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Open,
    /// CCR-T answered; kept a while so that a retransmitted T gets its answer.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Rating-Group (or Service-Identifier) the quota belongs to.
    pub key: u32,
    pub allowance: Allowance,
    pub units: u64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub subscriber: Subscriber,
    pub rate_code: RateCode,
    pub state: SessionState,
    pub reservations: Vec<Reservation>,
    /// (request number, End-to-End id, answer bytes, commit it waits for)
    /// of the latest requests.
    pub answers: VecDeque<(u32, u32, Bytes, u64)>,
    /// After this, the reservations are released (Tcc).
    pub expires: UnixTime,
}

impl Session {
    pub fn new(subscriber: Subscriber, rate_code: RateCode, expires: UnixTime) -> Self {
        Session {
            subscriber,
            rate_code,
            state: SessionState::Open,
            reservations: vec![],
            answers: VecDeque::new(),
            expires,
        }
    }
    /// A retransmission repeats both the request number and the End-to-End
    /// identifier (RFC 6733 §6.1.1); a new request that reuses a Session-Id
    /// does not.
    pub fn answer_for(&self, number: u32, end_to_end: u32) -> Option<(Bytes, u64)> {
        self.answers
            .iter()
            .find(|(n, e, _, _)| *n == number && *e == end_to_end)
            .map(|(_, _, b, s)| (b.clone(), *s))
    }
    /// `seq`: the commit that must be durable before this answer may be sent
    /// (again); 0 when none.
    pub fn remember(&mut self, number: u32, end_to_end: u32, answer: Bytes, seq: u64) {
        if self.answers.len() == KEPT_ANSWERS {
            self.answers.pop_front();
        }
        self.answers.push_back((number, end_to_end, answer, seq));
    }
    /// Takes the reservation for `key`, if any.
    pub fn take_reservation(&mut self, key: u32) -> Option<Reservation> {
        let i = self.reservations.iter().position(|r| r.key == key)?;
        Some(self.reservations.swap_remove(i))
    }
}

#[derive(Default)]
pub struct Sessions {
    pub(crate) map: DashMap<String, Session, rustc_hash::FxBuildHasher>,
}

impl Sessions {
    /// Sessions whose supervision timer ran out at `now`, removed from the
    /// table with their reservations (the caller releases those).
    pub fn expire(&self, now: UnixTime) -> Vec<(String, Session)> {
        let dead: Vec<String> = self
            .map
            .iter()
            .filter(|e| e.expires <= now)
            .map(|e| e.key().clone())
            .collect();
        dead.into_iter()
            .filter_map(|k| self.map.remove_if(&k, |_, s| s.expires <= now))
            .collect()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
