//! The client of the OTA vendor: one `imsiSwap` call of gyro's own
//! ES2+-style contract (docs/guide/ota.md, "The OTA vendor contract") per
//! [`OtaVendor::imsi_swap`], with `[ota] timeout`, and the answer read into
//! a final [`SwapOutcome`] or a retryable [`VendorError`].
//!
//! Retrying is the caller's: the swap is a durable state machine, so its loop
//! keeps the attempt count in the store and asks [`RetryPolicy::next_delay`]
//! how long to wait. What makes a retry safe is the request itself: its
//! `functionCallIdentifier` comes from the swap id alone, so every attempt of
//! one swap carries the same one and the vendor de-duplicates a retry whose
//! first answer was lost instead of swapping twice.
//!
//! ES2+ has no IMSI swap (replacing an IMSI in an installed profile is each
//! vendor's own OTA operation), so the contract borrows ES2+'s envelope and
//! statuses and a per-vendor adapter stays thin.

mod retry;
mod wire;

use std::time::Duration;

pub use retry::RetryPolicy;

use crate::ota::OtaSettings;

/// Appended to `[ota] url`, as ES2+ functions are to an SM-DP+ address.
pub const IMSI_SWAP_PATH: &str = "/gsma/rsp2/es2plus/imsiSwap";
/// The `X-Admin-Protocol` of gyro's calls: the ES2+ version whose envelope
/// the contract follows.
pub const ADMIN_PROTOCOL: &str = "gsma/rsp/v2.5.0";
/// Answers longer than this are not ES2+ answers to one call; reading stops.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Idle connections are dropped before common proxies and load balancers
/// (60–75 s) drop them, so a swap after a pause never meets a dead one.
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// One swap of a profile's dynamic slot, as the vendor is asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapRequest {
    /// The swap's durable id: it names the call (`gyro-swap-<id>`).
    pub swap_id: u64,
    pub iccid: String,
    /// The profile's dynamic IMSI slot.
    pub slot: u8,
    pub old_imsi: String,
    pub new_imsi: String,
}

impl SwapRequest {
    /// The `functionCallIdentifier` of every attempt of this swap.
    pub fn call_identifier(&self) -> String {
        format!("gyro-swap-{}", self.swap_id)
    }
}

/// A definite answer about the swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    /// `Executed-Success` or `Executed-WithWarning`: the new IMSI is in the
    /// slot (a warning is logged).
    Confirmed,
    /// `Failed` or `Expired`: the vendor did not swap and will not. Codes are
    /// ES2+ `statusCodeData`, empty when the vendor gave none; the message
    /// is the status itself then.
    Refused {
        subject_code: String,
        reason_code: String,
        message: String,
    },
}

/// Why one call gave no definite answer. All but `Config` are retryable:
/// the call may or may not have reached the vendor, and only the vendor's
/// ES2+ status is a verdict on the swap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    /// No answer within `[ota] timeout`. Retryable (the vendor may have
    /// swapped; the retry's call identifier lets it say so).
    #[error("the OTA vendor did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset or closed before a whole answer. Retryable.
    #[error("OTA vendor unreachable: {0}")]
    Transport(String),
    /// HTTP 5xx, 408 or 429, whatever the body. Retryable.
    #[error("the OTA vendor is unavailable (HTTP {status}): {body}")]
    Unavailable { status: u16, body: String },
    /// An answer without a usable ES2+ status (not JSON, an unknown status,
    /// a 3xx, a 4xx from something that is not the vendor). Retryable.
    #[error("unreadable OTA vendor answer: {why}")]
    Unparseable { status: u16, why: String },
    /// gyro's side cannot call at all (the HTTP client cannot be built).
    /// Not retryable: no call was made.
    #[error("OTA vendor client: {0}")]
    Config(String),
}

impl VendorError {
    /// True when calling again (same call identifier) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, VendorError::Config(_))
    }
}

/// The OTA vendor client: one per process, cheap to share (`Arc`).
pub struct OtaVendor {
    client: reqwest::Client,
    endpoint: String,
    token: Option<String>,
    requester: String,
    timeout: Duration,
    retry: RetryPolicy,
}

