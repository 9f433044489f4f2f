//! Which upstream a request goes to: the lowest priority that is up, equal
//! priorities sharing sessions by Session-Id; a session's later requests go
//! where its first went (RFC 4006 §5.7), and after a failover to where it
//! moved. Pure: the set of upstreams that are up comes in.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::model::RateCode;
use crate::model::UnixTime;

/// Where a session is routed, and where its subscriber was last.
#[derive(Debug, Clone, Copy)]
struct Route {
    upstream: usize,
    seen: UnixTime,
    /// Usage a later request reports happened here (rated wholesale).
    at: Option<RateCode>,
    /// The OCS said CC-Session-Failover NOT_SUPPORTED: the session stays
    /// on its upstream or fails.
    pinned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamDef {
    pub host: String,
    pub priority: u32,
}

/// Sessions not heard of for this long are forgotten.
const STICKY_IDLE: UnixTime = 86_400;

#[derive(Debug, Default)]
pub struct Router {
    upstreams: Vec<UpstreamDef>,
    sticky: HashMap<String, Route>,
}

fn spread(session_id: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    session_id.hash(&mut h);
    (h.finish() % n as u64) as usize
}

impl Router {
    pub fn new(mut upstreams: Vec<UpstreamDef>) -> Router {
        // Stable: equal priorities keep the configured order.
        upstreams.sort_by_key(|u| u.priority);
        Router {
            upstreams,
            sticky: HashMap::new(),
        }
    }

    pub fn upstreams(&self) -> &[UpstreamDef] {
        &self.upstreams
    }

    /// Every upstream in the order this session should try them: where the
    /// session is, then by priority, each priority rotated by Session-Id.
    pub fn order(&self, session_id: &str) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.upstreams.len());
        if let Some(r) = self.sticky.get(session_id) {
            out.push(r.upstream);
        }
        let mut start = 0;
        while start < self.upstreams.len() {
            let p = self.upstreams[start].priority;
            let end = start
                + self.upstreams[start..]
                    .iter()
                    .take_while(|u| u.priority == p)
                    .count();
            let n = end - start;
            let first = spread(session_id, n);
            for k in 0..n {
                let i = start + (first + k) % n;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            start = end;
        }
        out
    }

    /// The next upstream to try: the first in `order` that is up and not
    /// tried yet.
    pub fn pick(
        &self,
        session_id: &str,
        tried: &[usize],
        up: &dyn Fn(&str) -> bool,
    ) -> Option<usize> {
        if let Some(r) = self.sticky.get(session_id).filter(|r| r.pinned) {
            let i = r.upstream;
            return (!tried.contains(&i) && up(&self.upstreams[i].host)).then_some(i);
        }
        self.order(session_id)
            .into_iter()
            .find(|i| !tried.contains(i) && up(&self.upstreams[*i].host))
    }

    /// The OCS does not support failover for this session (RFC 4006 §5.7).
    pub fn pin(&mut self, session_id: &str) {
        if let Some(r) = self.sticky.get_mut(session_id) {
            r.pinned = true;
        }
    }

    /// The session answered from `i`, the subscriber being `at`: its next
    /// requests go there.
    pub fn stick(&mut self, session_id: &str, i: usize, now: UnixTime, at: Option<RateCode>) {
        let r = Route {
            upstream: i,
            seen: now,
            at,
            pinned: false,
        };
        match self.sticky.get_mut(session_id) {
            Some(e) => {
                *e = Route {
                    at: at.or(e.at),
                    pinned: e.pinned,
                    ..r
                }
            }
            None => {
                self.sticky.insert(session_id.to_string(), r);
            }
        }
    }

    /// Where the session's subscriber was as of its last answered request.
    pub fn location(&self, session_id: &str) -> Option<RateCode> {
        self.sticky.get(session_id).and_then(|r| r.at)
    }

    /// The session ended (CCR-T, STR answered).
    pub fn forget(&mut self, session_id: &str) {
        self.sticky.remove(session_id);
    }

    /// Forgets sessions silent for a day; returns how many.
    pub fn sweep(&mut self, now: UnixTime) -> usize {
        let before = self.sticky.len();
        self.sticky.retain(|_, r| now - r.seen < STICKY_IDLE);
        before - self.sticky.len()
    }

    pub fn sessions(&self) -> usize {
        self.sticky.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(vec![
            UpstreamDef {
                host: "b1".into(),
                priority: 2,
            },
            UpstreamDef {
                host: "a1".into(),
                priority: 1,
            },
            UpstreamDef {
                host: "a2".into(),
                priority: 1,
            },
        ])
    }

    #[test]
    fn lowest_priority_first_and_sessions_spread_over_equals() {
        let r = router();
        let mut firsts = std::collections::HashSet::new();
        for n in 0..64 {
            let o = r.order(&format!("s{n}"));
            assert_eq!(o.len(), 3);
            assert_eq!(r.upstreams()[o[2]].host, "b1", "priority 2 last");
            firsts.insert(r.upstreams()[o[0]].host.clone());
        }
        assert_eq!(firsts.len(), 2, "both priority-1 upstreams get sessions");
    }

    #[test]
    fn sticky_then_failover_then_gone() {
        let mut r = router();
        let all_up = |_: &str| true;
        let first = r.pick("s", &[], &all_up).unwrap();
        r.stick("s", first, 0, None);
        // Only b1 up: the session fails over there and stays.
        let b1 = |h: &str| h == "b1";
        let next = r.pick("s", &[first], &b1).unwrap();
        assert_eq!(r.upstreams()[next].host, "b1");
        r.stick("s", next, 1, None);
        assert_eq!(r.pick("s", &[], &all_up), Some(next), "goes where it moved");
        assert_eq!(r.pick("s", &[0, 1, 2], &all_up), None);
        r.forget("s");
        assert_eq!(r.sessions(), 0);
        // CC-Session-Failover NOT_SUPPORTED: its upstream, or nothing.
        r.stick("p", 0, 0, None);
        r.pin("p");
        assert_eq!(r.pick("p", &[], &all_up), Some(0));
        assert_eq!(r.pick("p", &[0], &all_up), None);
    }

    #[test]
    fn silent_sessions_are_forgotten() {
        let mut r = router();
        r.stick("old", 0, 0, None);
        r.stick("new", 0, STICKY_IDLE, None);
        assert_eq!(r.sweep(STICKY_IDLE + 1), 1);
        assert_eq!(r.sessions(), 1);
    }
}
