//! `[events]` and `[[events.webhook]]`: the checks that name the file and
//! key at fault. The settings themselves are the events module's.

use std::time::Duration;

use super::ConfigError;
use crate::events::EventsSettings;
use crate::model::event::EventType;

/// Checks `[events]`; an error names the file and the key at fault.
pub(super) fn validate(s: &EventsSettings, file: &str) -> Result<(), ConfigError> {
    let bad = |field: String, message: String| ConfigError::Field {
        file: file.to_string(),
        field,
        message,
    };
    if s.max_attempts == 0 {
        return Err(bad(
            "events.max_attempts".into(),
            "must be at least 1".into(),
        ));
    }
    if s.backoff_initial.0.is_zero() || s.backoff_max.0 < s.backoff_initial.0 {
        return Err(bad(
            "events.backoff_max".into(),
            "backoff_initial must be above 0 and at most backoff_max".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, h) in s.webhook.iter().enumerate() {
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
