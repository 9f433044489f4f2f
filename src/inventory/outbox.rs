//! The event outbox: events are numbered and written in the same atomic
//! batch as the change that caused them, and each webhook's delivery of each
//! event is recorded beside it. The delivery loop (`events/`) reads and
//! updates it only through these calls.
//!
//! Layout: `outbox/<id>` the event; `evdel/<id>/<hook>` one hook's delivery
//! of it; `meta/events_cursor/<hook>` the id up to which that hook has
//! nothing left to do (delivered or dead).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::store::{decode, StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::event::{Event, EventDraft, ProfileImsi};
use crate::model::{Sponsor, UnixTime};

const OUTBOX: &str = "outbox/";
const DELIVERY: &str = "evdel/";
const CURSOR: &str = "meta/events_cursor/";

impl super::store::Record for Event {}
impl super::store::Record for Delivery {}

/// Where one hook's delivery of one event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Attempted and failed; tried again later.
    Retrying,
    Delivered,
    /// Given up on: `POST /api/v1/events/{id}/retry` starts it again.
    Dead,
}

/// One hook's delivery of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_attempt_at: UnixTime,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong: the start of the receiver's answer, or the
    /// transport error.
    pub error: Option<String>,
}

impl Delivery {
    pub fn is_final(&self) -> bool {
        self.state != DeliveryState::Retrying
    }
}

fn event_key(id: u64) -> String {
    format!("{OUTBOX}{id:020}")
}

fn delivery_key(id: u64, hook: &str) -> String {
    format!("{DELIVERY}{id:020}/{hook}")
}

impl Inventory {
    /// Numbers `drafts`, adds them to `batch`, and commits it with `commit`:
    /// the events exist exactly when the change does. Ids are numbered and
    /// committed under one lock, so they become visible in increasing order
    /// and a reader that has seen id N has seen every event below it.
    pub(crate) fn commit_with_events(
        &self,
        mut batch: WriteBatch,
        drafts: Vec<EventDraft>,
        now: UnixTime,
        commit: impl FnOnce(WriteBatch) -> Result<u64, InventoryError>,
    ) -> Result<u64, InventoryError> {
        if drafts.is_empty() {
            return commit(batch);
        }
        let _order = self.events_lock.lock().unwrap_or_else(|p| p.into_inner());
        for d in drafts {
            // From 1: `events_after(0)` is "from the start".
            let event_id = self.store.next_id()? + 1;
            let e = Event {
                event_id,
                event_type: d.event_type,
                created_at: now,
                account: d.account,
                variables: d.variables,
            };
            batch.put(event_key(event_id), &e);
        }
        let seq = commit(batch)?;
        self.events_written.notify_waiters();
        Ok(seq)
    }

    /// Woken after each commit that added events.
    pub fn events_written(&self) -> Arc<tokio::sync::Notify> {
        self.events_written.clone()
    }

