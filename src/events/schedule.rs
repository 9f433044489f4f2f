//! One webhook's delivery queue, without I/O: which event to attempt next
//! (in order per account, within the hook's concurrency), and what an
//! attempt's outcome means (delivered, retry after a backoff, or dead).
//! Time comes in as arguments: `now_ms` on a monotonic clock for timers,
//! `wall` in Unix seconds for the events' age.

use std::collections::{BTreeMap, HashSet};

use crate::model::UnixTime;

/// How hard a hook tries.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_attempts: u32,
    pub max_age_secs: i64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub concurrency: usize,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// Worth trying again: 408, 429, 5xx, a timeout, a refused or broken
    /// connection.
    Failed,
    /// The receiver refused it for good (another 4xx, a redirect).
    Rejected,
}

/// What happens to the event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered {
        attempts: u32,
    },
    /// Tried again at this `now_ms`.
    Retry {
        attempts: u32,
        at_ms: u64,
    },
    Dead {
        attempts: u32,
    },
}

#[derive(Debug)]
struct Pending {
    account: Option<u64>,
    created_at: UnixTime,
    attempts: u32,
    not_before_ms: u64,
    in_flight: bool,
}

#[derive(Debug)]
pub struct HookQueue {
    policy: Policy,
    pending: BTreeMap<u64, Pending>,
    in_flight: usize,
}

impl HookQueue {
    pub fn new(policy: Policy) -> HookQueue {
        HookQueue {
            policy,
            pending: BTreeMap::new(),
            in_flight: 0,
        }
    }

    /// An event to deliver, `attempts` already made (after a restart).
    pub fn handle_event(
        &mut self,
        id: u64,
        account: Option<u64>,
        created_at: UnixTime,
        attempts: u32,
    ) {
        self.pending.entry(id).or_insert(Pending {
            account,
            created_at,
            attempts,
            not_before_ms: 0,
            in_flight: false,
        });
    }

    pub fn contains(&self, id: u64) -> bool {
        self.pending.contains_key(&id)
    }

    /// The next event to attempt now, marked in flight: the oldest one whose
    /// backoff is over and that no earlier event of its account is ahead of.
    pub fn poll_send(&mut self, now_ms: u64) -> Option<u64> {
        if self.in_flight >= self.policy.concurrency {
            return None;
        }
        let mut blocked: HashSet<u64> = HashSet::new();
        let mut chosen = None;
        for (&id, p) in &self.pending {
            let free = p.account.is_none_or(|a| !blocked.contains(&a));
            if free && !p.in_flight && p.not_before_ms <= now_ms {
                chosen = Some(id);
                break;
            }
            if let Some(a) = p.account {
                blocked.insert(a);
            }
        }
        let id = chosen?;
        if let Some(p) = self.pending.get_mut(&id) {
            p.in_flight = true;
        }
        self.in_flight += 1;
        Some(id)
    }

    /// The attempt at `id` ended with `outcome`; `jitter` is any random
    /// number (it spreads the retries of many events over time).
    pub fn handle_outcome(
        &mut self,
        id: u64,
        outcome: Outcome,
        now_ms: u64,
        wall: UnixTime,
        jitter: u64,
    ) -> Option<Verdict> {
        let p = self.pending.get_mut(&id)?;
        if p.in_flight {
            p.in_flight = false;
            self.in_flight -= 1;
        }
        p.attempts += 1;
        let attempts = p.attempts;
        let too_old = wall - p.created_at >= self.policy.max_age_secs;
        let verdict = match outcome {
            Outcome::Delivered => Verdict::Delivered { attempts },
            Outcome::Rejected => Verdict::Dead { attempts },
            Outcome::Failed if attempts >= self.policy.max_attempts || too_old => {
                Verdict::Dead { attempts }
            }
            Outcome::Failed => {
                let at_ms = now_ms + backoff_ms(&self.policy, attempts, jitter);
                p.not_before_ms = at_ms;
                return Some(Verdict::Retry { attempts, at_ms });
            }
        };
        self.pending.remove(&id);
        Some(verdict)
    }

    /// When the next waiting event's backoff ends, if one waits.
    /// Events behind an earlier one of their account wait for it, not for
    /// a timer; and with the hook's attempts all in flight, nothing does.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.in_flight >= self.policy.concurrency {
            return None;
        }
        let mut blocked: HashSet<u64> = HashSet::new();
        let mut earliest: Option<u64> = None;
        for p in self.pending.values() {
            let free = p.account.is_none_or(|a| !blocked.contains(&a));
            if free && !p.in_flight {
                earliest = Some(earliest.map_or(p.not_before_ms, |e| e.min(p.not_before_ms)));
            }
            if let Some(a) = p.account {
                blocked.insert(a);
            }
        }
        earliest
    }

    /// The lowest id still to deliver.
    pub fn low_water(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the oldest event still to deliver was created.
    pub fn oldest_created_at(&self) -> Option<UnixTime> {
        self.pending.values().map(|p| p.created_at).min()
    }
}

