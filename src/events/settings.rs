//! `[events]` and `[[events.webhook]]` as the events module takes them:
//! where provisioning events are delivered, how hard gyro tries, and how
//! long delivered ones are kept. The configuration reads and checks them.

use std::time::Duration;

use serde::Deserialize;

use crate::model::event::EventType;
use crate::model::HumaneDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Attempts per hook before an event is dead-lettered.
    pub max_attempts: u32,
    /// An event older than this when an attempt fails is dead-lettered.
    pub max_age: HumaneDuration,
    /// Delivered events are removed from the outbox after this.
    pub keep_delivered: HumaneDuration,
    /// The first retry waits about this long; each next one twice as long.
    pub backoff_initial: HumaneDuration,
    pub backoff_max: HumaneDuration,
    /// Idle connections to receivers are closed after this: shorter than
    /// the 60 s after which load balancers and proxies drop them silently.
    pub idle_timeout: HumaneDuration,
    pub webhook: Vec<WebhookSettings>,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings {
            max_attempts: 12,
            max_age: HumaneDuration(Duration::from_secs(86_400)),
            keep_delivered: HumaneDuration(Duration::from_secs(7 * 86_400)),
            backoff_initial: HumaneDuration(Duration::from_secs(1)),
            backoff_max: HumaneDuration(Duration::from_secs(300)),
            idle_timeout: HumaneDuration(Duration::from_secs(30)),
            webhook: vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    /// HMAC-SHA256 key of `X-Gyro-Signature-256`.
    pub secret: String,
    /// Event types this hook receives; `"*"` for all.
    #[serde(default = "all")]
    pub events: Vec<String>,
    /// PINs, PUKs and Ki/OPc ciphertext go only to hooks that set this.
    #[serde(default)]
    pub include_secrets: bool,
    /// Per attempt, from connecting to the end of the answer.
    #[serde(default = "ten_seconds")]
    pub timeout: HumaneDuration,
    /// Attempts in flight at once to this hook.
    #[serde(default = "four")]
    pub concurrency: usize,
}

fn all() -> Vec<String> {
    vec!["*".into()]
}
fn ten_seconds() -> HumaneDuration {
    HumaneDuration(Duration::from_secs(10))
}
fn four() -> usize {
    4
}

impl WebhookSettings {
    /// Whether this hook receives events of type `t`.
    pub fn wants(&self, t: EventType) -> bool {
        self.events.iter().any(|e| e == "*" || e == t.name())
    }
}
