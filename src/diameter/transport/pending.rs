//! Requests gyro sent on one connection and still waits for, sans-IO: the
//! Hop-by-Hop id given on the wire, the caller's own id to restore in the
//! answer, what to wake, and the deadline (Tx). `now` is always passed in.
//!
//! A connection owns its table, so a Hop-by-Hop id only has to be unique
//! among that connection's pending requests (RFC 6733 §3).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rustc_hash::FxBuildHasher;

/// One request waiting for its answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<W> {
    /// The Hop-by-Hop id the caller's request carried; the answer gets it back.
    pub original_hbh: u32,
    pub deadline: Instant,
    pub waiter: W,
}

#[derive(Debug)]
pub struct Pending<W> {
    last_hbh: u32,
    by_hbh: HashMap<u32, Entry<W>, FxBuildHasher>,
    /// Deadlines in order, to expire the oldest first without a scan.
    by_deadline: BTreeSet<(Instant, u32)>,
}

impl<W> Pending<W> {
    /// `seed` picks where this connection's Hop-by-Hop ids start, so that
    /// they do not follow the ids of the peer-control messages.
    pub fn new(seed: u32) -> Self {
        Pending {
            last_hbh: seed,
            by_hbh: HashMap::default(),
            by_deadline: BTreeSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_hbh.len()
    }

    /// Remembers a request; returns the fresh Hop-by-Hop id to send it with.
    pub fn insert(&mut self, deadline: Instant, original_hbh: u32, waiter: W) -> u32 {
        // After a wrap, skip ids still waiting (a table of 2^32 entries is
        // not a case: memory runs out long before).
        let hbh = loop {
            self.last_hbh = self.last_hbh.wrapping_add(1);
            if !self.by_hbh.contains_key(&self.last_hbh) {
                break self.last_hbh;
            }
        };
        self.by_hbh.insert(
            hbh,
            Entry {
                original_hbh,
                deadline,
                waiter,
            },
        );
        self.by_deadline.insert((deadline, hbh));
        hbh
    }

    /// The request an answer with this Hop-by-Hop id belongs to; None for an
    /// answer that is late (the request expired) or matches nothing.
    pub fn take(&mut self, hbh: u32) -> Option<Entry<W>> {
        let e = self.by_hbh.remove(&hbh)?;
        self.by_deadline.remove(&(e.deadline, hbh));
        Some(e)
    }

    /// The earliest deadline, for the connection's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    /// Removes and returns every request whose deadline is `now` or earlier.
    pub fn expire(&mut self, now: Instant) -> Vec<Entry<W>> {
        let later = self
            .by_deadline
            .split_off(&(now + Duration::from_nanos(1), 0));
        let due = std::mem::replace(&mut self.by_deadline, later);
        due.into_iter()
            .filter_map(|(_, hbh)| self.by_hbh.remove(&hbh))
            .collect()
    }

    /// Removes and returns every request: the connection is gone.
    pub fn fail_all(&mut self) -> Vec<Entry<W>> {
        self.by_deadline.clear();
        self.by_hbh.drain().map(|(_, e)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_answer_takes_its_request_and_gives_back_the_callers_id() {
        let t0 = Instant::now();
        let mut p = Pending::new(100);
        let a = p.insert(t0 + 5 * S, 0xdead_beef, "a");
        let b = p.insert(t0 + 5 * S, 0xdead_beef, "b");
        assert_ne!(a, b, "callers may reuse ids; the wire ids differ");
        assert_eq!(p.len(), 2);
        let e = p.take(b).unwrap();
        assert_eq!((e.original_hbh, e.waiter), (0xdead_beef, "b"));
        assert!(p.take(b).is_none(), "a second answer is late");
        assert_eq!(p.take(a).unwrap().waiter, "a");
        assert!(p.len() == 0 && p.next_deadline().is_none());
    }

    #[test]
    fn requests_expire_at_their_deadline_in_order() {
        let t0 = Instant::now();
        let mut p = Pending::new(0);
        let late = p.insert(t0 + 3 * S, 1, "late");
        let early = p.insert(t0 + S, 2, "early");
        p.insert(t0 + 2 * S, 3, "middle");
        assert_eq!(p.next_deadline(), Some(t0 + S));
        assert!(p.expire(t0 + S / 2).is_empty());
        let gone: Vec<_> = p.expire(t0 + 2 * S).into_iter().map(|e| e.waiter).collect();
        assert_eq!(
            gone,
            ["early", "middle"],
            "a deadline of exactly now is due"
        );
        assert!(p.take(early).is_none(), "its answer is now a late answer");
        assert_eq!(p.next_deadline(), Some(t0 + 3 * S));
        assert_eq!(p.take(late).unwrap().waiter, "late");
        assert!(p.expire(t0 + 10 * S).is_empty());
    }

    #[test]
    fn fail_all_empties_the_table() {
        let t0 = Instant::now();
        let mut p = Pending::new(7);
        let ids: Vec<u32> = (0..3).map(|i| p.insert(t0 + S, i, i)).collect();
        let mut failed: Vec<u32> = p.fail_all().into_iter().map(|e| e.waiter).collect();
        failed.sort();
        assert_eq!(failed, [0, 1, 2]);
        assert!(p.len() == 0 && p.next_deadline().is_none());
        assert!(ids.iter().all(|h| p.take(*h).is_none()));
    }

    #[test]
    fn ids_wrap_and_skip_those_still_waiting() {
        let t0 = Instant::now();
        let mut p = Pending::new(u32::MAX - 1);
        assert_eq!(p.insert(t0 + S, 0, ()), u32::MAX);
        assert_eq!(p.insert(t0 + S, 0, ()), 0);
        p.take(u32::MAX);
        // Force the counter back onto a waiting id.
        p.last_hbh = u32::MAX - 1;
        assert_eq!(p.insert(t0 + S, 0, ()), u32::MAX);
        assert_eq!(p.insert(t0 + S, 0, ()), 1, "0 still waits: skipped");
    }
}
