//! The node clock: the one source of "now" in gyro. A test clock
//! (`node.test_clock = true`) may be moved forward, never back, so that
//! months of bundle periods, grace and holds play out in a test. This is
//! also the one place that reads the system's wall clock (`wall_time`).

use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
use std::time::{SystemTime, UNIX_EPOCH};

use super::UnixTime;

#[derive(Debug)]
pub struct NodeClock {
    /// Seconds added to the system clock (only a test clock has any).
    offset: AtomicI64,
    test: bool,
}

/// Why the clock did not move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the node clock is not a test clock (set node.test_clock = true)")]
    NotTestClock,
    #[error("the clock only moves forward: it is already past the time asked for")]
    Backwards,
}

/// The system's wall-clock time, as the Diameter driver stamps requests
/// (`NodeClock::at` turns it into the node's time) and the load generator
/// its own; everything else asks a `NodeClock`.
pub fn wall_time() -> SystemTime {
    SystemTime::now()
}

fn unix(t: SystemTime) -> UnixTime {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl NodeClock {
    pub fn system() -> NodeClock {
        NodeClock {
            offset: AtomicI64::new(0),
            test: false,
        }
    }

    pub fn test() -> NodeClock {
        NodeClock {
            offset: AtomicI64::new(0),
            test: true,
        }
    }

    pub fn is_test(&self) -> bool {
        self.test
    }

    /// The node's time now.
    pub fn now(&self) -> UnixTime {
        self.at(wall_time())
    }

    /// The system's time without a test clock's offset, for housekeeping
    /// measured in real time (how long delivered events stay in the
    /// outbox): a test clock jumping months ahead must not set it off.
    pub fn wall_now(&self) -> UnixTime {
        unix(wall_time())
    }

    /// The node's time at the system time `real` (what the Diameter
    /// driver stamps a request with).
    pub fn at(&self, real: SystemTime) -> UnixTime {
        unix(real) + self.offset.load(SeqCst)
    }

    /// Moves a test clock to `t`; it goes on ticking from there.
    pub fn advance_to(&self, t: UnixTime) -> Result<UnixTime, ClockError> {
        if !self.test {
            return Err(ClockError::NotTestClock);
        }
        let real = unix(wall_time());
        let mut cur = self.offset.load(SeqCst);
        loop {
            if t < real + cur {
                return Err(ClockError::Backwards);
            }
            match self.offset.compare_exchange(cur, t - real, SeqCst, SeqCst) {
                Ok(_) => return Ok(t),
                Err(now) => cur = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_forward_only_and_a_system_clock_never() {
        let c = NodeClock::test();
        let now = c.now();
        let later = now + 86_400 * 30;
        assert_eq!(c.advance_to(later), Ok(later));
        assert!(c.now() >= later);
        assert_eq!(c.advance_to(now), Err(ClockError::Backwards));
        assert_eq!(
            NodeClock::system().advance_to(later),
            Err(ClockError::NotTestClock)
        );
    }
}
