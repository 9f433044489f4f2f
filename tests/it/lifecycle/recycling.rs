//! Recycling, end of life, batch removal and the IMSI audit over the admin
//! API of a real node with a test clock: the
//! story's closure of the first account, holds of 180 and 365 days, and
//! what the flags make of them.

use std::process::Command;

use crate::support::*;
use serde_json::{json, Value};

const OWN: &str = "262019000000001";
const X: &str = "213779000000001";
const OWN_BATCH: &str = "1000-Own-2025-12-23";
const X_BATCH: &str = "1000-X-2025-12-23";
/// "Own+X for EU Neighbour - Andorra", as one path segment.
const POOL_PATH: &str = "Own%2BX%20for%20EU%20Neighbour%20-%20Andorra";
const POOL: &str = "Own+X for EU Neighbour - Andorra";
const PASS: &str = "EU Neighbour - Andorra 30-Day Pass";
const DAY: i64 = 86_400;

fn start(tag: &str) -> Gyro {
    Gyro::start_replacing(tag, &[("test_clock = false", "test_clock = true")], "")
}

/// Any API call: its status and JSON body (Null when there is none).
fn call(g: &Gyro, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::blocking::Client::new()
        .request(method, format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn ok(g: &Gyro, method: &str, path: &str, body: &Value) -> Value {
    let (s, v) = call(g, method, path, Some(&body.to_string()));
    assert_eq!(s / 100, 2, "{method} {path}: {s} {v}");
    v
}

fn unix(rfc3339: &str) -> i64 {
    let f = &time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(rfc3339, f)
        .unwrap()
        .unix_timestamp()
}

fn rfc(t: i64) -> String {
    gyro::diameter::dump::rfc3339(t)
}

fn now(g: &Gyro) -> i64 {
    unix(api_get(g, "/api/v1/clock")["now"].as_str().unwrap())
}

fn set_clock(g: &Gyro, t: i64) {
    ok(g, "POST", "/api/v1/clock", &json!({"now": rfc(t)}));
}

fn imsi_state(g: &Gyro, imsi: &str) -> String {
    let v = api_get(g, &format!("/api/v1/imsis/{imsi}"));
    v["imsi"]["state"].as_str().unwrap_or("").to_string()
}

/// The seed's first account (IMSI 1's), and when it was onboarded.
fn first_account(g: &Gyro) -> (u64, i64) {
    let a = &api_get(g, &format!("/api/v1/imsis/{OWN}"))["account"];
    (a["id"].as_u64().unwrap(), a["created_at"].as_i64().unwrap())
}

/// Closes `account` an hour on (so that the closure is after onboarding to
/// the second); returns when.
fn close_later(g: &Gyro, account: u64) -> i64 {
    let at = now(g) + 3600;
    set_clock(g, at);
    ok(
        g,
        "POST",
        &format!("/api/v1/accounts/{account}/close"),
        &json!({}),
    );
    at
}

fn audit_at(g: &Gyro, imsi: &str, t: i64) -> (u16, Value) {
    let at = rfc(t);
    call(
        g,
        "GET",
        &format!("/api/v1/audit/imsi/{imsi}?at={at}"),
        None,
    )
}

/// A profile of `pool` on `imsis`, with an ICCID that sorts before the
/// seed's (onboarding takes the lowest).
fn import_profile(g: &Gyro, pool: &str, serial: u32, imsis: &[&str]) -> String {
    let payload = format!("8949102620090{serial:05}");
    let iccid = format!("{payload}{}", gyro::model::luhn_digit(&payload));
    let heads: Vec<String> = (1..=imsis.len()).map(|i| format!("imsi{i}")).collect();
    let csv = format!(
        "iccid,{},ki,opc,pin1,puk1,pin2,puk2\n{iccid},{},{:032X},{:032X},1234,12345678,4321,87654321\n",
        heads.join(","),
        imsis.join(","),
        serial,
        serial + 1
    );
    ok(
        g,
        "POST",
        "/api/v1/profiles",
        &json!({"pool": pool, "csv": csv}),
    );
    iccid
}

#[test]
fn recycled_imsis_come_back_after_their_hold_and_the_audit_remembers() {
    let g = start("recycle");
    let (first, onboarded) = first_account(&g);
    the_pool_and_both_batches_recycle(&g);
    let closed = close_later(&g, first);
    assert_eq!(
        (imsi_state(&g, OWN), imsi_state(&g, X)),
        ("hold".into(), "hold".into())
    );
    set_clock(&g, closed + 181 * DAY);
    assert_eq!(imsi_state(&g, X), "available");
    assert_eq!(imsi_state(&g, OWN), "hold");
    set_clock(&g, closed + 366 * DAY);
    assert_eq!(imsi_state(&g, OWN), "available");
    the_audit_names_the_holder_then_nobody_during_the_hold(&g, first, onboarded, closed);
    reused_in_a_new_profile_the_old_time_still_names_the_first(&g, first, onboarded, closed);
}

fn the_pool_and_both_batches_recycle(g: &Gyro) {
    let pool = ok(
        g,
        "PATCH",
        &format!("/api/v1/pools/{POOL_PATH}"),
        &json!({"recycle": true}),
    );
    assert_eq!(
        (pool["name"].as_str(), &pool["recycle"]),
        (Some(POOL), &json!(true))
    );
    for b in [OWN_BATCH, X_BATCH] {
        let v = ok(
            g,
            "PATCH",
            &format!("/api/v1/batches/{b}"),
            &json!({"recycling": true}),
        );
        assert_eq!(v["recycling"], true, "{v}");
    }
}

/// The audit: who held IMSI 1 before the closure, and nobody during the
/// hold or before the first holder.
fn the_audit_names_the_holder_then_nobody_during_the_hold(
    g: &Gyro,
    first: u64,
    onboarded: i64,
    closed: i64,
) {
    let (s, then) = audit_at(g, OWN, onboarded + 60);
    assert_eq!(s, 200, "{then}");
    assert_eq!(
        (then["account"].as_u64(), then["product"].as_str()),
        (Some(first), Some(PASS))
    );
    assert_eq!(then["iccid"], "894910262010000012345");
    assert_eq!(unix(then["since"].as_str().unwrap()), onboarded);
    let (s, held) = audit_at(g, OWN, closed + DAY);
    assert_eq!(s, 404);
    assert!(
        held["error"].as_str().unwrap().contains("held by nobody"),
        "{held}"
    );
    assert_eq!(held["record"]["event"], "hold");
    let (s, early) = audit_at(g, OWN, onboarded - DAY);
    assert_eq!(s, 404);
    assert!(early["error"]
        .as_str()
        .unwrap()
        .contains("no holder record before"));
}

/// Reused in a new profile: the old time still names the first account,
/// now the second, and the trail shows each step in order.
fn reused_in_a_new_profile_the_old_time_still_names_the_first(
    g: &Gyro,
    first: u64,
    onboarded: i64,
    closed: i64,
) {
    let iccid = import_profile(g, POOL, 1, &[OWN]);
    let v = ok(g, "POST", "/api/v1/accounts", &json!({"product": PASS}));
    assert_eq!(v["profile"]["iccid"], iccid.as_str());
    let second = v["account"]["id"].as_u64().unwrap();
    assert_eq!(
        audit_at(g, OWN, onboarded + 60).1["account"].as_u64(),
        Some(first)
    );
    let (s, current) = audit_at(g, OWN, now(g));
    assert_eq!(
        (s, current["account"].as_u64()),
        (200, Some(second)),
        "{current}"
    );
    let trail = api_get(g, &format!("/api/v1/audit/imsi/{OWN}"));
    let events: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["assigned", "hold", "available", "assigned"]);
    let times: Vec<i64> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unix(h["at"].as_str().unwrap()))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(times[2], closed + 365 * DAY);
}

