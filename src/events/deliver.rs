//! One webhook's delivery loop: reads the outbox from the hook's cursor,
//! lets `HookQueue` choose what to attempt, POSTs it, and records each
//! outcome. The only I/O of event delivery lives here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::schedule::{HookQueue, Outcome, Policy, Verdict};
use super::wire;
use super::{EventsSettings, WebhookSettings};
use crate::inventory::outbox::{Delivery, DeliveryState};
use crate::inventory::{Inventory, InventoryError};
use crate::model::event::Event;
use crate::model::UnixTime;

/// Events held in memory per hook; more wait in the store until these go.
const WINDOW: usize = 10_000;
/// How much of a receiver's refusal is kept with the delivery.
const ERROR_CHARS: usize = 300;

struct Attempt {
    id: u64,
    outcome: Outcome,
    status: Option<u16>,
    error: Option<String>,
}

struct Loop {
    inventory: Arc<Inventory>,
    hook: WebhookSettings,
    client: reqwest::Client,
    queue: HookQueue,
    /// Bodies of the queued events, as this hook receives them.
    bodies: HashMap<u64, bytes::Bytes>,
    /// The highest outbox id read so far.
    scanned: u64,
    /// The cursor last written to the store.
    cursor: u64,
    started: Instant,
}

/// Starts the hook's delivery loop under supervision: a store error (or a
/// panic) ends one run, and the next run starts again from the hook's
/// cursor after a backoff. Attempts in flight when a run ends are made
/// again; receivers de-duplicate by `Webhook-Id`.
pub(super) fn spawn(
    inventory: Arc<Inventory>,
    cfg: &EventsSettings,
    hook: WebhookSettings,
    retries: mpsc::UnboundedReceiver<u64>,
) {
    let policy = Policy {
        max_attempts: cfg.max_attempts,
        max_age_secs: cfg.max_age.0.as_secs() as i64,
        backoff_initial_ms: cfg.backoff_initial.0.as_millis() as u64,
        backoff_max_ms: cfg.backoff_max.0.as_millis() as u64,
        concurrency: hook.concurrency,
    };
    let client = reqwest::Client::builder()
        .pool_idle_timeout(cfg.idle_timeout.0)
        .pool_max_idle_per_host(hook.concurrency)
        .connect_timeout(hook.timeout.0)
        .timeout(hook.timeout.0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gyro/", env!("CARGO_PKG_VERSION")))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(hook = %hook.name, error = %e, "webhook client not built; no delivery");
            return;
        }
    };
    // Outlives each run: retries asked for while a run restarts wait here.
    let retries = Arc::new(tokio::sync::Mutex::new(retries));
    crate::supervise::spawn("events_delivery", move || {
        let (inventory, hook, client) = (inventory.clone(), hook.clone(), client.clone());
        let retries = retries.clone();
        async move {
            let mut retries = retries.lock_owned().await;
            let cursor = inventory.delivery_cursor(&hook.name)?;
            let name = hook.name.clone();
            let mut l = Loop {
                inventory,
                hook,
                client,
                queue: HookQueue::new(policy),
                bodies: HashMap::new(),
                scanned: cursor,
                cursor,
                started: Instant::now(),
            };
            l.run(&mut retries).await.map_err(|e| {
                tracing::warn!(hook = %name, error = %e, "webhook delivery interrupted by the store");
                e
            })
        }
    });
}

