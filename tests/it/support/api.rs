//! The node's admin API with the development token, and what a test reads
//! through it or from the data directory: balances, xDRs, one charge.

use std::time::Duration;

use super::{ask, gy_ccr, open_peer, GyCcr, Gyro};

/// The node's admin API, for tests.
pub fn api_get(g: &Gyro, path: &str) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// An admin API call with the development token: its status and JSON body
/// (Null when the body is not JSON).
pub fn api_send(
    g: &Gyro,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c
        .request(m, format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token");
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

/// The data balance of the account of `imsi`: (used, reserved) octets.
pub fn data_balance(g: &Gyro, imsi: &str) -> (u64, u64) {
    let id = api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap();
    let b = api_get(g, &format!("/api/v1/accounts/{id}/balance"));
    let n = |k: &str| b["data"][k].as_u64().unwrap();
    (n("used_octets"), n("reserved_octets"))
}

/// Every xDR line the node wrote, parsed.
pub fn xdrs(g: &Gyro) -> Vec<serde_json::Value> {
    let mut out = vec![];
    for e in std::fs::read_dir(g.dir.join("data/xdr")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    out
}

/// A CCR-I from the home network's gateway on `imsi`: its Result-Code.
pub fn charge(g: &Gyro, imsi: &str, session: &str) -> Option<u32> {
    let mut p = open_peer(g, "pgw.test.local");
    let ccr = gy_ccr(&GyCcr {
        session,
        imsi,
        requested: Some(100_000),
        ..GyCcr::BASE
    });
    let a = ask(&mut p, &ccr);
    gyro::diameter::Message::new(&a).and_then(|m| m.result_code())
}