#[test]
fn an_end_of_life_batch_ends_its_imsis_at_hold_end_and_cannot_go_while_in_use() {
    let g = start("eol");
    let (first, _) = first_account(&g);
    let x = format!("/api/v1/batches/{X_BATCH}");
    let eol = json!({"end_of_life": true, "recycling": false});
    let v = ok(&g, "PATCH", &x, &eol);
    assert_eq!(
        (&v["end_of_life"], &v["recycling"]),
        (&json!(true), &json!(false))
    );
    ok(
        &g,
        "PATCH",
        &format!("/api/v1/pools/{POOL_PATH}"),
        &json!({"recycle": true}),
    );
    let closed = close_later(&g, first);
    set_clock(&g, closed + 181 * DAY);
    assert_eq!(imsi_state(&g, X), "end_of_life");
    assert_eq!(imsi_state(&g, OWN), "hold");
    set_clock(&g, closed + 366 * DAY);
    assert_eq!(imsi_state(&g, OWN), "available");

    // The other 999 IMSIs sit in available profiles.
    let (s, v) = call(&g, "DELETE", &x, None);
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["blocked"], 999);
    let blockers = v["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 20);
    assert_eq!(
        blockers[0],
        json!({"imsi": "213779000000002", "state": "embedded"})
    );
    assert!(v["error"].as_str().unwrap().contains("in use"));
}