impl Loop {
    /// The node's time, as events and their deliveries are stamped.
    fn now(&self) -> UnixTime {
        self.inventory.now()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(
        &mut self,
        retries: &mut mpsc::UnboundedReceiver<u64>,
    ) -> Result<(), InventoryError> {
        let written = self.inventory.events_written();
        let mut in_flight = FuturesUnordered::new();
        let labels = [("hook", self.hook.name.clone())];
        loop {
            // Armed before reading, so that a commit in between still wakes us.
            let notified = written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.refill()?;
            self.advance_cursor()?;
            let now = self.now_ms();
            while let Some(id) = self.queue.poll_send(now) {
                let body = self.bodies.get(&id).cloned().unwrap_or_default();
                in_flight.push(attempt(
                    self.client.clone(),
                    self.hook.clone(),
                    id,
                    body,
                    self.now(),
                ));
            }
            metrics::gauge!("gyro_events_pending", &labels).set(self.queue.len() as f64);
            let lag = self
                .queue
                .oldest_created_at()
                .map_or(0, |t| (self.now() - t).max(0));
            metrics::gauge!("gyro_events_delivery_lag_seconds", &labels).set(lag as f64);
            let wait = self
                .queue
                .poll_timeout()
                .map_or(Duration::from_secs(3600), |at| {
                    Duration::from_millis(at.saturating_sub(now).max(1))
                });
            tokio::select! {
                _ = &mut notified => {}
                Some(id) = retries.recv() => self.requeue(id)?,
                Some(a) = in_flight.next(), if !in_flight.is_empty() => self.finish(a)?,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Reads events after `scanned` into the queue, up to the window.
    fn refill(&mut self) -> Result<(), InventoryError> {
        while self.queue.len() < WINDOW {
            let page = self
                .inventory
                .events_after(self.scanned, (WINDOW - self.queue.len()).min(1000))?;
            let Some(last) = page.last().map(|e| e.event_id) else {
                break;
            };
            for e in page {
                self.enqueue(&e)?;
            }
            self.scanned = last;
        }
        Ok(())
    }

    fn enqueue(&mut self, e: &Event) -> Result<(), InventoryError> {
        if !self.hook.wants(e.event_type) || self.queue.contains(e.event_id) {
            return Ok(());
        }
        let attempts = match self.inventory.delivery(e.event_id, &self.hook.name)? {
            Some(d) if d.is_final() => return Ok(()),
            Some(d) => d.attempts,
            None => 0,
        };
        let body = wire::envelope(e, self.hook.include_secrets);
        self.bodies.insert(e.event_id, body.into());
        self.queue
            .handle_event(e.event_id, e.account, e.created_at, attempts);
        Ok(())
    }

    /// A dead-lettered event the operator asked to retry.
    fn requeue(&mut self, id: u64) -> Result<(), InventoryError> {
        if let Some(e) = self.inventory.event(id)? {
            self.enqueue(&e)?;
        }
        Ok(())
    }

    fn finish(&mut self, a: Attempt) -> Result<(), InventoryError> {
        let labels = [("hook", self.hook.name.clone())];
        let verdict = self.queue.handle_outcome(
            a.id,
            a.outcome.clone(),
            self.now_ms(),
            self.now(),
            rand::random(),
        );
        let Some(verdict) = verdict else {
            return Ok(());
        };
        let (state, attempts) = match verdict {
            Verdict::Delivered { attempts } => {
                metrics::counter!("gyro_events_delivered_total", &labels).increment(1);
                (DeliveryState::Delivered, attempts)
            }
            Verdict::Retry { attempts, .. } => {
                metrics::counter!("gyro_events_failed_total", &labels).increment(1);
                (DeliveryState::Retrying, attempts)
            }
            Verdict::Dead { attempts } => {
                metrics::counter!("gyro_events_failed_total", &labels).increment(1);
                metrics::counter!("gyro_events_dead_total", &labels).increment(1);
                (DeliveryState::Dead, attempts)
            }
        };
        if state != DeliveryState::Delivered {
            tracing::warn!(hook = %self.hook.name, event = a.id, attempts, status = a.status,
                error = a.error.as_deref().unwrap_or(""), dead = state == DeliveryState::Dead,
                "event delivery failed");
        } else {
            tracing::debug!(hook = %self.hook.name, event = a.id, attempts, "event delivered");
        }
        if state != DeliveryState::Retrying {
            self.bodies.remove(&a.id);
        }
        let d = Delivery {
            state,
            attempts,
            last_attempt_at: self.now(),
            status: a.status,
            error: a.error,
        };
        self.inventory.record_delivery(a.id, &self.hook.name, &d)?;
        self.advance_cursor()
    }

    /// Everything at or below the cursor is delivered or dead for this hook.
    fn advance_cursor(&mut self) -> Result<(), InventoryError> {
        let at = self.queue.low_water().map_or(self.scanned, |low| low - 1);
        if at != self.cursor {
            self.inventory.set_delivery_cursor(&self.hook.name, at)?;
            self.cursor = at;
        }
        Ok(())
    }
}

/// One signed POST of `body`.
async fn attempt(
    client: reqwest::Client,
    hook: WebhookSettings,
    id: u64,
    body: bytes::Bytes,
    now: UnixTime,
) -> Attempt {
    let signature = wire::signature(&hook.secret, &body);
    let standard = wire::standard_signature(&hook.secret, id, now, &body);
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Webhook-Id", id.to_string())
        .header("Webhook-Timestamp", now.to_string())
        .header("Webhook-Signature", standard)
        .header("X-Gyro-Signature-256", signature)
        .body(body)
        .send()
        .await;
    let r = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                "timeout"
            } else {
                "transport"
            };
            return Attempt {
                id,
                outcome: Outcome::Failed,
                status: None,
                error: Some(format!("{why}: {}", error_chain(&e))),
            };
        }
    };
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let outcome = if status.is_success() {
        Outcome::Delivered
    } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Outcome::Failed
    } else {
        Outcome::Rejected
    };
    Attempt {
        id,
        outcome,
        status: Some(status.as_u16()),
        error: (!status.is_success()).then(|| text.trim().chars().take(ERROR_CHARS).collect()),
    }
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
