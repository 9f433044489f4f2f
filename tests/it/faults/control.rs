//! What the run tells its threads: keep going, stop at the next boundary
//! (a client finishes its session, the nemesis its fault), or give up
//! (a request still unanswered is left in doubt). An abort stops everything
//! at once and says why.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Control {
    epoch: Instant,
    stop: AtomicBool,
    /// Milliseconds since `epoch` after which unanswered requests are left.
    give_up_ms: AtomicU64,
    aborted: Mutex<Option<String>>,
}

impl Control {
    pub fn start() -> Control {
        Control {
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            give_up_ms: AtomicU64::new(u64::MAX),
            aborted: Mutex::new(None),
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn given_up(&self) -> bool {
        self.epoch.elapsed().as_millis() as u64 >= self.give_up_ms.load(Ordering::SeqCst)
    }

    /// Stop at the next boundary; give up on answers after `grace`.
    pub fn stop(&self, grace: Duration) {
        let at = self.epoch.elapsed() + grace;
        self.give_up_ms
            .store(at.as_millis() as u64, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops everything now: the run cannot go on (gyro did not restart).
    pub fn abort(&self, why: String) {
        self.aborted.lock().unwrap().get_or_insert(why);
        self.stop(Duration::ZERO);
    }

    pub fn aborted(&self) -> Option<String> {
        self.aborted.lock().unwrap().clone()
    }

    /// Sleeps `d`, or less when a stop comes; false when stopping.
    pub fn nap(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        false
    }

    /// Seconds since the run started, for the nemesis's log.
    pub fn elapsed(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }
}
