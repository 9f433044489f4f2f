//! Provisioning events out of the outbox to the webhooks: one delivery loop
//! per `[[events.webhook]]`, signed HTTP POSTs, at least once and in order
//! per account, with retries, dead letters and compaction. Nothing here is
//! on the path of a CCA or an API call: a slow or dead receiver only grows
//! its own queue.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::inventory::outbox::{Delivery, DeliveryState};
use crate::inventory::{Conflict, Inventory, InventoryError};
use crate::model::event::Event;
use crate::model::UnixTime;

mod deliver;
pub mod schedule;
mod settings;
mod wire;

pub use settings::{EventsSettings, WebhookSettings};
pub use wire::{envelope, signature};

/// Where an event stands over all the hooks that want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Some hook has yet to deliver it.
    Pending,
    /// Every hook that wants it has it (or no hook wants it).
    Delivered,
    /// Some hook gave up on it.
    Dead,
}

impl EventState {
    pub fn parse(s: &str) -> Option<EventState> {
        match s {
            "pending" => Some(EventState::Pending),
            "delivered" => Some(EventState::Delivered),
            "dead" => Some(EventState::Dead),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Delivered => "delivered",
            EventState::Dead => "dead",
        }
    }
}

/// The node's events: the configured hooks, and a line to each delivery
/// loop for retries.
pub struct Events {
    inventory: Arc<Inventory>,
    config: EventsSettings,
    retries: Vec<mpsc::UnboundedSender<u64>>,
}

impl Events {
    /// The events of a store, without delivery (the CLI on a store).
    pub fn offline(inventory: Arc<Inventory>, config: EventsSettings) -> Events {
        Events {
            inventory,
            config,
            retries: vec![],
        }
    }

    /// Starts a delivery loop per hook and the compaction, on the current
    /// tokio runtime.
    pub fn start(inventory: Arc<Inventory>, config: EventsSettings) -> Arc<Events> {
        let mut retries = vec![];
        for hook in &config.webhook {
            let (tx, rx) = mpsc::unbounded_channel();
            retries.push(tx);
            deliver::spawn(inventory.clone(), &config, hook.clone(), rx);
        }
        let events = Arc::new(Events {
            inventory,
            config,
            retries,
        });
        let e = events.clone();
        crate::supervise::spawn("events_compaction", move || e.clone().compact_hourly());
        events
    }

    /// Compacts the outbox every hour; a pass that panicked ends the run.
    async fn compact_hourly(self: Arc<Self>) -> Result<(), tokio::task::JoinError> {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let e = self.clone();
            // Retention is real time: a test clock jumping months ahead
            // must not purge events that have yet to be read.
            let wall = e.inventory.clock().wall_now();
            match tokio::task::spawn_blocking(move || e.compact(wall)).await? {
                Ok(n) if n > 0 => tracing::info!(removed = n, "delivered events compacted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "event compaction failed"),
            }
        }
    }

    fn hooks_for<'a>(&'a self, e: &'a Event) -> impl Iterator<Item = &'a WebhookSettings> + 'a {
        self.config.webhook.iter().filter(|h| h.wants(e.event_type))
    }

    /// The event's state and each wanting hook's delivery of it.
    pub fn state_of(&self, e: &Event, ds: &[(String, Delivery)]) -> (EventState, Vec<Value>) {
        let mut state = EventState::Delivered;
        let mut rows = vec![];
        for h in self.hooks_for(e) {
            let d = ds.iter().find(|(n, _)| *n == h.name).map(|(_, d)| d);
            let hook_state = match d.map(|d| d.state) {
                Some(DeliveryState::Delivered) => "delivered",
                Some(DeliveryState::Dead) => {
                    state = EventState::Dead;
                    "dead"
                }
                _ => {
                    if state == EventState::Delivered {
                        state = EventState::Pending;
                    }
                    "pending"
                }
            };
            rows.push(json!({
                "hook": h.name,
                "state": hook_state,
                "attempts": d.map_or(0, |d| d.attempts),
                "last_attempt_at": d.map(|d| crate::model::rfc3339(d.last_attempt_at)),
                "status": d.and_then(|d| d.status),
                "error": d.and_then(|d| d.error.clone()),
            }));
        }
        (state, rows)
    }

    /// Up to `limit` events after `after` in `state` (any when None), each
    /// with its deliveries; secrets left out. Also the id to ask `after`
    /// for the next page, when there may be one.
    pub fn list(
        &self,
        state: Option<EventState>,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<u64>), InventoryError> {
        let mut out = vec![];
        let mut cursor = after;
        loop {
            let page = self.inventory.events_after(cursor, 500)?;
            let Some(last) = page.last() else {
                return Ok((out, None));
            };
            let last_id = last.event_id;
            for e in page {
                cursor = e.event_id;
                let ds = self.inventory.deliveries(e.event_id)?;
                let (s, deliveries) = self.state_of(&e, &ds);
                if state.is_none_or(|want| want == s) {
                    let mut row = wire::envelope_value(&e, false);
                    row["state"] = json!(s.name());
                    row["deliveries"] = Value::Array(deliveries);
                    out.push(row);
                    if out.len() >= limit {
                        return Ok((out, Some(cursor)));
                    }
                }
            }
            cursor = last_id;
        }
    }

    /// Starts a dead-lettered event again at every hook that gave up on it;
    /// the hooks, or a conflict when none had.
    pub fn retry(&self, id: u64) -> Result<Vec<String>, InventoryError> {
        let hooks = self.inventory.retry_event(id)?;
        if hooks.is_empty() {
            return Err(Conflict::NotDeadLettered { event: id }.into());
        }
        for (h, tx) in self.config.webhook.iter().zip(&self.retries) {
            if hooks.contains(&h.name) {
                let _ = tx.send(id);
            }
        }
        Ok(hooks)
    }

    /// Removes events delivered to every hook that wants them and created
    /// more than `events.keep_delivered` before `now`.
    pub fn compact(&self, now: UnixTime) -> Result<usize, InventoryError> {
        let keep = self.config.keep_delivered.0.as_secs() as i64;
        self.inventory.compact_events(now - keep, |e, ds| {
            self.state_of(e, ds).0 == EventState::Delivered
        })
    }
}
