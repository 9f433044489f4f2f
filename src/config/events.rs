//! `[events]` and `[[events.webhook]]`: where provisioning events are
//! delivered, how hard gyro tries, and how long delivered ones are kept.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, HumaneDuration};
use crate::model::event::EventType;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
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
    pub webhook: Vec<WebhookSection>,
}

impl Default for EventsSection {
    fn default() -> Self {
        EventsSection {
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
pub struct WebhookSection {
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

impl WebhookSection {
    /// Whether this hook receives events of type `t`.
    pub fn wants(&self, t: EventType) -> bool {
        self.events.iter().any(|e| e == "*" || e == t.name())
    }
}

impl EventsSection {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: String, message: String| ConfigError::Field {
            file: file.to_string(),
            field,
            message,
        };
        if self.max_attempts == 0 {
            return Err(bad(
                "events.max_attempts".into(),
                "must be at least 1".into(),
            ));
        }
        if self.backoff_initial.0.is_zero() || self.backoff_max.0 < self.backoff_initial.0 {
            return Err(bad(
                "events.backoff_max".into(),
                "backoff_initial must be above 0 and at most backoff_max".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, h) in self.webhook.iter().enumerate() {
            let at = |key: &str| format!("events.webhook[{i}].{key}");
            let name_ok = !h.name.is_empty()
                && h.name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
            if !name_ok {
                return Err(bad(at("name"), "letters, digits, '-' and '_' only".into()));
            }
            if !names.insert(h.name.as_str()) {
                return Err(bad(at("name"), format!("'{}' is used twice", h.name)));
            }
            match reqwest::Url::parse(&h.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
                Ok(_) => return Err(bad(at("url"), format!("'{}' is not an http(s) URL", h.url))),
                Err(e) => return Err(bad(at("url"), format!("'{}': {e}", h.url))),
            }
            if h.secret.is_empty() {
                return Err(bad(at("secret"), "must not be empty".into()));
            }
            if h.events.is_empty() {
                return Err(bad(
                    at("events"),
                    "lists no event type (\"*\" for all)".into(),
                ));
            }
            for e in &h.events {
                if e != "*" && EventType::parse(e).is_none() {
                    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                    return Err(bad(
                        at("events"),
                        format!("unknown event type '{e}' (known: {})", known.join(", ")),
                    ));
                }
            }
            if h.timeout.0 < Duration::from_millis(100) || h.concurrency == 0 {
                return Err(bad(
                    at("timeout"),
                    "timeout must be at least 100ms and concurrency at least 1".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn with(extra: &str) -> Result<Config, String> {
        let text = format!("{}\n{extra}\n", crate::config::EMBEDDED);
        Config::parse(&text, "gyro.toml").map_err(|e| e.to_string())
    }

    const HOOK: &str = "[[events.webhook]]\nname = \"nsps\"\nsecret = \"s3cret\"\n";

    #[test]
    fn a_good_hook_parses_with_its_defaults() {
        let c = with(&format!("{HOOK}url = \"http://127.0.0.1:9000/hooks/gyro\"")).unwrap();
        let h = &c.events.webhook[0];
        assert_eq!(h.events, vec!["*"]);
        assert!(!h.include_secrets);
        assert_eq!(c.events.max_attempts, 12);
    }

    #[test]
    fn malformed_url_names_the_key() {
        let e = with(&format!("{HOOK}url = \"not a url\"")).unwrap_err();
        assert!(e.contains("gyro.toml: events.webhook[0].url"), "{e}");
        let e = with(&format!("{HOOK}url = \"ftp://example.org/x\"")).unwrap_err();
        assert!(e.contains("events.webhook[0].url"), "{e}");
    }

    #[test]
    fn unknown_event_type_names_the_key_and_the_type() {
        let e = with(&format!(
            "{HOOK}url = \"http://127.0.0.1:1/\"\nevents = [\"Account/New\", \"Account/Nwe\"]"
        ))
        .unwrap_err();
        assert!(e.contains("events.webhook[0].events"), "{e}");
        assert!(e.contains("'Account/Nwe'"), "{e}");
    }
}