    /// Up to `limit` events with ids above `after`, oldest first.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, InventoryError> {
        let mut out = Vec::new();
        let start = event_key(after.saturating_add(1));
        self.store
            .visit_from(OUTBOX.as_bytes(), start.as_bytes(), &mut |k, v| {
                if out.len() >= limit {
                    return Err(StoreError::Stop);
                }
                out.push(decode::<Event>(k, v)?);
                Ok(())
            })?;
        Ok(out)
    }

    pub fn event(&self, id: u64) -> Result<Option<Event>, InventoryError> {
        Ok(self.store.get(&event_key(id))?)
    }

    /// Every hook's delivery of event `id`, by hook name.
    pub fn deliveries(&self, id: u64) -> Result<Vec<(String, Delivery)>, InventoryError> {
        let prefix = format!("{DELIVERY}{id:020}/");
        let mut out = Vec::new();
        for r in self.store.scan_raw(prefix.as_bytes()) {
            let (k, v) = r?;
            let hook = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((hook, decode::<Delivery>(&k, &v)?));
        }
        Ok(out)
    }

    pub fn delivery(&self, id: u64, hook: &str) -> Result<Option<Delivery>, InventoryError> {
        Ok(self.store.get(&delivery_key(id, hook))?)
    }

    /// Records an attempt's outcome. Not fsynced: after a crash an attempt
    /// may be made again, which receivers de-duplicate by `Webhook-Id`.
    pub fn record_delivery(&self, id: u64, hook: &str, d: &Delivery) -> Result<(), InventoryError> {
        let mut b = WriteBatch::default();
        b.put(delivery_key(id, hook), d);
        self.store.apply(b)?;
        Ok(())
    }

    /// The id up to which `hook` has nothing left to do.
    pub fn delivery_cursor(&self, hook: &str) -> Result<u64, InventoryError> {
        Ok(self.store.get(&format!("{CURSOR}{hook}"))?.unwrap_or(0))
    }

    pub fn set_delivery_cursor(&self, hook: &str, id: u64) -> Result<(), InventoryError> {
        let mut b = WriteBatch::default();
        b.put(format!("{CURSOR}{hook}"), &id);
        self.store.apply(b)?;
        Ok(())
    }

    /// Starts event `id` again for every hook that dead-lettered it; returns
    /// those hooks (none: nothing was dead). Durable before it returns.
    pub fn retry_event(&self, id: u64) -> Result<Vec<String>, InventoryError> {
        let _order = self.events_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.event(id)?.is_none() {
            return Err(InventoryError::NotFound {
                what: "event",
                id: id.to_string(),
            });
        }
        let mut b = WriteBatch::default();
        let mut hooks = Vec::new();
        for (hook, d) in self.deliveries(id)? {
            if d.state == DeliveryState::Dead {
                b.delete(delivery_key(id, &hook));
                if self.delivery_cursor(&hook)? >= id {
                    b.put(format!("{CURSOR}{hook}"), &(id - 1));
                }
                hooks.push(hook);
            }
        }
        if !hooks.is_empty() {
            self.store.commit(b)?;
        }
        Ok(hooks)
    }

    /// Removes events created before `before` whose deliveries are all done
    /// (`done` decides, given the event and its deliveries), with their
    /// delivery records; returns how many went.
    pub fn compact_events(
        &self,
        before: UnixTime,
        done: impl Fn(&Event, &[(String, Delivery)]) -> bool,
    ) -> Result<usize, InventoryError> {
        let mut gone = 0;
        let mut after = 0;
        loop {
            let page = self.events_after(after, 1000)?;
            let Some(last) = page.last() else { break };
            after = last.event_id;
            let mut b = WriteBatch::default();
            for e in page.iter().filter(|e| e.created_at < before) {
                let ds = self.deliveries(e.event_id)?;
                if done(e, &ds) {
                    b.delete(event_key(e.event_id));
                    for (hook, _) in &ds {
                        b.delete(delivery_key(e.event_id, hook));
                    }
                    gone += 1;
                }
            }
            if !b.is_empty() {
                self.store.apply(b)?;
            }
        }
        Ok(gone)
    }

    /// The profile's IMSIs, slot 1 first, each with its sponsor, as the
    /// events name them.
    pub(crate) fn with_profile_imsis<T>(
        &self,
        profile_imsis: &[String],
        f: impl FnOnce(&[ProfileImsi<'_>]) -> T,
    ) -> Result<T, InventoryError> {
        let catalog = self.index.catalog();
        let mut sponsors: Vec<Option<&Sponsor>> = Vec::with_capacity(profile_imsis.len());
        for i in profile_imsis {
            let id = self.imsi(i)?.map(|r| r.sponsor);
            let by_id = id.and_then(|id| catalog.sponsors.iter().find(|s| s.id == id));
            sponsors.push(by_id.or_else(|| catalog.sponsors.iter().find(|s| s.owns_imsi(i))));
        }
        let imsis: Vec<ProfileImsi<'_>> = profile_imsis
            .iter()
            .zip(sponsors)
            .map(|(imsi, sponsor)| ProfileImsi { imsi, sponsor })
            .collect();
        Ok(f(&imsis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::store::SledStore;
    use crate::model::event::{stock_low, StockScope};

    fn inventory() -> Inventory {
        Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap()
    }

    fn emit(inv: &Inventory, n: usize, at: UnixTime) -> Vec<u64> {
        let drafts = (0..n)
            .map(|i| stock_low(StockScope::Pool("p"), "x", i as u64, 10))
            .collect();
        inv.commit_with_events(WriteBatch::default(), drafts, at, |b| {
            Ok(inv.store.commit(b)?)
        })
        .unwrap();
        let all = inv.events_after(0, 1000).unwrap();
        all.iter().rev().take(n).rev().map(|e| e.event_id).collect()
    }

    fn delivery(state: DeliveryState) -> Delivery {
        Delivery {
            state,
            attempts: 1,
            last_attempt_at: 0,
            status: Some(500),
            error: None,
        }
    }

    #[test]
    fn events_are_numbered_in_order_and_paged() {
        let inv = inventory();
        let ids = emit(&inv, 5, 100);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let page = inv.events_after(ids[1], 2).unwrap();
        let got: Vec<u64> = page.iter().map(|e| e.event_id).collect();
        assert_eq!(got, vec![ids[2], ids[3]]);
        assert_eq!(page[0].created_at, 100);
    }

    #[test]
    fn retry_restarts_only_dead_deliveries_and_lowers_the_cursor() {
        let inv = inventory();
        let ids = emit(&inv, 3, 0);
        inv.record_delivery(ids[1], "a", &delivery(DeliveryState::Dead))
            .unwrap();
        inv.record_delivery(ids[1], "b", &delivery(DeliveryState::Delivered))
            .unwrap();
        inv.set_delivery_cursor("a", ids[2]).unwrap();
        assert_eq!(inv.retry_event(ids[1]).unwrap(), vec!["a".to_string()]);
        assert_eq!(inv.delivery(ids[1], "a").unwrap(), None);
        assert_eq!(inv.delivery_cursor("a").unwrap(), ids[1] - 1);
        assert!(
            inv.retry_event(ids[1]).unwrap().is_empty(),
            "nothing dead now"
        );
        assert!(matches!(
            inv.retry_event(ids[2] + 100),
            Err(InventoryError::NotFound { .. })
        ));
    }

    #[test]
    fn compaction_removes_old_finished_events_with_their_deliveries() {
        let inv = inventory();
        let old = emit(&inv, 2, 10);
        let new = emit(&inv, 1, 1000);
        inv.record_delivery(old[0], "a", &delivery(DeliveryState::Delivered))
            .unwrap();
        inv.record_delivery(new[0], "a", &delivery(DeliveryState::Delivered))
            .unwrap();
        // Done: delivered to "a". old[1] is not, and new[0] is too young.
        let done = |_: &Event, ds: &[(String, Delivery)]| {
            ds.iter().any(|(_, d)| d.state == DeliveryState::Delivered)
        };
        assert_eq!(inv.compact_events(500, done).unwrap(), 1);
        let left: Vec<u64> = inv
            .events_after(0, 10)
            .unwrap()
            .iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(left, vec![old[1], new[0]]);
        assert!(inv.deliveries(old[0]).unwrap().is_empty());
    }
}
