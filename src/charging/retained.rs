//! Answers kept past their session, for as long as a retransmission can
//! still come: the last answer of a session the ledger forgot (ended and
//! past its linger, or silent past Tcc), and, after a restart, every
//! answer the xDR log holds from the window before it. A request on a
//! Session-Id the ledger does not know is looked up here first, so a
//! retransmission gets its original answer instead of a second charge.
//!
//! In proxy mode the answers of relayed requests are kept here too, so that
//! a retransmission is answered without going up again.
//!
//! Each answer lives for the retransmission window after it was sent, then
//! is dropped: memory holds at most one window of them.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::session::{below_every, KeptAnswer, KEPT_ANSWERS};
use crate::model::UnixTime;

pub struct Retained {
    by_session: DashMap<Box<str>, Vec<KeptAnswer>, FxBuildHasher>,
    /// Sessions held, so that the common case (none) costs one load.
    held: AtomicUsize,
    /// Seconds an answer is kept after it was sent.
    window: i64,
}

impl Retained {
    pub fn new(window: i64) -> Retained {
        Retained {
            by_session: DashMap::default(),
            held: AtomicUsize::new(0),
            window,
        }
    }

    pub fn window(&self) -> i64 {
        self.window
    }

    pub fn is_empty(&self) -> bool {
        self.held.load(Ordering::Relaxed) == 0
    }

    /// Keeps answers of `session` (oldest first) that are still inside the
    /// window at `now`; at most the session's last `KEPT_ANSWERS`.
    pub fn keep<'a>(
        &self,
        session: &str,
        answers: impl IntoIterator<Item = &'a KeptAnswer>,
        now: UnixTime,
    ) {
        let live: Vec<KeptAnswer> = answers
            .into_iter()
            .filter(|a| a.at + self.window > now)
            .cloned()
            .collect();
        if live.is_empty() {
            return;
        }
        let mut e = self.by_session.entry(session.into()).or_insert_with(|| {
            self.held.fetch_add(1, Ordering::Relaxed);
            vec![]
        });
        for a in live {
            e.retain(|k| (k.number, k.end_to_end) != (a.number, a.end_to_end));
            e.push(a);
        }
        let over = e.len().saturating_sub(KEPT_ANSWERS);
        e.drain(..over);
    }

    /// The answer kept for this request, if it is a retransmission.
    pub fn answer_for(&self, session: &str, number: u32, end_to_end: u32) -> Option<KeptAnswer> {
        if self.is_empty() {
            return None;
        }
        let e = self.by_session.get(session)?;
        e.iter()
            .find(|a| a.number == number && a.end_to_end == end_to_end)
            .cloned()
    }

    /// Whether a request of `session` numbered `number` is an old copy:
    /// below every answer held for it (see `Session::is_stale`).
    pub fn is_stale(&self, session: &str, number: u32) -> bool {
        if self.is_empty() {
            return false;
        }
        self.by_session
            .get(session)
            .is_some_and(|e| below_every(e.iter(), number))
    }

    /// Takes the answers of a session the ledger now knows again.
    pub fn take(&self, session: &str) -> Vec<KeptAnswer> {
        if self.is_empty() {
            return vec![];
        }
        match self.by_session.remove(session) {
            Some((_, v)) => {
                self.held.fetch_sub(1, Ordering::Relaxed);
                v
            }
            None => vec![],
        }
    }

    /// Drops the answers whose window is over at `now`.
    pub fn sweep(&self, now: UnixTime) {
        if self.is_empty() {
            return;
        }
        self.by_session.retain(|_, v| {
            v.retain(|a| a.at + self.window > now);
            let keep = !v.is_empty();
            if !keep {
                self.held.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }

    /// After a restart: the answers the xDR log kept from the window
    /// before `now` (oldest first).
    pub fn restore(&self, answered: Vec<super::xdr::Answered>, now: UnixTime) -> usize {
        let mut n = 0;
        for a in answered {
            let k = KeptAnswer {
                number: a.request_number,
                end_to_end: a.end_to_end,
                bytes: a.answer,
                seq: a.seq,
                at: a.time,
            };
            if k.at + self.window > now {
                self.keep(&a.session_id, [&k], now);
                n += 1;
            }
        }
        n
    }

    /// Sessions whose answers are held here.
    pub fn sessions(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn kept(number: u32, at: UnixTime) -> KeptAnswer {
        KeptAnswer {
            number,
            end_to_end: number + 100,
            bytes: Bytes::from(vec![number as u8]),
            seq: u64::from(number),
            at,
        }
    }

    #[test]
    fn answers_live_for_the_window_then_go() {
        let r = Retained::new(60);
        assert!(r.answer_for("s", 1, 101).is_none());
        r.keep("s", &[kept(1, 1000), kept(2, 1010)], 1020);
        assert_eq!(r.answer_for("s", 2, 102).unwrap().bytes[..], [2]);
        assert!(r.answer_for("s", 2, 7).is_none(), "a new End-to-End id");
        r.sweep(1065);
        assert!(r.answer_for("s", 1, 101).is_none(), "past the window");
        assert!(r.answer_for("s", 2, 102).is_some());
        r.sweep(1070);
        assert!(r.is_empty());
        r.keep("t", &[kept(1, 0)], 1000);
        assert!(
            r.is_empty(),
            "an answer already past its window is not kept"
        );
    }

    #[test]
    fn a_session_known_again_takes_its_answers() {
        let r = Retained::new(60);
        r.keep("s", &[kept(1, 1000)], 1000);
        assert_eq!(r.take("s").len(), 1);
        assert!(r.is_empty());
        assert!(r.take("s").is_empty());
    }
}
