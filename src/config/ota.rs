//! `[ota]`: dynamic IMSIs: how MVNE location webhooks are taken in,
//! when a cheaper IMSI is worth a swap, and where Over-The-Air IMSI swaps
//! are ordered.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{ConfigError, HumaneDuration};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtaSection {
    /// The OTA vendor's ES2+-style endpoint for `imsiSwap`; unset, swaps
    /// are decided and recorded but never ordered.
    pub url: Option<String>,
    /// Bearer token sent to the OTA vendor, when it wants one.
    pub token: Option<String>,
    /// `functionRequesterIdentifier` of gyro's calls.
    pub requester: String,
    /// HMAC-SHA256 key of `X-Gyro-Signature-256` on location webhooks (the
    /// admin API's bearer token is accepted too).
    pub webhook_secret: Option<String>,
    /// Location events for one profile within this window coalesce to the
    /// latest (the MVNE reports about a minute late).
    pub aggregate: HumaneDuration,
    /// A swap must save at least this much per GB, in the reporting
    /// currency (0: any strictly cheaper IMSI).
    pub min_saving: Decimal,
    /// Per call to the OTA vendor.
    pub timeout: HumaneDuration,
    /// Calls per swap before it fails.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long.
    pub backoff_initial: HumaneDuration,
    pub backoff_max: HumaneDuration,
}

impl Default for OtaSection {
    fn default() -> Self {
        OtaSection {
            url: None,
            token: None,
            requester: "gyro".into(),
            webhook_secret: None,
            aggregate: HumaneDuration(Duration::from_secs(60)),
            min_saving: Decimal::ZERO,
            timeout: HumaneDuration(Duration::from_secs(10)),
            max_attempts: 8,
            backoff_initial: HumaneDuration(Duration::from_secs(1)),
            backoff_max: HumaneDuration(Duration::from_secs(60)),
        }
    }
}

impl OtaSection {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: &str| ConfigError::Field {
            file: file.to_string(),
            field: format!("ota.{field}"),
            message: message.to_string(),
        };
        if let Some(u) = &self.url {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(bad("url", &format!("'{u}' is not an http(s) URL")));
            }
        }
        if matches!(&self.webhook_secret, Some(s) if s.len() < 16) {
            return Err(bad("webhook_secret", "must be at least 16 characters"));
        }
        if self.min_saving < Decimal::ZERO {
            return Err(bad("min_saving", "must not be negative"));
        }
        if self.max_attempts == 0 {
            return Err(bad("max_attempts", "must be at least 1"));
        }
        if self.timeout.0 < Duration::from_millis(100) {
            return Err(bad("timeout", "must be at least 100ms"));
        }
        if self.backoff_initial.0.is_zero() || self.backoff_max.0 < self.backoff_initial.0 {
            return Err(bad(
                "backoff_max",
                "backoff_initial must be above 0 and at most backoff_max",
            ));
        }
        if self.requester.trim().is_empty() {
            return Err(bad("requester", "must not be empty"));
        }
        Ok(())
    }
}
