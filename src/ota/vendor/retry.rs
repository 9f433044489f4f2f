//! When to call the OTA vendor again after a retryable error: exponential
//! backoff with jitter, bounded by `[ota] max_attempts`. Sans-IO: the swap's
//! durable loop owns the clock and the sleeping, and keeps the attempt count
//! in its store, so a restarted gyro resumes the same schedule.

use std::time::Duration;

use crate::ota::OtaSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls per swap, the first one included.
    pub max_attempts: u32,
    /// The wait after the first failed call is between half of this and it.
    pub initial: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl RetryPolicy {
    pub fn from_config(cfg: &OtaSettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: cfg.max_attempts.max(1),
            initial: cfg.backoff_initial.0,
            max: cfg.backoff_max.0.max(cfg.backoff_initial.0),
        }
    }

    /// How long to wait before the next call, when `attempts_made` calls of
    /// this swap have failed retryably (0: none made yet, call at once);
    /// None when `max_attempts` calls are spent and the swap has failed.
    ///
    /// The wait doubles per failed call up to `max`, and a jitter drawn from
    /// `seed` takes up to half of it off ("equal jitter"), so the swaps of
    /// one vendor outage do not all come back in the same instant. Pass a
    /// seed that differs per swap (its id, or the clock's nanoseconds); the
    /// same seed and count always give the same wait, which the tests use.
    pub fn next_delay(&self, attempts_made: u32, seed: u64) -> Option<Duration> {
        if attempts_made == 0 {
            return Some(Duration::ZERO);
        }
        if attempts_made >= self.max_attempts {
            return None;
        }
        // 2^(n-1) saturates long before a u32 shift would overflow.
        let factor = 1u32.checked_shl(attempts_made - 1).unwrap_or(u32::MAX);
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        let spread = u64::try_from(full.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = match spread {
            0 => 0,
            s => mix(seed ^ u64::from(attempts_made)) % s.saturating_add(1),
        };
        Some(half + Duration::from_nanos(jitter))
    }
}

/// A 64-bit finaliser (the SplitMix64 constants): a seed that differs by one
/// bit gives an unrelated jitter, with no random state to carry.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            initial: 1000 * MS,
            max: 10_000 * MS,
        }
    }

    #[test]
    fn the_first_call_goes_at_once() {
        assert_eq!(policy().next_delay(0, 7), Some(Duration::ZERO));
    }

    #[test]
    fn waits_double_within_their_jitter_band_and_stop_at_max() {
        let p = policy();
        let bands = [(1, 1000), (2, 2000), (3, 4000), (4, 8000), (5, 10_000)];
        for seed in 0..200u64 {
            for (n, full) in bands {
                let d = p.next_delay(n, seed).unwrap();
                assert!(
                    d >= full / 2 * MS && d <= full * MS,
                    "n={n} seed={seed}: {d:?}"
                );
            }
            assert!(p.next_delay(7, seed).unwrap() <= p.max);
        }
    }

    #[test]
    fn none_once_max_attempts_are_spent() {
        let p = policy();
        assert!(p.next_delay(7, 1).is_some());
        assert_eq!(p.next_delay(8, 1), None);
        assert_eq!(p.next_delay(u32::MAX, 1), None);
        let once = RetryPolicy {
            max_attempts: 1,
            ..p
        };
        assert_eq!(once.next_delay(1, 1), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_wait_and_seeds_spread_it() {
        let p = policy();
        assert_eq!(p.next_delay(3, 99), p.next_delay(3, 99));
        let waits: std::collections::HashSet<_> =
            (0..50u64).map(|s| p.next_delay(3, s).unwrap()).collect();
        assert!(waits.len() > 40, "{} distinct waits of 50", waits.len());
    }

    #[test]
    fn huge_counts_and_durations_saturate_instead_of_overflowing() {
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            initial: Duration::from_secs(u64::MAX / 4),
            max: Duration::MAX,
        };
        assert!(p.next_delay(100, 3).is_some());
        assert!(p.next_delay(u32::MAX - 1, 3).is_some());
    }

    #[test]
    fn from_config_takes_the_ota_keys() {
        let cfg = OtaSettings::default();
        let p = RetryPolicy::from_config(&cfg);
        assert_eq!(p.max_attempts, cfg.max_attempts);
        assert_eq!(
            (p.initial, p.max),
            (cfg.backoff_initial.0, cfg.backoff_max.0)
        );
    }
}
