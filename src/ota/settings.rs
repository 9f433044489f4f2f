//! `[ota]` as the OTA module takes it: how MVNE location webhooks are taken
//! in, when a cheaper IMSI is worth a swap, and where Over-The-Air IMSI
//! swaps are ordered. The configuration reads and checks it.

use std::net::SocketAddr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::HumaneDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtaSettings {
    /// The OTA vendor's ES2+-style endpoint for `imsiSwap`; unset, swaps
    /// are decided and recorded but never ordered.
    pub url: Option<String>,
    /// Bearer token sent to the OTA vendor, when it wants one.
    pub token: Option<String>,
    /// `functionRequesterIdentifier` of gyro's calls.
    pub requester: String,
    /// Where the MVNE's signed location webhooks are served: a listener
    /// of their own, where no admin route answers. Unset, there is none
    /// (the admin API still takes location events with its bearer token).
    pub listen: Option<SocketAddr>,
    /// The Standard Webhooks secret of location webhooks (`webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`); `whsec_` and base64 for
    /// a binary key.
    pub webhook_secret: Option<String>,
    /// How far a `webhook-timestamp` may be from the node's clock, either
    /// way; a webhook-id taken in within it is answered as a duplicate.
    pub webhook_tolerance: HumaneDuration,
    /// Also accept the older `X-Gyro-Signature-256` (the body alone, no
    /// timestamp, no replay window), for an MVNE not yet moved over.
    pub accept_body_signature: bool,
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

impl Default for OtaSettings {
    fn default() -> Self {
        OtaSettings {
            url: None,
            token: None,
            requester: "gyro".into(),
            listen: None,
            webhook_secret: None,
            webhook_tolerance: HumaneDuration(Duration::from_secs(300)),
            accept_body_signature: false,
            aggregate: HumaneDuration(Duration::from_secs(60)),
            min_saving: Decimal::ZERO,
            timeout: HumaneDuration(Duration::from_secs(10)),
            max_attempts: 8,
            backoff_initial: HumaneDuration(Duration::from_secs(1)),
            backoff_max: HumaneDuration(Duration::from_secs(60)),
        }
    }
}
