//! The RFC 3539 watchdog (Appendix A), sans-IO: feed it what arrives and the
//! current time, it says when to send DWR, fail over, fail back or close.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogState {
    Initial,
    Okay,
    Suspect,
    Down,
    Reopen,
}

impl WatchdogState {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchdogState::Initial => "INITIAL",
            WatchdogState::Okay => "OKAY",
            WatchdogState::Suspect => "SUSPECT",
            WatchdogState::Down => "DOWN",
            WatchdogState::Reopen => "REOPEN",
        }
    }
}

/// What the watchdog wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogAction {
    SendDwr,
    /// The peer stopped answering: route traffic elsewhere.
    Failover,
    /// The peer answers again.
    Failback,
    CloseConnection,
}

#[derive(Debug, Clone)]
pub struct Watchdog {
    tw: Duration,
    state: WatchdogState,
    pending: bool,
    num_dwa: i32,
    deadline: Option<Instant>,
    rng: u64,
}

/// RFC 3539 §3.4.1: each arming adds up to ±2 s of jitter.
const JITTER_MS: u64 = 2000;

impl Watchdog {
    /// `seed` drives the jitter; 0 disables it (tests).
    pub fn new(tw: Duration, seed: u64) -> Self {
        Watchdog {
            tw,
            state: WatchdogState::Initial,
            pending: false,
            num_dwa: 0,
            deadline: None,
            rng: seed,
        }
    }

    pub fn state(&self) -> WatchdogState {
        self.state
    }
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// Traffic may flow only in OKAY (and SUSPECT keeps in-flight answers).
    pub fn is_usable(&self) -> bool {
        self.state == WatchdogState::Okay
    }

    fn jitter(&mut self) -> i64 {
        if self.rng == 0 {
            return 0;
        }
        // xorshift64: jitter needs no cryptographic quality.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // Scale the jitter down for a Tw below the RFC minimum so it stays positive.
        let span = JITTER_MS.min(self.tw.as_millis() as u64 / 4).max(1);
        (self.rng % (2 * span + 1)) as i64 - span as i64
    }

    fn arm(&mut self, now: Instant) {
        let j = self.jitter();
        let base = self.tw.as_millis() as i64 + j;
        self.deadline = Some(now + Duration::from_millis(base.max(1) as u64));
    }

    /// The connection opened (CER/CEA done). A peer that was DOWN must prove
    /// itself with three DWA first (REOPEN).
    pub fn on_open(&mut self, now: Instant) {
        self.pending = false;
        self.num_dwa = 0;
        self.state = if self.state == WatchdogState::Down {
            WatchdogState::Reopen
        } else {
            WatchdogState::Okay
        };
        self.arm(now);
    }

    pub fn on_receive(&mut self, is_dwa: bool, now: Instant) -> Option<WatchdogAction> {
        let mut action = None;
        match self.state {
            WatchdogState::Okay => {
                if is_dwa {
                    self.pending = false;
                }
            }
            WatchdogState::Suspect => {
                if is_dwa {
                    self.pending = false;
                }
                self.state = WatchdogState::Okay;
                action = Some(WatchdogAction::Failback);
            }
            WatchdogState::Reopen => {
                if is_dwa {
                    self.pending = false;
                    self.num_dwa += 1;
                    if self.num_dwa >= 3 {
                        self.state = WatchdogState::Okay;
                        action = Some(WatchdogAction::Failback);
                    }
                }
            }
            WatchdogState::Initial | WatchdogState::Down => return None,
        }
        self.arm(now);
        action
    }

    pub fn on_timeout(&mut self, now: Instant) -> Option<WatchdogAction> {
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return None,
        }
        let action = match self.state {
            WatchdogState::Okay if !self.pending => {
                self.pending = true;
                Some(WatchdogAction::SendDwr)
            }
            WatchdogState::Okay => {
                self.state = WatchdogState::Suspect;
                Some(WatchdogAction::Failover)
            }
            WatchdogState::Suspect => {
                self.state = WatchdogState::Down;
                self.deadline = None;
                return Some(WatchdogAction::CloseConnection);
            }
            WatchdogState::Reopen if !self.pending => {
                self.pending = true;
                Some(WatchdogAction::SendDwr)
            }
            WatchdogState::Reopen => {
                if self.num_dwa < 0 {
                    self.state = WatchdogState::Down;
                    self.deadline = None;
                    return Some(WatchdogAction::CloseConnection);
                }
                self.num_dwa = -1;
                None
            }
            WatchdogState::Initial | WatchdogState::Down => {
                self.deadline = None;
                return None;
            }
        };
        self.arm(now);
        action
    }

    /// The transport went away.
    pub fn on_closed(&mut self) {
        self.state = WatchdogState::Down;
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WatchdogAction::*;

    const TW: Duration = Duration::from_secs(30);

    #[test]
    fn silent_peer_goes_suspect_then_down() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(TW, 0);
        w.on_open(t0);
        assert_eq!(w.on_timeout(t0 + TW / 2), None, "not yet");
        assert_eq!(w.on_timeout(t0 + TW), Some(SendDwr));
        assert_eq!(w.on_timeout(t0 + 2 * TW), Some(Failover));
        assert_eq!(w.state(), WatchdogState::Suspect);
        assert_eq!(w.on_timeout(t0 + 3 * TW), Some(CloseConnection));
        assert_eq!(w.state(), WatchdogState::Down);
    }

    #[test]
    fn answer_in_suspect_fails_back() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(TW, 0);
        w.on_open(t0);
        w.on_timeout(t0 + TW);
        w.on_timeout(t0 + 2 * TW);
        assert_eq!(
            w.on_receive(true, t0 + 2 * TW + Duration::from_secs(1)),
            Some(Failback)
        );
        assert_eq!(w.state(), WatchdogState::Okay);
    }

    #[test]
    fn traffic_keeps_the_timer_from_firing() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(TW, 0);
        w.on_open(t0);
        for i in 1..10 {
            let t = t0 + i * TW / 2;
            assert_eq!(w.on_timeout(t), None);
            w.on_receive(false, t);
        }
        assert_eq!(w.state(), WatchdogState::Okay);
    }

    #[test]
    fn reopen_needs_three_dwa() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(TW, 0);
        w.on_open(t0);
        w.on_closed();
        w.on_open(t0);
        assert_eq!(w.state(), WatchdogState::Reopen);
        let mut t = t0;
        for n in 1..=3 {
            t += TW;
            assert_eq!(w.on_timeout(t), Some(SendDwr));
            let r = w.on_receive(true, t);
            assert_eq!(r, if n == 3 { Some(Failback) } else { None });
        }
        assert!(w.is_usable());
    }

    #[test]
    fn jitter_stays_within_two_seconds() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(TW, 0x9e37_79b9_7f4a_7c15);
        for _ in 0..100 {
            w.on_open(t0);
            let d = w.deadline().unwrap() - t0;
            assert!(
                d >= TW - Duration::from_secs(2) && d <= TW + Duration::from_secs(2),
                "{d:?}"
            );
        }
    }
}