#[test]
fn patching_names_the_field_at_fault() {
    let g = start("patch-bad");
    let x = format!("/api/v1/batches/{X_BATCH}");
    for (body, field) in [
        (r#"{"recycling": "yes"}"#, "recycling"),
        (r#"{"colour": true}"#, "colour"),
        (r#"{"recycling": tr"#, "body"),
        ("{}", "body"),
        ("[true]", "body"),
    ] {
        let (s, v) = call(&g, "PATCH", &x, Some(body));
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    let (s, v) = call(
        &g,
        "PATCH",
        &format!("/api/v1/pools/{POOL_PATH}"),
        Some(r#"{"recycling": true}"#),
    );
    assert_eq!((s, v["field"].as_str()), (400, Some("recycling")), "{v}");
    for (method, path, body) in [
        (
            "PATCH",
            "/api/v1/batches/nope",
            Some(r#"{"recycling": true}"#),
        ),
        ("DELETE", "/api/v1/batches/nope", None),
        ("PATCH", "/api/v1/pools/nope", Some(r#"{"recycle": true}"#)),
        ("GET", "/api/v1/audit/imsi/262019999999999", None),
    ] {
        let (s, v) = call(&g, method, path, body);
        assert_eq!(s, 404, "{method} {path}: {v}");
    }
    let (s, v) = call(
        &g,
        "GET",
        &format!("/api/v1/audit/imsi/{OWN}?at=yesterday"),
        None,
    );
    assert_eq!((s, v["field"].as_str()), (400, Some("at")), "{v}");
    let (s, v) = call(&g, "GET", "/api/v1/audit/imsi/26201x", None);
    assert_eq!((s, v["field"].as_str()), (400, Some("imsi")), "{v}");
}

fn cli(g: &Gyro, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .args(["--api", &g.api(), "--token", "gyro-dev-token"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_spent_batch_is_removed_with_an_event_and_its_history_stays() {
    let g = start("remove");
    ok(
        &g,
        "POST",
        "/api/v1/products",
        &json!({"name": "Test Pass", "period": "7d"}),
    );
    let products = json!([{"product": "Test Pass", "priority": 1}]);
    ok(
        &g,
        "POST",
        "/api/v1/pools",
        &json!({"name": "X test", "products": products}),
    );
    let imsis = ["213778000000001", "213778000000002", "213778000000003"];
    let batch = json!({"sponsor": "partner-x", "name": "3-X-test", "imsis": imsis});
    ok(&g, "POST", "/api/v1/batches", &batch);
    import_profile(&g, "X test", 7, &[imsis[0]]);
    let v = ok(
        &g,
        "POST",
        "/api/v1/accounts",
        &json!({"product": "Test Pass"}),
    );
    let account = v["account"]["id"].as_u64().unwrap();

    let (removed, _, err) = cli(&g, &["batch", "remove", "3-X-test"]);
    assert!(!removed);
    assert!(
        err.contains("213778000000001 embedded") && err.contains("409"),
        "{err}"
    );
    let (set, out, err) = cli(&g, &["batch", "set", "3-X-test", "--end-of-life", "true"]);
    assert!(set, "{err}");
    assert!(out.contains("\"end_of_life\": true"), "{out}");
    assert_eq!(imsi_state(&g, imsis[1]), "end_of_life");
    assert_eq!(imsi_state(&g, imsis[2]), "end_of_life");
    let closed = close_later(&g, account);
    let (s, v) = call(&g, "DELETE", "/api/v1/batches/3-X-test", None);
    assert_eq!(
        (s, &v["blockers"][0]["state"]),
        (409, &json!("hold")),
        "{v}"
    );
    set_clock(&g, closed + 181 * DAY);
    assert_eq!(imsi_state(&g, imsis[0]), "end_of_life");

    let v = ok(&g, "DELETE", "/api/v1/batches/3-X-test", &json!({}));
    assert_eq!(
        v,
        json!({"batch": "3-X-test", "sponsor": "partner-x", "removed": 3})
    );
    let (s, _) = call(&g, "GET", &format!("/api/v1/imsis/{}", imsis[0]), None);
    assert_eq!(s, 404);
    let trail = api_get(&g, &format!("/api/v1/audit/imsi/{}", imsis[0]));
    assert_eq!(trail.as_array().map(Vec::len), Some(3), "{trail}");
    let at = rfc(closed - 60);
    let (ok_cli, out, err) = cli(&g, &["audit", "imsi", imsis[0], "--at", &at]);
    assert!(ok_cli, "{err}");
    assert!(out.contains(&format!("\"account\": {account}")), "{out}");

    let page = api_get(&g, "/api/v1/events?limit=1000");
    let removed: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "Batch/Removed")
        .collect();
    assert_eq!(removed.len(), 1, "{page}");
    assert_eq!(
        removed[0]["variables"],
        json!({"batch": "3-X-test", "sponsor": "Partner X", "sponsor_id": "partner-x", "imsis_removed": 3})
    );
}
