//! Who may post a location webhook: the Standard Webhooks check of the
//! webhook listener. The headers and the timestamp are checked before the
//! body is read (`precheck`), the signature over `id.timestamp.body` once
//! it is (`verify`). A timestamp outside the tolerance window is refused,
//! and a `webhook-id` taken in within the window is a replay, answered as
//! a duplicate without effect; older replays fail the timestamp check, so
//! an id needs remembering only for as long as the window lasts.

use std::collections::HashMap;
use std::sync::Mutex;

use super::signature_ok;
use crate::model::signature::{verify_v1, webhook_key};
use crate::model::UnixTime;

/// At most this many webhook ids are remembered at once; past it (a flood
/// within one window) new messages are refused until older ids expire.
pub const MAX_SEEN: usize = 100_000;

/// Longest accepted `webhook-id`.
pub const MAX_WEBHOOK_ID: usize = 256;

/// The signature headers of one webhook, as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    /// The older `X-Gyro-Signature-256`: the body alone, no time, no id.
    pub body_signature: Option<&'a str>,
}

/// Why a webhook is not taken in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Unsigned, badly signed or stale: 401, naming the header at fault.
    #[error("{header}: {message}")]
    Unsigned {
        header: &'static str,
        message: String,
    },
    /// Too many ids within one window to remember another: 503.
    #[error("too many webhooks within the tolerance window; retry later")]
    Busy,
}

/// A verified message: new, or a replay of one taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    Replay,
}

/// The webhook listener's secret, window and the ids taken in within it.
pub struct Verifier {
    key: Vec<u8>,
    secret: String,
    tolerance: i64,
    body_only: bool,
    /// webhook-id → its webhook-timestamp.
    seen: Mutex<HashMap<String, UnixTime>>,
}

fn unsigned(header: &'static str, message: impl Into<String>) -> Refused {
    Refused::Unsigned {
        header,
        message: message.into(),
    }
}

fn need<'a>(v: Option<&'a str>, header: &'static str) -> Result<&'a str, Refused> {
    v.ok_or_else(|| unsigned(header, "missing"))
}

impl Verifier {
    /// `tolerance` in seconds; `body_only` also accepts `X-Gyro-Signature-256`.
    pub fn new(secret: &str, tolerance: i64, body_only: bool) -> Verifier {
        Verifier {
            key: webhook_key(secret),
            secret: secret.to_string(),
            tolerance,
            body_only,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the message goes by the older body-only signature.
    fn legacy(&self, h: &SignedHeaders<'_>) -> bool {
        self.body_only && h.signature.is_none() && h.body_signature.is_some()
    }

    /// The checks that need no body: the headers are there, the id is
    /// sane and the timestamp is within the window of `now`.
    pub fn precheck(&self, h: &SignedHeaders<'_>, now: UnixTime) -> Result<(), Refused> {
        if self.legacy(h) {
            return Ok(());
        }
        let id = need(h.id, "webhook-id")?;
        if id.is_empty() || id.len() > MAX_WEBHOOK_ID || id.chars().any(char::is_control) {
            let m = format!("must be 1 to {MAX_WEBHOOK_ID} characters, none a control character");
            return Err(unsigned("webhook-id", m));
        }
        let ts = need(h.timestamp, "webhook-timestamp")?;
        let t: i64 = ts
            .parse()
            .map_err(|_| unsigned("webhook-timestamp", "must be Unix seconds"))?;
        if (now - t).abs() > self.tolerance {
            let m = format!(
                "{t} is more than {} s from the node's time {now}",
                self.tolerance
            );
            return Err(unsigned("webhook-timestamp", m));
        }
        need(h.signature, "webhook-signature")?;
        Ok(())
    }

    /// The whole check once the body is read: `precheck`, the signature,
    /// then whether the id was taken in before.
    pub fn verify(
        &self,
        h: &SignedHeaders<'_>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Verdict, Refused> {
        self.precheck(h, now)?;
        if self.legacy(h) {
            let sig = h.body_signature.unwrap_or_default();
            return match signature_ok(&self.secret, body, sig) {
                true => Ok(Verdict::Fresh),
                false => Err(unsigned("X-Gyro-Signature-256", "does not sign the body")),
            };
        }
        let (id, ts, sig) = (
            h.id.unwrap_or_default(),
            h.timestamp.unwrap_or_default(),
            h.signature.unwrap_or_default(),
        );
        if !verify_v1(&self.key, id, ts, body, sig) {
            let m = "no v1 signature of id.timestamp.body under the webhook secret";
            return Err(unsigned("webhook-signature", m));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains_key(id) {
            return Ok(Verdict::Replay);
        }
        if seen.len() >= MAX_SEEN {
            let oldest = now - self.tolerance;
            seen.retain(|_, t| *t >= oldest);
            if seen.len() >= MAX_SEEN {
                return Err(Refused::Busy);
            }
        }
        Ok(Verdict::Fresh)
    }

    /// Remembers a message's id once it was taken in, so that a replay
    /// within the window is a duplicate.
    pub fn taken(&self, h: &SignedHeaders<'_>, now: UnixTime) {
        if self.legacy(h) {
            return;
        }
        let (Some(id), Some(Ok(t))) = (h.id, h.timestamp.map(str::parse::<i64>)) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_SEEN {
            let oldest = now - self.tolerance;
            seen.retain(|_, t| *t >= oldest);
        }
        seen.insert(id.to_string(), t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::signature::sign_v1;

    const SECRET: &str = "mvne-webhook-secret-0001";
    const NOW: i64 = 1_796_119_200;

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
            body_signature: None,
        }
    }

    #[test]
    fn signed_then_replayed_then_stale() {
        let v = Verifier::new(SECRET, 300, false);
        let ts = NOW.to_string();
        let sig = sign_v1(&webhook_key(SECRET), "msg-1", &ts, b"{}");
        let h = headers("msg-1", &ts, &sig);
        assert_eq!(v.verify(&h, b"{}", NOW), Ok(Verdict::Fresh));
        v.taken(&h, NOW);
        assert_eq!(v.verify(&h, b"{}", NOW + 10), Ok(Verdict::Replay));
        let e = v.verify(&h, b"{}", NOW + 301).unwrap_err();
        assert!(e.to_string().starts_with("webhook-timestamp"), "{e}");
        let e = v.verify(&h, b"{ }", NOW).unwrap_err();
        assert!(e.to_string().starts_with("webhook-signature"), "{e}");
    }

    #[test]
    fn missing_headers_are_named_and_the_body_only_header_is_off_by_default() {
        let v = Verifier::new(SECRET, 300, false);
        let h = SignedHeaders::default();
        let e = v.precheck(&h, NOW).unwrap_err();
        assert!(e.to_string().starts_with("webhook-id: missing"), "{e}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let hex: String = ring::hmac::sign(&key, b"{}")
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let old = format!("sha256={hex}");
        let h = SignedHeaders {
            body_signature: Some(&old),
            ..SignedHeaders::default()
        };
        assert!(v.verify(&h, b"{}", NOW).is_err());
        let compat = Verifier::new(SECRET, 300, true);
        assert_eq!(compat.verify(&h, b"{}", NOW), Ok(Verdict::Fresh));
        assert!(compat.verify(&h, b"{ }", NOW).is_err());
    }
}