/// The token is never shown: this is what a `{:?}` in a log prints.
impl std::fmt::Debug for OtaVendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtaVendor")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("requester", &self.requester)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl OtaVendor {
    /// The client of `[ota]`; None when `url` is unset (swaps are decided and
    /// recorded, never ordered).
    pub fn from_config(cfg: &OtaSettings) -> Result<Option<OtaVendor>, VendorError> {
        let Some(url) = cfg.url.as_deref() else {
            return Ok(None);
        };
        let timeout = cfg.timeout.0;
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_idle_timeout(IDLE_TIMEOUT)
            // A POST that is moved is a wrong URL, not something to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gyro/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VendorError::Config(chain(&e)))?;
        Ok(Some(OtaVendor {
            client,
            endpoint: format!("{}{IMSI_SWAP_PATH}", url.trim_end_matches('/')),
            token: cfg.token.clone().filter(|t| !t.is_empty()),
            requester: cfg.requester.clone(),
            timeout,
            retry: RetryPolicy::from_config(cfg),
        }))
    }

    /// Where `imsiSwap` is POSTed.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The backoff of `[ota]`, for the caller's retry loop.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// One `imsiSwap` call, within `[ota] timeout`. Call it again with the
    /// same request on a retryable error: the call identifier is the same.
    pub async fn imsi_swap(&self, req: &SwapRequest) -> Result<SwapOutcome, VendorError> {
        let call = req.call_identifier();
        let mut builder = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .header("X-Admin-Protocol", ADMIN_PROTOCOL)
            .json(&wire::Body::new(&self.requester, req));
        if let Some(t) = &self.token {
            // reqwest marks the header sensitive: it is kept out of Debug.
            builder = builder.bearer_auth(t);
        }
        let result = tokio::time::timeout(self.timeout, self.exchange(builder)).await;
        let outcome = match result {
            Ok(r) => r,
            Err(_) => Err(VendorError::Timeout(self.timeout)),
        };
        match &outcome {
            Ok(o) => {
                tracing::info!(call = %call, iccid = %req.iccid, outcome = ?o, "OTA imsiSwap answered")
            }
            Err(e) => {
                tracing::warn!(call = %call, iccid = %req.iccid, error = %e, "OTA imsiSwap without a definite answer")
            }
        }
        outcome
    }

    /// Sends the call and reads the whole answer.
    async fn exchange(&self, builder: reqwest::RequestBuilder) -> Result<SwapOutcome, VendorError> {
        let mut response = builder.send().await.map_err(|e| self.send_error(&e))?;
        let status = response.status().as_u16();
        let protocol = response
            .headers()
            .get("X-Admin-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.send_error(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER_BYTES {
                return Err(VendorError::Unparseable {
                    status,
                    why: format!("an answer of more than {MAX_ANSWER_BYTES} bytes"),
                });
            }
        }
        // ES2+ clients check the answer's protocol; a thin vendor adapter may
        // leave it out, so a mismatch is logged, never a reason to retry a
        // swap the vendor has already answered.
        if !protocol
            .as_deref()
            .is_some_and(|p| p.starts_with("gsma/rsp/v2."))
        {
            tracing::warn!(
                ?protocol,
                "OTA vendor answer without X-Admin-Protocol gsma/rsp/v2.*"
            );
        }
        let outcome = wire::read_answer(status, &body);
        if let Some(w) = wire::warning(&body) {
            tracing::warn!(warning = %w, "OTA imsiSwap executed with a warning");
        }
        outcome
    }

    fn send_error(&self, e: &reqwest::Error) -> VendorError {
        if e.is_timeout() {
            VendorError::Timeout(self.timeout)
        } else {
            VendorError::Transport(chain(e))
        }
    }
}

/// An error with its causes on one line ("error sending request: … refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: Option<&str>, token: Option<&str>) -> OtaSettings {
        OtaSettings {
            url: url.map(str::to_owned),
            token: token.map(str::to_owned),
            ..OtaSettings::default()
        }
    }

    #[test]
    fn no_url_means_no_client() {
        assert!(OtaVendor::from_config(&cfg(None, None)).unwrap().is_none());
    }

    #[test]
    fn the_path_is_appended_once_whatever_the_trailing_slash() {
        for url in [
            "https://ota.example:8443/base",
            "https://ota.example:8443/base/",
        ] {
            let v = OtaVendor::from_config(&cfg(Some(url), None))
                .unwrap()
                .unwrap();
            assert_eq!(
                v.endpoint(),
                "https://ota.example:8443/base/gsma/rsp2/es2plus/imsiSwap"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let v = OtaVendor::from_config(&cfg(Some("http://127.0.0.1:1"), Some("s3cret-t0ken")))
            .unwrap()
            .unwrap();
        let shown = format!("{v:?}");
        assert!(!shown.contains("s3cret-t0ken"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn only_config_errors_are_final() {
        assert!(VendorError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(VendorError::Transport("reset".into()).is_retryable());
        assert!(!VendorError::Config("no TLS".into()).is_retryable());
    }

    #[test]
    fn the_call_identifier_depends_on_the_swap_id_only() {
        let a = SwapRequest {
            swap_id: 9,
            iccid: "8944500102198304826".into(),
            slot: 2,
            old_imsi: "1".into(),
            new_imsi: "2".into(),
        };
        let b = SwapRequest {
            new_imsi: "3".into(),
            ..a.clone()
        };
        assert_eq!(a.call_identifier(), "gyro-swap-9");
        assert_eq!(a.call_identifier(), b.call_identifier());
    }
}
