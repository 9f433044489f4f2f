//! What the lifecycle tests share: the test clock moved through the API,
//! accounts and events read back, a CCR-I and the MSCC's outcome.

use std::time::Duration;

use crate::support::*;
use gyro::diameter::dump::rfc3339;
use gyro::diameter::Message;
use serde_json::{json, Value};

pub const DAY: i64 = 86_400;
pub const TEST_CLOCK: (&str, &str) = ("test_clock = false", "test_clock = true");
pub const OWN_X: &str = "262019000000001";

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

pub fn post(g: &Gyro, path: &str, body: &Value) -> (u16, Value) {
    api_send(g, "POST", path, Some(body))
}

/// Moves the test clock to `t` (Unix seconds); how many transitions ran.
pub fn clock_to(g: &Gyro, t: i64) -> u64 {
    let (s, v) = post(g, "/api/v1/clock", &json!({"now": rfc3339(t)}));
    assert_eq!(s, 200, "{v}");
    v["transitions"].as_u64().unwrap()
}

pub fn account_of(g: &Gyro, imsi: &str) -> Value {
    api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"].clone()
}

/// Events of type `t` for `account`, oldest first.
pub fn events_for(g: &Gyro, t: &str, account: u64) -> Vec<Value> {
    events_of(g, t)
        .into_iter()
        .filter(|e| e["account"] == account)
        .collect()
}

pub fn events_of(g: &Gyro, t: &str) -> Vec<Value> {
    api_get(g, "/api/v1/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == t)
        .cloned()
        .collect()
}

pub fn ccr_i(p: &mut RawPeer, session: &str, imsi: &str, e2e: u32) -> Vec<u8> {
    let c = GyCcr {
        session,
        requested: Some(100_000),
        imsi,
        e2e,
        ..GyCcr::BASE
    };
    ask(p, &gy_ccr(&c))
}

/// The MSCC's Result-Code and its Final-Unit-Indication's action and URL.
pub fn mscc_outcome(answer: &[u8]) -> (Option<u32>, Option<i32>, Option<String>) {
    let m = Message::new(answer).unwrap();
    let mscc = m.find(456, 0).unwrap();
    let rc = mscc.member(268, 0).and_then(|a| a.u32().ok());
    let fui = mscc.member(430, 0);
    let action = fui.and_then(|f| f.member(449, 0)?.enumerated().ok());
    let url = fui
        .and_then(|f| f.member(434, 0)?.member(435, 0)?.utf8().ok())
        .map(str::to_string);
    (rc, action, url)
}

pub fn sponsor_imsis(g: &Gyro, sponsor: &str) -> Value {
    let lines = api_get(g, "/api/v1/stock?by=sponsor");
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == sponsor)
        .map(|l| l["imsis"].clone())
        .unwrap()
}
