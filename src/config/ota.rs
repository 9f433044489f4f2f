//! `[ota]`: the checks that name the file and key at fault. The settings
//! themselves (location webhooks, swap decisions, the OTA vendor) are the
//! OTA module's.

use std::time::Duration;

use rust_decimal::Decimal;

use super::ConfigError;
use crate::ota::OtaSettings;

/// Checks `[ota]`; an error names the file and the key at fault.
pub(super) fn validate(s: &OtaSettings, file: &str) -> Result<(), ConfigError> {
    let bad = |field: &str, message: &str| ConfigError::Field {
        file: file.to_string(),
        field: format!("ota.{field}"),
        message: message.to_string(),
    };
    if let Some(u) = &s.url {
        let ok = reqwest::Url::parse(u)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if !ok {
            return Err(bad("url", &format!("'{u}' is not an http(s) URL")));
        }
    }
    if matches!(&s.webhook_secret, Some(secret) if secret.len() < 16) {
        return Err(bad("webhook_secret", "must be at least 16 characters"));
    }
    if s.listen.is_some() && s.webhook_secret.is_none() {
        return Err(bad(
            "listen",
            "the webhook listener needs ota.webhook_secret to check signatures",
        ));
    }
    if s.webhook_tolerance.0 < Duration::from_secs(1) {
        return Err(bad("webhook_tolerance", "must be at least 1s"));
    }
    if s.min_saving < Decimal::ZERO {
        return Err(bad("min_saving", "must not be negative"));
    }
    if s.max_attempts == 0 {
        return Err(bad("max_attempts", "must be at least 1"));
    }
    if s.timeout.0 < Duration::from_millis(100) {
        return Err(bad("timeout", "must be at least 100ms"));
    }
    if s.backoff_initial.0.is_zero() || s.backoff_max.0 < s.backoff_initial.0 {
        return Err(bad(
            "backoff_max",
            "backoff_initial must be above 0 and at most backoff_max",
        ));
    }
    if s.requester.trim().is_empty() {
        return Err(bad("requester", "must not be empty"));
    }
    Ok(())
}
