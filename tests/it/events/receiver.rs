//! The event receiver harness itself: Debian's webhook daemon accepts only
//! correctly signed bodies, records them before answering, and survives a
//! restart on the same port with what it received.

use crate::support::webhook::{webhook_bin, Receiver};
use std::io::Write;
use std::process::{Command, Stdio};

const SECRET: &str = "gyro-webhook-test-secret";

/// Lowercase hex HMAC-SHA256 of `body` under `secret`, by the openssl CLI.
fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl dgst failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "SHA2-256(stdin)= <hex>" (OpenSSL 3) or "(stdin)= <hex>".
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "unexpected openssl output: {text}"
    );
    hex.to_ascii_lowercase()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// POSTs `body` as gyro does; the status, or the error.
fn post(
    r: &Receiver,
    id: &str,
    ts: &str,
    body: &str,
    signature: Option<&str>,
) -> Result<u16, reqwest::Error> {
    let mut req = client()
        .post(r.url())
        .header("Content-Type", "application/json")
        .header("Webhook-Id", id)
        .header("Webhook-Timestamp", ts)
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("X-Gyro-Signature-256", format!("sha256={s}"));
    }
    req.send().map(|resp| resp.status().as_u16())
}

#[test]
fn webhook_receiver_verifies_records_and_restarts() {
    if webhook_bin().is_none() {
        return;
    }
    let mut r = Receiver::start("webhook-self", SECRET);
    assert_eq!(r.url(), format!("http://127.0.0.1:{}/hooks/gyro", r.port()));

    // Signed correctly: 200, and recorded by the time the 200 arrives.
    let body1 = serde_json::json!({
        "id": "evt-1",
        "type": "balance.low",
        "data": {"imsi": "262019000000001", "remaining_octets": 1048576, "note": "<&>\"q\""}
    })
    .to_string();
    let sig1 = hmac_sha256_hex(SECRET, body1.as_bytes());
    assert_eq!(
        post(&r, "evt-1", "1700000000", &body1, Some(&sig1)).unwrap(),
        200,
        "log:\n{}",
        r.log_text()
    );
    let got = r.received();
    assert_eq!(got.len(), 1, "{got:?}\nlog:\n{}", r.log_text());
    assert_eq!(got[0].webhook_id, "evt-1");
    assert_eq!(got[0].timestamp, "1700000000");
    assert_eq!(
        got[0].body,
        serde_json::from_str::<serde_json::Value>(&body1).unwrap()
    );

    // Signed with another secret: 500, nothing recorded.
    let body2 = serde_json::json!({"id": "evt-bad", "type": "balance.low"}).to_string();
    let wrong = hmac_sha256_hex("not-the-secret", body2.as_bytes());
    assert_eq!(
        post(&r, "evt-bad", "1700000001", &body2, Some(&wrong)).unwrap(),
        500
    );
    // Unsigned: the rule is not satisfied (400 here), nothing recorded.
    assert_eq!(
        post(&r, "evt-unsigned", "1700000001", &body2, None).unwrap(),
        400
    );
    assert_eq!(r.received().len(), 1, "{:?}", r.received());

    // Stopped: nothing listens.
    r.stop();
    r.stop();
    let err = post(&r, "evt-2", "1700000002", &body1, Some(&sig1))
        .expect_err("a POST to a stopped receiver");
    assert!(err.is_connect(), "{err:?}");

    // Restarted on the same port: recorded again, after what was there.
    let port = r.port();
    r.restart();
    assert_eq!(r.port(), port);
    let body3 = serde_json::json!({"id": "evt-3", "type": "quota.exhausted"}).to_string();
    let sig3 = hmac_sha256_hex(SECRET, body3.as_bytes());
    assert_eq!(
        post(&r, "evt-3", "1700000003", &body3, Some(&sig3)).unwrap(),
        200
    );
    let got = r.wait_for(2, 5);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].webhook_id, "evt-1");
    assert_eq!(got[1].webhook_id, "evt-3");
    assert_eq!(got[1].timestamp, "1700000003");
    assert_eq!(got[1].body["type"], "quota.exhausted");
}
