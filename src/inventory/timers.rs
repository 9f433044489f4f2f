//! Durable timers: `timer/<due>/<id>` keys, so that a scan from the start
//! meets them in the order they fall due. A timer is written in the batch
//! of the change that sets it and deleted in the batch of the transition
//! it runs, so each fires exactly once, even across kill -9. A test clock,
//! which moves the timers' "now", is kept too, so that it never goes back.

use super::store::{decode, Record, StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::lifecycle::Timer;
use crate::model::UnixTime;

const TIMER: &str = "timer/";
/// Where a test clock last stood: it never goes back, not even across a
/// restart.
const TEST_CLOCK: &str = "meta/test_clock";

impl Record for Timer {}

impl Inventory {
    /// Adds `t` to `b`; its key, for the transition to delete.
    pub(crate) fn schedule(&self, b: &mut WriteBatch, t: &Timer) -> Result<String, InventoryError> {
        let key = format!("{TIMER}{:020}/{:020}", t.due.max(0), self.store.next_id()?);
        b.put(key.clone(), t);
        Ok(key)
    }

    /// The first `limit` timers due at or before `now`, earliest first.
    pub fn due_timers(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<(String, Timer)>, InventoryError> {
        let mut out = Vec::new();
        self.store.visit(TIMER.as_bytes(), &mut |k, v| {
            let t: Timer = decode(k, v)?;
            if t.due > now || out.len() >= limit {
                return Err(StoreError::Stop);
            }
            out.push((String::from_utf8_lossy(k).into_owned(), t));
            Ok(())
        })?;
        Ok(out)
    }

    /// When the next timer falls due, if any is set.
    pub fn next_due(&self) -> Result<Option<UnixTime>, InventoryError> {
        Ok(self
            .due_timers(UnixTime::MAX, 1)?
            .first()
            .map(|(_, t)| t.due))
    }

    /// Where a test clock that moved to `t` starts from next time.
    pub fn save_test_clock(&self, t: UnixTime) -> Result<(), InventoryError> {
        let mut b = WriteBatch::default();
        b.put(TEST_CLOCK, &(t.max(0) as u64));
        self.store.commit(b)?;
        Ok(())
    }

    /// A test clock resumes where it stood (no-op for a system clock).
    pub fn resume_test_clock(&self) -> Result<(), InventoryError> {
        if let Some(t) = self.store.get::<u64>(TEST_CLOCK)? {
            if self.clock.is_test() && (t as UnixTime) > self.now() {
                let _ = self.clock.advance_to(t as UnixTime);
            }
        }
        Ok(())
    }
}
