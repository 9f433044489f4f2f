//! Group commit for writers that answer only once their batch is durable:
//! each applies its batch (in memory, ordered), takes a ticket, and waits
//! until a flush that began after its apply has ended. One waiter flushes
//! for every batch applied so far while the others sleep, so that N
//! requests in flight cost about one flush instead of N.
//!
//! The store makes applied batches durable in the order they were applied,
//! so a flush that starts after ticket T was taken covers T and all before.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::store::StoreError;

#[derive(Default)]
struct State {
    /// Tickets handed out (the last applied batch's).
    applied: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// The last failed flush covered tickets up to this one.
    failed: u64,
    last_error: String,
    flushing: bool,
}

#[derive(Default)]
pub(crate) struct GroupFlush {
    state: Mutex<State>,
    turn: Condvar,
}

impl GroupFlush {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few counters, consistent after any panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A ticket for a batch just applied. Take it in apply order (under
    /// the writer's own lock), so that a larger ticket never stands for an
    /// earlier batch.
    pub(crate) fn ticket(&self) -> u64 {
        let mut s = self.lock();
        s.applied += 1;
        s.applied
    }

    /// The last ticket handed out: waiting for it waits for everything
    /// applied so far (what a reader of not-yet-durable data needs).
    pub(crate) fn latest(&self) -> u64 {
        self.lock().applied
    }

    /// Returns once `ticket` is durable, flushing with `flush` when no one
    /// else is; the error of the flush that should have covered it, if
    /// that one failed.
    pub(crate) fn wait(
        &self,
        ticket: u64,
        flush: impl Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        loop {
            if s.durable >= ticket {
                return Ok(());
            }
            if s.failed >= ticket {
                return Err(StoreError::Backend(s.last_error.clone()));
            }
            if s.flushing {
                s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            s.flushing = true;
            let target = s.applied;
            drop(s);
            let outcome = flush();
            s = self.lock();
            s.flushing = false;
            match &outcome {
                Ok(()) => s.durable = s.durable.max(target),
                Err(e) => {
                    s.failed = s.failed.max(target);
                    s.last_error = e.to_string();
                }
            }
            self.turn.notify_all();
            outcome?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn many_waiters_share_few_flushes_and_a_failure_reaches_those_it_covered() {
        let g = Arc::new(GroupFlush::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (g, flushes) = (g.clone(), flushes.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let t = g.ticket();
                        g.wait(t, || {
                            flushes.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < 800, "{n} flushes for 800 batches");
        let t = g.ticket();
        let err = g.wait(t, || Err(StoreError::Backend("disk gone".into())));
        assert!(err.is_err());
        // The failed ticket stays failed; a later one flushes anew.
        assert!(g.wait(t, || Ok(())).is_err());
        let t2 = g.ticket();
        assert!(g.wait(t2, || Ok(())).is_ok());
    }
}
