//! Backpressure on the way up: at most `proxy.max_in_flight` gateway
//! requests in the proxy at once, and at most each upstream's
//! `max_in_flight` waiting on that upstream. A request past the first bound
//! is answered 3004 at once; an upstream at its bound is passed over like a
//! busy one. Each request waiting on an upstream is one entry of that
//! connection's outbound queue and pending table, so the second bound is
//! also theirs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Gateway requests in the proxy now.
pub const IN_FLIGHT: &str = "gyro_proxy_in_flight";
/// Requests waiting on one upstream now.
pub const UPSTREAM_IN_FLIGHT: &str = "gyro_proxy_upstream_in_flight";
/// Requests answered 3004 or passed over for a bound, by `bound`.
pub const TOO_BUSY: &str = "gyro_proxy_too_busy_total";

struct Count {
    now: AtomicUsize,
    max: usize,
}

impl Count {
    fn take(&self) -> bool {
        let mut n = self.now.load(Ordering::Relaxed);
        loop {
            if n >= self.max {
                return false;
            }
            match self
                .now
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => n = seen,
            }
        }
    }
    fn give(&self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The proxy's bounds; the upstreams' names are the configured ones only,
/// so the metric's labels are too.
pub struct InFlight {
    all: Count,
    upstreams: HashMap<String, Count>,
    /// Hosts that are not configured upstreams (none is sent to): unbounded.
    others: Count,
}

/// Which gauge a place shows in.
enum Gauge<'a> {
    All,
    Upstream(&'a str),
    None,
}

/// A place taken; given back when dropped.
pub struct Permit<'a> {
    count: &'a Count,
    gauge: Gauge<'a>,
}

impl Permit<'_> {
    fn show(&self) {
        let n = self.count.now.load(Ordering::Relaxed) as f64;
        match self.gauge {
            Gauge::All => metrics::gauge!(IN_FLIGHT).set(n),
            Gauge::Upstream(u) => {
                metrics::gauge!(UPSTREAM_IN_FLIGHT, "upstream" => u.to_string()).set(n)
            }
            Gauge::None => {}
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.count.give();
        self.show();
    }
}

impl InFlight {
    /// `upstreams`: each configured upstream and its own bound.
    pub fn new(max_all: usize, upstreams: &[(String, usize)]) -> InFlight {
        InFlight {
            all: Count {
                now: AtomicUsize::new(0),
                max: max_all,
            },
            upstreams: upstreams
                .iter()
                .map(|(h, max)| {
                    let c = Count {
                        now: AtomicUsize::new(0),
                        max: *max,
                    };
                    (h.to_ascii_lowercase(), c)
                })
                .collect(),
            others: Count {
                now: AtomicUsize::new(0),
                max: usize::MAX,
            },
        }
    }

    /// A place for one more gateway request, or None: 3004.
    pub fn enter(&self) -> Option<Permit<'_>> {
        if !self.all.take() {
            metrics::counter!(TOO_BUSY, "bound" => "all").increment(1);
            return None;
        }
        let p = Permit {
            count: &self.all,
            gauge: Gauge::All,
        };
        p.show();
        Some(p)
    }

    /// A place on `host`'s queue, or None: pass it over.
    pub fn to_upstream(&self, host: &str) -> Option<Permit<'_>> {
        let Some((name, c)) = self.upstreams.get_key_value(&host.to_ascii_lowercase()) else {
            self.others.take();
            return Some(Permit {
                count: &self.others,
                gauge: Gauge::None,
            });
        };
        if !c.take() {
            metrics::counter!(TOO_BUSY, "bound" => "upstream").increment(1);
            return None;
        }
        let p = Permit {
            count: c,
            gauge: Gauge::Upstream(name),
        };
        p.show();
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_and_given_back() {
        let f = InFlight::new(2, &[("OCS.test.local".into(), 1)]);
        let (a, b) = (f.enter(), f.enter());
        assert!(a.is_some() && b.is_some());
        assert!(f.enter().is_none(), "past the bound");
        drop(a);
        assert!(f.enter().is_some(), "a place came free");
        let up = f.to_upstream("ocs.test.local");
        assert!(up.is_some());
        assert!(f.to_upstream("ocs.test.local").is_none());
        drop(up);
        assert!(f.to_upstream("ocs.test.local").is_some());
        assert!(
            f.to_upstream("other").is_some(),
            "not configured: unbounded"
        );
    }
}