/// "Equal jitter": half the exponential delay fixed, half random.
fn backoff_ms(policy: &Policy, attempts: u32, jitter: u64) -> u64 {
    let exp = policy
        .backoff_initial_ms
        .saturating_mul(1u64 << (attempts - 1).min(30));
    let base = exp.min(policy.backoff_max_ms);
    base / 2 + jitter % (base / 2 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(concurrency: usize) -> HookQueue {
        HookQueue::new(Policy {
            max_attempts: 3,
            max_age_secs: 3600,
            backoff_initial_ms: 1000,
            backoff_max_ms: 8000,
            concurrency,
        })
    }

    #[test]
    fn one_account_in_order_others_alongside() {
        let mut q = queue(8);
        q.handle_event(1, Some(7), 0, 0);
        q.handle_event(2, Some(7), 0, 0);
        q.handle_event(3, Some(9), 0, 0);
        q.handle_event(4, None, 0, 0);
        assert_eq!(q.poll_send(0), Some(1));
        // 2 waits for 1 (same account); 3 and 4 need not.
        assert_eq!(q.poll_send(0), Some(3));
        assert_eq!(q.poll_send(0), Some(4));
        assert_eq!(q.poll_send(0), None);
        assert_eq!(
            q.handle_outcome(1, Outcome::Delivered, 5, 0, 0),
            Some(Verdict::Delivered { attempts: 1 })
        );
        assert_eq!(q.poll_send(5), Some(2));
    }

    #[test]
    fn a_retrying_event_holds_back_its_account_only() {
        let mut q = queue(8);
        q.handle_event(1, Some(7), 0, 0);
        q.handle_event(2, Some(7), 0, 0);
        q.handle_event(3, Some(8), 0, 0);
        assert_eq!(q.poll_send(0), Some(1));
        let v = q.handle_outcome(1, Outcome::Failed, 0, 0, 0).unwrap();
        let Verdict::Retry { attempts: 1, at_ms } = v else {
            panic!("{v:?}")
        };
        assert!((500..=1000).contains(&at_ms), "{at_ms}");
        assert_eq!(q.poll_send(0), Some(3));
        assert_eq!(q.poll_send(0), None, "2 must wait behind 1");
        assert_eq!(q.poll_timeout(), Some(at_ms));
        assert_eq!(q.poll_send(at_ms), Some(1));
    }

    #[test]
    fn concurrency_bounds_attempts_in_flight() {
        let mut q = queue(2);
        for id in 1..=5 {
            q.handle_event(id, Some(id), 0, 0);
        }
        assert_eq!(q.poll_send(0), Some(1));
        assert_eq!(q.poll_send(0), Some(2));
        assert_eq!(q.poll_send(0), None);
        q.handle_outcome(2, Outcome::Delivered, 0, 0, 0);
        assert_eq!(q.poll_send(0), Some(3));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_attempts_run_out() {
        let mut q = queue(1);
        q.policy.max_attempts = 6;
        q.handle_event(1, None, 0, 0);
        let mut delays = vec![];
        let mut now = 0;
        for _ in 0..5 {
            assert_eq!(q.poll_send(now), Some(1));
            // The largest jitter: the full delay.
            match q.handle_outcome(1, Outcome::Failed, now, 0, u64::MAX) {
                Some(Verdict::Retry { at_ms, .. }) => {
                    delays.push(at_ms - now);
                    now = at_ms;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= 8000), "{delays:?}");
        assert_eq!(q.poll_send(now), Some(1));
        assert_eq!(
            q.handle_outcome(1, Outcome::Failed, now, 0, 0),
            Some(Verdict::Dead { attempts: 6 })
        );
        assert!(q.is_empty());
    }

    #[test]
    fn rejected_is_dead_at_once_and_old_events_die_on_failure() {
        let mut q = queue(4);
        q.handle_event(1, None, 0, 0);
        q.handle_event(2, None, 0, 0);
        q.poll_send(0);
        q.poll_send(0);
        assert_eq!(
            q.handle_outcome(1, Outcome::Rejected, 0, 0, 0),
            Some(Verdict::Dead { attempts: 1 })
        );
        assert_eq!(
            q.handle_outcome(2, Outcome::Failed, 0, 3600, 0),
            Some(Verdict::Dead { attempts: 1 })
        );
        assert_eq!(q.low_water(), None);
    }

    #[test]
    fn attempts_made_before_a_restart_count() {
        let mut q = queue(1);
        q.handle_event(1, None, 0, 2);
        q.poll_send(0);
        assert_eq!(
            q.handle_outcome(1, Outcome::Failed, 0, 0, 0),
            Some(Verdict::Dead { attempts: 3 })
        );
    }
}
