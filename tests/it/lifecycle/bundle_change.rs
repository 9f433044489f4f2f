//! Bundle change and eSIM swap on a running node, over its
//! admin API, its Diameter port and the `gyro account` command line: the
//! story's subscriber moves to the 7-Day Pass on the same eSIM, is told
//! that the Balkan pass needs a new eSIM, swaps to one and is charged on
//! it; a swap that finds no stock changes nothing.

use std::process::Command;

use crate::support::*;
use serde_json::{json, Value};

const STORY_ICCID: &str = "894910262010000012345";
const OWN_IMSI: &str = "262019000000001";
const X_IMSI: &str = "213779000000001";
const EU7: &str = "EU Neighbour - Andorra 7-Day Pass";
const BALKAN: &str = "Balkan Traveller 10-Day Pass";
const DAY: i64 = 86_400;

fn post(g: &Gyro, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .json(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn story_account(g: &Gyro) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{OWN_IMSI}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

fn unix(rfc3339: &Value) -> i64 {
    let s = rfc3339.as_str().unwrap_or_else(|| panic!("{rfc3339}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn now() -> i64 {
    gyro::model::clock::NodeClock::system().now()
}

fn events_of(g: &Gyro, event_type: &str) -> Vec<Value> {
    let page = api_get(g, "/api/v1/events?limit=1000");
    let all = page["events"].as_array().unwrap();
    all.iter()
        .filter(|e| e["event_type"] == event_type)
        .cloned()
        .collect()
}

#[test]
fn bundle_change_on_the_same_esim_then_an_esim_swap() {
    let g = Gyro::start("bundle-story", "");
    let id = story_account(&g);
    the_7_day_pass_on_the_same_esim(&g, id);
    the_balkan_pass_needs_a_new_esim(&g, id);
    let (swap, start) = an_esim_swap_to_the_balkan_pass(&g, id);
    the_old_imsis_are_on_hold_and_charge_nothing(&g, id, start);
    let new_imsis = the_new_imsis_resolve_to_the_account_and_charge(&g, id, &swap);
    let new_iccid = swap["profile"]["iccid"].as_str().unwrap();
    the_swap_event_removes_and_creates_each_imsi(&g, id, new_iccid, &new_imsis);
}

fn the_7_day_pass_on_the_same_esim(g: &Gyro, id: u64) {
    let bundle = format!("/api/v1/accounts/{id}/bundle");
    let (status, a) = post(g, &bundle, &json!({"product": EU7}));
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        (a["id"].as_u64(), a["product"].as_str()),
        (Some(id), Some(EU7))
    );
    assert_eq!(a["profile"], STORY_ICCID);
    let (start, end) = (
        unix(&a["bundle"]["period_start"]),
        unix(&a["bundle"]["period_end"]),
    );
    assert!((start - now()).abs() < 60, "{a}");
    assert_eq!(end - start, 7 * DAY);
    assert_eq!(
        api_get(g, &format!("/api/v1/accounts/{id}"))["product"],
        EU7
    );
}

/// The Balkan pass is refused on the same eSIM (409, a swap is needed) and
/// the product stays.
fn the_balkan_pass_needs_a_new_esim(g: &Gyro, id: u64) {
    let bundle = format!("/api/v1/accounts/{id}/bundle");
    let (status, e) = post(g, &bundle, &json!({"product": BALKAN}));
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["esim_swap_required"], true);
    let why = format!("pool 'Own+X for EU Neighbour - Andorra' does not serve '{BALKAN}'");
    assert!(e["reason"].as_str().unwrap().starts_with(&why), "{e}");
    assert_eq!(
        api_get(g, &format!("/api/v1/accounts/{id}"))["product"],
        EU7
    );
}

/// The swap: a profile of the Balkan pool, a 10-day period, the old one
/// disposed. Returns the API's answer and the new period's start.
fn an_esim_swap_to_the_balkan_pass(g: &Gyro, id: u64) -> (Value, i64) {
    let (status, s) = post(
        g,
        &format!("/api/v1/accounts/{id}/esim-swap"),
        &json!({"product": BALKAN}),
    );
    assert_eq!(status, 200, "{s}");
    let new_iccid = s["profile"]["iccid"].as_str().unwrap().to_string();
    assert_eq!(s["profile"]["pool"], "Own+Y for Balkan Traveller");
    assert!(new_iccid.starts_with("894910262011"), "{s}");
    assert_eq!(s["account"]["profile"], new_iccid.as_str());
    assert_eq!(s["account"]["product"], BALKAN);
    let (start, end) = (
        unix(&s["account"]["bundle"]["period_start"]),
        unix(&s["account"]["bundle"]["period_end"]),
    );
    assert_eq!(end - start, 10 * DAY);
    assert_eq!(s["old_profile"]["iccid"], STORY_ICCID);
    let old = api_get(g, &format!("/api/v1/profiles/{STORY_ICCID}"));
    assert_eq!(old["state"]["state"], "disposed", "{old}");
    (s, start)
}

/// The old IMSIs are on hold for the subscriber and charge nothing.
fn the_old_imsis_are_on_hold_and_charge_nothing(g: &Gyro, id: u64, start: i64) {
    for (imsi, days) in [(OWN_IMSI, 365), (X_IMSI, 180)] {
        let v = api_get(g, &format!("/api/v1/imsis/{imsi}"));
        assert_eq!(v["imsi"]["state"], "hold", "{v}");
        assert_eq!(v["imsi"]["reserved_for"].as_u64(), Some(id), "{v}");
        assert_eq!(v["imsi"]["until"].as_i64(), Some(start + days * DAY), "{v}");
        assert_eq!(v["resolution"]["chargeable"], false, "{v}");
    }
    assert_ne!(charge(g, OWN_IMSI, "pgw.test.local;old;1"), Some(2001));
}

/// The new IMSIs resolve to the account, and charge; returns them.
fn the_new_imsis_resolve_to_the_account_and_charge(g: &Gyro, id: u64, s: &Value) -> Vec<String> {
    let new_imsis: Vec<String> = s["profile"]["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for imsi in &new_imsis {
        let v = api_get(g, &format!("/api/v1/imsis/{imsi}"));
        assert_eq!(v["account"]["id"].as_u64(), Some(id), "{v}");
        assert_eq!(v["resolution"]["chargeable"], true, "{v}");
    }
    assert!(new_imsis[0].starts_with("26201"), "{new_imsis:?}");
    assert_eq!(charge(g, &new_imsis[0], "pgw.test.local;new;1"), Some(2001));
    new_imsis
}

/// One SIM/Swap event: old and new ICCIDs, no secrets in the API, and a
/// remove or create per IMSI with its sponsor and whether to provision it.
fn the_swap_event_removes_and_creates_each_imsi(
    g: &Gyro,
    id: u64,
    new_iccid: &str,
    new_imsis: &[String],
) {
    let swaps = events_of(g, "SIM/Swap");
    assert_eq!(swaps.len(), 1, "{swaps:?}");
    let v = &swaps[0]["variables"];
    assert_eq!(swaps[0]["account"].as_u64(), Some(id));
    assert_eq!(v["old_iccid"], STORY_ICCID);
    assert_eq!(v["old_iccid_grouped"], "8949 1026 2010 0000 1234 5");
    assert_eq!(v["new_iccid"], new_iccid);
    assert_eq!(v["product"], BALKAN);
    assert_eq!(v["transport_key_label"], "MNO.PROD.SM.TRK.AES");
    for secret in ["pin1", "puk1", "pin2", "puk2", "ki", "opc"] {
        assert!(v.get(secret).is_none(), "{secret} shown in the API: {v}");
    }
    let rows: Vec<(&str, &str, &str, bool)> = v["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap();
            (
                s("action"),
                s("imsi"),
                s("sponsor_id"),
                r["provision"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("remove", OWN_IMSI, "own", true),
            ("remove", X_IMSI, "partner-x", false),
            ("create", new_imsis[0].as_str(), "own", true),
            ("create", new_imsis[1].as_str(), "partner-y", true),
        ]
    );
}

fn gyro_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The seed plus a product whose only pool has no profile.
fn sold_out_seed(tag: &str) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    let seed = format!(
        "{}\n[[product]]\nname = \"Sold Out Pass\"\nperiod = \"7d\"\n\n\
         [[pool]]\nname = \"Sold out\"\nproducts = [{{ product = \"Sold Out Pass\", priority = 1 }}]\n",
        gyro::inventory::seed::EMBEDDED
    );
    let path = dir.join("seed.toml");
    std::fs::write(&path, seed).unwrap();
    path
}

#[test]
fn a_swap_without_stock_changes_nothing_and_the_cli_speaks_for_the_api() {
    let seed = sold_out_seed("bundle-soldout-seed");
    let line = format!("seed = \"{}\"", seed.display());
    let mut g = Gyro::start_replacing(
        "bundle-soldout",
        &[("# seed = \"config/seed.toml\"", line.as_str())],
        "",
    );
    let id = story_account(&g);
    let swaps_before = a_swap_without_stock_changes_nothing(&g, id);
    the_cli_through_the_api_gives_the_same_answers(&g, id);
    a_balkan_esim_with_dynamic_imsis_serves_the_world_pass(&g);
    // On the store, with the node stopped; the node started again serves
    // the swapped account on its new eSIM.
    g.stop();
    let new_own = the_cli_on_the_store_swaps_the_esim(&g, id);
    let g = Gyro::restart("bundle-soldout-again", &g.dir);
    let v = api_get(&g, &format!("/api/v1/imsis/{new_own}"));
    assert_eq!(v["account"]["id"].as_u64(), Some(id), "{v}");
    assert_eq!(v["resolution"]["chargeable"], true, "{v}");
    assert_eq!(
        api_get(&g, &format!("/api/v1/imsis/{OWN_IMSI}"))["imsi"]["state"],
        "hold"
    );
    assert_eq!(
        charge(&g, &new_own, "pgw.test.local;after-restart;1"),
        Some(2001)
    );
    assert_eq!(events_of(&g, "SIM/Swap").len(), swaps_before + 1);
}

/// A swap to a product with no stock: 409, and the account, its profile,
/// IMSIs and events as they were. Returns the count of SIM/Swap events.
fn a_swap_without_stock_changes_nothing(g: &Gyro, id: u64) -> usize {
    let before = api_get(g, &format!("/api/v1/accounts/{id}"));
    let swaps_before = events_of(g, "SIM/Swap").len();
    let (status, e) = post(
        g,
        &format!("/api/v1/accounts/{id}/esim-swap"),
        &json!({"product": "Sold Out Pass"}),
    );
    assert_eq!(status, 409, "{e}");
    assert_eq!(
        e["error"],
        "no available eSIM profile for product 'Sold Out Pass'"
    );
    assert_eq!(api_get(g, &format!("/api/v1/accounts/{id}")), before);
    let old = api_get(g, &format!("/api/v1/profiles/{STORY_ICCID}"));
    assert_eq!(old["state"]["state"], "assigned", "{old}");
    let v = api_get(g, &format!("/api/v1/imsis/{OWN_IMSI}"));
    assert_eq!(
        (
            v["imsi"]["state"].as_str(),
            v["resolution"]["chargeable"].as_bool()
        ),
        (Some("embedded"), Some(true))
    );
    assert_eq!(events_of(g, "SIM/Swap").len(), swaps_before);
    swaps_before
}

/// The command line through the API: the same answers.
fn the_cli_through_the_api_gives_the_same_answers(g: &Gyro, id: u64) {
    let api = g.api();
    let sid = id.to_string();
    let (ok, _, err) = gyro_cli(&[
        "account",
        "bundle",
        &sid,
        "--product",
        BALKAN,
        "--api",
        &api,
    ]);
    assert!(!ok);
    assert!(
        err.contains("409") && err.contains("esim_swap_required: pool 'Own+X"),
        "{err}"
    );
    let (ok, out, err) = gyro_cli(&["account", "bundle", &sid, "--product", EU7, "--api", &api]);
    assert!(ok, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["product"], EU7);
    let (ok, out, err) = gyro_cli(&["account", "auto-renew", &sid, "--on", "--api", &api]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["auto_renew"],
        true
    );
    let (ok, out, err) = gyro_cli(&["account", "renew", &sid, "--api", &api]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["renewals"], 1);
}

/// The Balkan subscriber's eSIM takes "dynamic W" IMSIs, which serve the
/// World pass too.
fn a_balkan_esim_with_dynamic_imsis_serves_the_world_pass(g: &Gyro) {
    let balkan = api_get(g, "/api/v1/imsis/262018000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let (status, a) = post(
        g,
        &format!("/api/v1/accounts/{balkan}/bundle"),
        &json!({"product": "World Traveller 30-Day Pass"}),
    );
    assert_eq!(status, 200, "{a}");
}

/// `gyro account esim-swap --config` on a stopped node's store; an unknown
/// product is refused. Returns the new eSIM's own IMSI.
fn the_cli_on_the_store_swaps_the_esim(g: &Gyro, id: u64) -> String {
    let sid = id.to_string();
    let config = g.dir.join("gyro.toml");
    let config = config.to_str().unwrap();
    let (ok, out, err) = gyro_cli(&[
        "account",
        "esim-swap",
        &sid,
        "--product",
        BALKAN,
        "--config",
        config,
    ]);
    assert!(ok, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    let new_own = s["profile"]["imsis"][0].as_str().unwrap().to_string();
    let (ok, _, err) = gyro_cli(&[
        "account",
        "bundle",
        &sid,
        "--product",
        "Nope",
        "--config",
        config,
    ]);
    assert!(!ok);
    assert!(
        err.contains("404") && err.contains("product 'Nope' not found"),
        "{err}"
    );
    new_own
}
