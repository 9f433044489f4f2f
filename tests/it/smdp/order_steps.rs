//! What the profile-order tests share: the story's pool, products and
//! batches, a node whose ICCIDs sort before the seed's, and orders placed,
//! read back and ingested through the API.

use crate::support::orders::*;
use crate::support::*;
use serde_json::{json, Value};

pub(super) const POOL: &str = "Own+X for EU Neighbour - Andorra";
/// `POOL` as one path segment.
pub(super) const POOL_PATH: &str = "Own%2BX%20for%20EU%20Neighbour%20-%20Andorra";
pub(super) const PASS_30: &str = "EU Neighbour - Andorra 30-Day Pass";
pub(super) const PASS_7: &str = "EU Neighbour - Andorra 7-Day Pass";
pub(super) const OWN_BATCH: &str = "1000-Own-2026-06";
pub(super) const X_BATCH: &str = "1000-X-2026-06";
pub(super) const OWN_FIRST: u64 = 262_015_000_000_001;
pub(super) const X_FIRST: u64 = 213_775_000_000_001;
/// Ordered ICCIDs sort before the seed's, so onboarding takes them first.
pub(super) const PREFIX: &str = "894910262009";
pub(super) const PREFIX_LINE: (&str, &str) = (
    "iccid_prefix = \"894910262013\"",
    "iccid_prefix = \"894910262009\"",
);

pub(super) fn start(tag: &str) -> Gyro {
    Gyro::start_replacing(tag, &[PREFIX_LINE], "")
}

pub(super) fn ok(g: &Gyro, method: &str, path: &str, body: &Value) -> Value {
    let (s, v) = api_send(g, method, path, Some(body));
    assert_eq!(s / 100, 2, "{method} {path}: {s} {v}");
    v
}

/// Imports `n` consecutive IMSIs from `first` as batch `name`.
pub(super) fn import(g: &Gyro, sponsor: &str, name: &str, first: u64, n: u64) {
    let imsis: Vec<String> = (first..first + n).map(|i| i.to_string()).collect();
    let body = json!({"sponsor": sponsor, "name": name, "recycling": true, "imsis": imsis});
    let v = ok(g, "POST", "/api/v1/batches", &body);
    assert_eq!(v["imported"], n, "{v}");
}

pub(super) fn story_batches(g: &Gyro) {
    import(g, "own", OWN_BATCH, OWN_FIRST, 1000);
    import(g, "partner-x", X_BATCH, X_FIRST, 1000);
}

pub(super) fn story_order(count: u32) -> Value {
    json!({"count": count, "imsis_per_profile": 2, "batches": {"1": OWN_BATCH, "2": X_BATCH}})
}

pub(super) fn post_order(g: &Gyro, pool_path: &str, body: &Value) -> (u16, Value) {
    let path = format!("/api/v1/pools/{pool_path}/orders");
    api_send(g, "POST", &path, Some(body))
}

/// Orders and checks the 201; the order's id.
pub(super) fn order_ok(g: &Gyro, pool_path: &str, body: &Value) -> u64 {
    let (s, o) = post_order(g, pool_path, body);
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["state"], "created", "{o}");
    o["id"].as_u64().unwrap()
}

/// The order with its profiles.
pub(super) fn order(g: &Gyro, id: u64) -> Value {
    api_get(g, &format!("/api/v1/orders/{id}?profiles=true"))
}

/// The SM-DP+'s Standard file for the whole order, ingested: the order
/// with its profiles.
pub(super) fn ingest_whole(g: &Gyro, id: u64, file: &str) -> Value {
    let full = order(g, id);
    let (s, v) = ingest(g, file, &standard(&full));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["profiles"], full["count"], "{v}");
    full
}

pub(super) fn imsi_state(g: &Gyro, imsi: &str) -> String {
    let v = api_get(g, &format!("/api/v1/imsis/{imsi}"));
    v["imsi"]["state"].as_str().unwrap_or("").to_string()
}

pub(super) fn serial(iccid: &str) -> u64 {
    iccid[PREFIX.len()..iccid.len() - 1].parse().unwrap()
}
