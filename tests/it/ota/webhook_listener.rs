//! The MVNE's location webhooks on a listener of their own (`ota.listen`)
//! over real sockets: no admin route answers there, the admin listener
//! takes location events only with its token, and a webhook is signed the
//! Standard Webhooks way: checked before its body is read, refused outside
//! the tolerance window, a replayed webhook-id answered as a duplicate
//! without effect, several signatures accepted while a secret rotates, and
//! an `observed_at` from the future refused 400.

use serde_json::{json, Value};

use crate::support::ota::{fresh_webhook_id, now_secs, standard_signature};
use crate::support::*;

const SECRET: &str = "mvne-webhook-secret-0001";
const IMSI: &str = "262019000000001";

fn start(tag: &str, extra: &str) -> (Gyro, u16) {
    let port = free_port();
    let tail =
        format!("[ota]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret = \"{SECRET}\"\n{extra}");
    (Gyro::start_with_tail(tag, "", &tail), port)
}

fn body(event_id: &str, observed_at: &str) -> Vec<u8> {
    json!({"event_id": event_id, "imsi": IMSI, "mcc": "276", "mnc": "02",
           "observed_at": observed_at})
    .to_string()
    .into_bytes()
}

/// A POST of `body` with `headers` to `base`: status and JSON answer.
fn post(base: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/events/location"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.body(body.to_vec()).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Standard Webhooks headers for `body` under `secret`, at `ts`.
fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let sig = standard_signature(secret, id, &ts.to_string(), body);
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ]
}

fn pending_count(g: &Gyro) -> Value {
    api_get(g, "/api/v1/events/location/pending")["count"].clone()
}

#[test]
fn the_webhook_listener_serves_signed_location_webhooks_and_nothing_else() {
    let (mut g, port) = start("hook-listener", "");
    let hook = format!("http://127.0.0.1:{port}");
    no_admin_route_answers_on_the_webhook_listener(port);
    let b = body("mvne-1", "2026-12-01T10:00:00Z");
    // The admin listener wants its token, whatever the signature.
    let h = signed(SECRET, &fresh_webhook_id(), now_secs(), &b);
    let (s, r) = post(&g.api(), &h, &b);
    assert_eq!((s, &r["field"]), (401, &json!("Authorization")), "{r}");
    // Signed, on its own listener: queued; the same message again is a
    // replay, answered without effect.
    let (s, r) = post(&hook, &h, &b);
    assert_eq!((s, &r["queued"]), (202, &json!(true)), "{r}");
    let (s, r) = post(&hook, &h, &b);
    assert_eq!(
        (s, &r["duplicate"], &r["webhook_id"]),
        (200, &json!(true), &json!(h[0].1)),
        "{r}"
    );
    assert_eq!(pending_count(&g), 1);
    refused_signatures(&hook);
    rotation_and_future_sightings(&g, &hook);
    g.stop();
}

/// Admin routes with the admin token are 404 on the webhook listener.
fn no_admin_route_answers_on_the_webhook_listener(port: u16) {
    let c = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for (method, path) in [
        ("GET", "/api/v1/stock"),
        ("POST", "/api/v1/accounts"),
        ("GET", "/api/v1/events/location/pending"),
        ("POST", "/api/v1/batches"),
        ("GET", "/metrics"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = c
            .request(m, format!("{base}{path}"))
            .bearer_auth("gyro-dev-token")
            .json(&json!({"product": "Balkan Traveller 10-Day Pass"}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
    }
}

/// Each fault is a 401 naming the header; the checks that need no body
/// answer before it is sent.
fn refused_signatures(hook: &str) {
    let b = body("mvne-2", "2026-12-01T10:01:00Z");
    let now = now_secs();
    let id = fresh_webhook_id();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "webhook-id"),
        (signed(SECRET, &id, now - 301, &b), "webhook-timestamp"),
        (signed(SECRET, &id, now + 301, &b), "webhook-timestamp"),
        (
            signed("not-the-webhook-secret", &id, now, &b),
            "webhook-signature",
        ),
        (signed(SECRET, &id, now, b"{}"), "webhook-signature"),
        (
            vec![("x-gyro-signature-256", body_signature(SECRET, &b))],
            "webhook-id",
        ),
    ];
    for (headers, field) in cases {
        let (s, r) = post(hook, &headers, &b);
        assert_eq!((s, &r["field"]), (401, &json!(field)), "{headers:?}: {r}");
    }
    // Stale, with 1 GiB of body announced and none sent: 401 at once.
    let port: u16 = hook.rsplit(':').next().unwrap().parse().unwrap();
    let stale = signed(SECRET, &id, now - 3600, &b);
    let h: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = answer_before_body(port, "POST", "/api/v1/events/location", &h, 1 << 30, 5)
        .expect("no answer while the body was held back");
    assert_eq!(a.status, 401, "{a:?}");
}

/// Two signatures, one under the new secret: taken. A sighting an hour
/// ahead of the node's clock: 400 naming observed_at, on either listener.
fn rotation_and_future_sightings(g: &Gyro, hook: &str) {
    let b = body("mvne-3", "2026-12-01T10:02:00Z");
    let (id, now) = (fresh_webhook_id(), now_secs());
    let old = standard_signature("the-previous-secret-01", &id, &now.to_string(), &b);
    let mut h = signed(SECRET, &id, now, &b);
    h[2].1 = format!("{old} {}", h[2].1);
    let (s, r) = post(hook, &h, &b);
    assert_eq!(s, 202, "{r}");
    let ahead = gyro::diameter::dump::rfc3339(now + 3600);
    let b = body("mvne-4", &ahead);
    let (s, r) = post(hook, &signed(SECRET, &fresh_webhook_id(), now, &b), &b);
    assert_eq!((s, &r["field"]), (400, &json!("observed_at")), "{r}");
    let bearer = [("authorization", "Bearer gyro-dev-token".to_string())];
    let (s, r) = post(&g.api(), &bearer, &b);
    assert_eq!((s, &r["field"]), (400, &json!("observed_at")), "{r}");
}

/// The older `X-Gyro-Signature-256`: `sha256=` and the hex HMAC of the body.
fn body_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let hex: String = ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn the_body_only_signature_is_taken_only_when_asked() {
    let (mut g, port) = start("hook-legacy", "accept_body_signature = true\n");
    let hook = format!("http://127.0.0.1:{port}");
    let b = body("mvne-legacy", "2026-12-01T10:00:00Z");
    let (s, r) = post(
        &hook,
        &[(
            "x-gyro-signature-256",
            body_signature("wrong-secret-000000", &b),
        )],
        &b,
    );
    assert_eq!(
        (s, &r["field"]),
        (401, &json!("X-Gyro-Signature-256")),
        "{r}"
    );
    let (s, r) = post(
        &hook,
        &[("x-gyro-signature-256", body_signature(SECRET, &b))],
        &b,
    );
    assert_eq!((s, &r["queued"]), (202, &json!(true)), "{r}");
    g.stop();
}
