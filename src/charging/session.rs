//! One credit-control session on the server side (RFC 4006 §7): who it
//! charges, where it is, the quota it holds per (Rating-Group,
//! Service-Identifier), the answers kept for retransmissions, and its
//! supervision deadline (Tcc). Owned by its account's state; never shared.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::gateway::Gateway;

use crate::model::RateCode;
use crate::model::{Allowance, UnixTime};
use crate::resolver::Subscriber;

/// Answers kept per session for retransmissions.
pub const KEPT_ANSWERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Open,
    /// gyro ended it (CCR-T answered, or a refused CCR-I); kept a while so
    /// that a retransmission gets its answer and a late CCR-U gets 5002.
    Terminated,
}

/// Quota is granted per service: the pair RFC 4006 §8.16 keys an MSCC by.
pub type ServiceKey = (Option<u32>, Option<u32>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub key: ServiceKey,
    pub allowance: Allowance,
    pub units: u64,
}

/// Whether `number` is below every kept answer's (false with none kept).
pub fn below_every<'a>(kept: impl IntoIterator<Item = &'a KeptAnswer>, number: u32) -> bool {
    kept.into_iter()
        .map(|a| a.number)
        .min()
        .is_some_and(|m| number < m)
}

/// An answer as sent, and the commit it had to wait for (0: none).
#[derive(Debug, Clone)]
pub struct KeptAnswer {
    pub number: u32,
    pub end_to_end: u32,
    pub bytes: Bytes,
    pub seq: u64,
    /// When it was sent: it is kept for the retransmission window after.
    pub at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub subscriber: Subscriber,
    /// Where the subscriber is as of the last request; usage reported in the
    /// next one happened here.
    pub rate_code: RateCode,
    pub state: SessionState,
    pub reservations: Vec<Reservation>,
    pub answers: VecDeque<KeptAnswer>,
    /// Supervision deadline: past it, the reservations are released (Tcc).
    pub expires: UnixTime,
    pub last_seen: UnixTime,
    /// Where its CCRs come from: where a RAR or an ASR for it goes. Set
    /// by every request.
    pub gateway: Option<Arc<Gateway>>,
}

impl Session {
    pub fn new(subscriber: Subscriber, rate_code: RateCode, now: UnixTime) -> Self {
        Session {
            subscriber,
            rate_code,
            state: SessionState::Open,
            reservations: vec![],
            answers: VecDeque::new(),
            expires: now,
            last_seen: now,
            gateway: None,
        }
    }

    /// A retransmission repeats both the request number and the End-to-End
    /// identifier (RFC 6733 §6.1.1); a new request that reuses a Session-Id
    /// does not.
    pub fn answer_for(&self, number: u32, end_to_end: u32) -> Option<&KeptAnswer> {
        self.answers
            .iter()
            .find(|a| a.number == number && a.end_to_end == end_to_end)
    }

    /// A request numbered below every answer still kept is an old copy:
    /// numbers grow within a session, and the kept answers are its latest,
    /// so its own answer was kept once and has gone; it was charged when
    /// first answered. (A request out of order among the kept ones is told
    /// from a copy by its End-to-End id, in `answer_for`.)
    pub fn is_stale(&self, number: u32) -> bool {
        below_every(&self.answers, number)
    }

    pub fn remember(&mut self, a: KeptAnswer) {
        if self.answers.len() == KEPT_ANSWERS {
            self.answers.pop_front();
        }
        self.answers.push_back(a);
    }

    /// Takes the reservation for `key`, if any.
    pub fn take_reservation(&mut self, key: ServiceKey) -> Option<Reservation> {
        let i = self.reservations.iter().position(|r| r.key == key)?;
        Some(self.reservations.swap_remove(i))
    }

    pub fn holds_quota(&self) -> bool {
        !self.reservations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let sub = Subscriber {
            imsi: 1,
            iccid: 2,
            slot: 0,
            sponsor: 0,
            account: 3,
            product: 0,
            in_grace: false,
        };
        Session::new(sub, "E212-262-01".parse().unwrap(), 0)
    }

    #[test]
    fn reservations_are_keyed_by_rating_group_and_service_identifier() {
        let mut s = session();
        for (key, units) in [((Some(10), Some(1)), 5), ((Some(10), Some(2)), 7)] {
            s.reservations.push(Reservation {
                key,
                allowance: Allowance::Data,
                units,
            });
        }
        assert_eq!(s.take_reservation((Some(10), None)), None);
        assert_eq!(s.take_reservation((Some(10), Some(2))).unwrap().units, 7);
        assert_eq!(s.take_reservation((Some(10), Some(1))).unwrap().units, 5);
        assert!(!s.holds_quota());
    }

    #[test]
    fn only_the_latest_answers_are_kept() {
        let mut s = session();
        for n in 0..20u32 {
            s.remember(KeptAnswer {
                number: n,
                end_to_end: n + 100,
                bytes: Bytes::new(),
                seq: 0,
                at: 0,
            });
        }
        assert!(s.answer_for(3, 103).is_none());
        assert!(s.answer_for(19, 119).is_some());
        assert!(
            s.answer_for(19, 7).is_none(),
            "a new End-to-End id is a new request"
        );
    }
}
