//! What a receiver gets: the event's JSON envelope and its signatures,
//! the Standard Webhooks one over id, timestamp and body, and the older
//! body-only one that GitHub-style receivers check.

use serde_json::{json, Value};

use crate::model::event::Event;

/// `{"event_id", "event_type", "created_at", "account", "variables"}`, with
/// the secret variables only when `include_secrets`.
pub fn envelope_value(e: &Event, include_secrets: bool) -> Value {
    json!({
        "event_id": e.event_id,
        "event_type": e.event_type.name(),
        "created_at": crate::model::rfc3339(e.created_at),
        "account": e.account,
        "variables": if include_secrets { e.variables.clone() } else { e.public_variables() },
    })
}

pub fn envelope(e: &Event, include_secrets: bool) -> Vec<u8> {
    envelope_value(e, include_secrets).to_string().into_bytes()
}

/// `X-Gyro-Signature-256`: `sha256=` and the lowercase hex HMAC-SHA256 of
/// the body under the hook's secret (GitHub's convention, which the
/// `webhook` daemon's `payload-hmac-sha256` rule checks).
pub fn signature(secret: &str, body: &[u8]) -> String {
    use std::fmt::Write;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` under the hook's secret (Standard Webhooks), so
/// that the id and the time are signed with the body.
pub fn standard_signature(secret: &str, id: u64, timestamp: i64, body: &[u8]) -> String {
    use crate::model::signature::{sign_v1, webhook_key};
    sign_v1(
        &webhook_key(secret),
        &id.to_string(),
        &timestamp.to_string(),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn envelope_leaves_secrets_out_unless_asked() {
        let e = Event {
            event_id: 42,
            event_type: crate::model::event::EventType::AccountNew,
            created_at: 1_704_067_200,
            account: Some(7),
            variables: json!({"iccid": "8949", "pin1": "1111", "opc": "F9"}),
        };
        let public: Value = serde_json::from_slice(&envelope(&e, false)).unwrap();
        assert_eq!(public["event_id"], 42);
        assert_eq!(public["event_type"], "Account/New");
        assert_eq!(public["created_at"], "2024-01-01T00:00:00Z");
        assert_eq!(public["variables"], json!({"iccid": "8949"}));
        let full: Value = serde_json::from_slice(&envelope(&e, true)).unwrap();
        assert_eq!(full["variables"]["pin1"], "1111");
    }
}
