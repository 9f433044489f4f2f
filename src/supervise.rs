//! Background loops that never end silently. A supervised task runs on the
//! tokio runtime; when it panics or returns an error, that is logged,
//! counted in `gyro_task_restarts_total{task}`, and a fresh run starts after
//! a backoff that grows while runs keep failing fast. A run that returns
//! `Ok` has finished its work and is not restarted.
//!
//! The backoff is plain data (`Backoff`), so that its schedule is tested
//! without a runtime or a clock.

use std::future::Future;
use std::time::{Duration, Instant};

/// The restart metric, one series per task name.
pub const RESTARTS: &str = "gyro_task_restarts_total";

/// The first wait before a restart.
const FIRST: Duration = Duration::from_millis(100);
/// The longest wait before a restart.
const MOST: Duration = Duration::from_secs(30);
/// A run that lasted this long was healthy: the next failure waits `FIRST`.
const HEALTHY: Duration = Duration::from_secs(60);

/// How long to wait before each restart: doubling from `FIRST` up to `MOST`
/// while runs fail fast, back to `FIRST` after a run that was healthy.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The wait after a run that lasted `ran`.
    pub fn after(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY {
            self.next = FIRST;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(MOST);
        wait
    }
}

/// Runs `make()`'s future as task `task` until one run returns `Ok`,
/// restarting it after every error or panic. Call it inside a tokio runtime.
pub fn spawn<E, F, Fut>(task: &'static str, mut make: F) -> tokio::task::JoinHandle<()>
where
    E: std::fmt::Display + Send + 'static,
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let why = match tokio::spawn(make()).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("error: {e}"),
                Err(e) if e.is_panic() => format!("panic: {}", panic_text(e.into_panic())),
                // Cancelled: the runtime is shutting down.
                Err(_) => return,
            };
            metrics::counter!(RESTARTS, "task" => task).increment(1);
            let wait = backoff.after(started.elapsed());
            tracing::error!(task, %why, restart_in_ms = wait.as_millis() as u64, "background task ended; restarting it");
            tokio::time::sleep(wait).await;
        }
    })
}

/// What a panic said, when it said it with a string.
fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn backoff_doubles_while_runs_fail_fast_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let fast = Duration::from_millis(5);
        let waits: Vec<u64> = (0..11).map(|_| b.after(fast).as_millis() as u64).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        assert_eq!(b.after(HEALTHY), FIRST);
        assert_eq!(b.after(fast), FIRST * 2);
    }

    #[tokio::test]
    async fn a_panicking_or_failing_task_is_restarted_until_it_finishes() {
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let handle = spawn("test", move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => panic!("first run dies"),
                    1 => Err("second run fails"),
                    _ => Ok(()),
                }
            }
        });
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
