//! Provisioning events delivered to a real receiver: Debian's `webhook`
//! daemon, which verifies `X-Gyro-Signature-256` with its
//! `payload-hmac-sha256` rule and appends each accepted body to a file.
//! Onboarding and fair usage, a wrong secret, a receiver outage, kill -9
//! mid-delivery, dead letters and their retry, a 4xx refusal.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::Duration;

use common::webhook::{webhook_bin, Received, Receiver};
use common::*;
use serde_json::{json, Value};

const STORY_ICCID: &str = "894910262010000012345";

fn hook(name: &str, url: &str, secret: &str, extra: &str) -> String {
    format!(
        "[[events.webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{secret}\"\n{extra}\n"
    )
}

/// Fast retries, so that dead letters happen within a test.
const QUICK: &str =
    "[events]\nmax_attempts = 3\nbackoff_initial = \"100ms\"\nbackoff_max = \"400ms\"\n";

fn onboard(g: &Gyro, product: &str) -> u64 {
    let r: Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/accounts", g.api()))
        .bearer_auth("gyro-dev-token")
        .json(&json!({"product": product}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["account"]["id"].as_u64().unwrap_or_else(|| panic!("{r}"))
}

fn events(g: &Gyro, query: &str) -> Vec<Value> {
    api_get(g, &format!("/api/v1/events?{query}"))["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn account_of(g: &Gyro, imsi: &str) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

fn of_type<'a>(got: &'a [Received], t: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.body["event_type"] == t).collect()
}

#[test]
fn onboarding_delivers_account_new_signed_with_secrets_only_where_asked() {
    let Some(_) = webhook_bin() else { return };
    let nsps = Receiver::start("ev-nsps", "nsps-secret");
    let crm = Receiver::start("ev-crm", "crm-secret");
    let tail = hook("nsps", &nsps.url(), "nsps-secret", "include_secrets = true")
        + &hook(
            "crm",
            &crm.url(),
            "crm-secret",
            "events = [\"Account/New\"]",
        );
    // The seed onboards the story's account 1 onto ICCID 8949 1026 2010 0000 1234 5.
    let g = Gyro::start_with_tail("ev-onboard", "", &tail);
    let fresh = onboard(&g, "Balkan Traveller 10-Day Pass");
    let got = nsps.wait_for(3, 20);
    let new = of_type(&got, "Account/New");
    assert_eq!(new.len(), 3, "{got:?}");
    let story = new
        .iter()
        .find(|r| r.body["variables"]["iccid"] == STORY_ICCID)
        .expect("the story's profile");
    let v = &story.body["variables"];
    assert_eq!(story.webhook_id, story.body["event_id"].to_string());
    assert!(story.timestamp.parse::<i64>().unwrap() > 1_700_000_000);
    assert_eq!(story.body["account"], account_of(&g, "262019000000001"));
    assert_eq!(v["iccid_grouped"], "8949 1026 2010 0000 1234 5");
    assert_eq!(v["product"], "EU Neighbour - Andorra 30-Day Pass");
    assert_eq!(v["transport_key_label"], "MNO.PROD.SM.TRK.AES");
    for (k, want) in [
        ("pin1", "1111"),
        ("puk1", "11111111"),
        ("pin2", "2222"),
        ("puk2", "22222222"),
    ] {
        assert_eq!(v[k], want, "{k}");
    }
    assert_eq!(v["ki"].as_str().unwrap().len(), 32);
    assert_eq!(v["opc"].as_str().unwrap().len(), 32);
    let imsis = v["imsis"].as_array().unwrap();
    assert_eq!(imsis.len(), 2);
    assert_eq!(
        (
            &imsis[0]["slot"],
            &imsis[0]["sponsor"],
            &imsis[0]["provision"]
        ),
        (&json!(1), &json!("Own"), &json!(true))
    );
    assert_eq!(
        (
            &imsis[1]["slot"],
            &imsis[1]["sponsor"],
            &imsis[1]["provision"]
        ),
        (&json!(2), &json!("Partner X"), &json!(false)),
        "a translating sponsor's IMSI is not created in the HSS"
    );
    assert!(imsis[1]["imsi"].as_str().unwrap().starts_with("213779"));
    assert!(new.iter().any(|r| r.body["account"] == fresh));
    // The hook without include_secrets gets the same events, minus secrets.
    let plain = crm.wait_for(3, 20);
    assert_eq!(of_type(&plain, "Account/New").len(), 3, "{plain:?}");
    for r in &plain {
        for k in ["pin1", "puk1", "pin2", "puk2", "ki", "opc"] {
            assert!(r.body["variables"].get(k).is_none(), "{k} leaked: {r:?}");
        }
        assert_eq!(r.body["variables"]["imsis"].as_array().unwrap().len(), 2);
    }
    // The API shows them delivered to both, and never shows secrets.
    wait_until(10, "delivered state", || {
        events(&g, "state=delivered").len() == 3
    });
    let listed = events(&g, "state=delivered");
    assert!(listed.iter().all(|e| e["variables"].get("pin1").is_none()));
    assert_eq!(listed[0]["deliveries"].as_array().unwrap().len(), 2);
    assert!(!g.log_text().contains("11111111"), "a PUK reached the log");
}

fn small_bundle(tag: &str) -> String {
    format!("rating = \"{}\"", small_bundle_rating(tag).display())
}

/// The story's subscriber uses 700 kB at home: past the 600 kB threshold.
fn cross_fup(g: &Gyro) {
    let mut p = open_peer(g, "pgw.test.local");
    let base = GyCcr {
        session: "pgw.test.local;fup;1",
        requested: Some(400_000),
        ..GyCcr::BASE
    };
    for (kind, number, used) in [(1, 0, 0), (2, 1, 400_000), (3, 2, 300_000)] {
        let a = ask(
            &mut p,
            &gy_ccr(&GyCcr {
                kind,
                number,
                e2e: 10 + number,
                used,
                ..base
            }),
        );
        let rc = gyro::diameter::Message::new(&a).and_then(|m| m.result_code());
        assert_eq!(rc, Some(2001), "CCR {kind}/{number}");
    }
}

#[test]
fn fair_usage_delivers_one_throttle_naming_both_imsis() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("ev-fup", "s3cret");
    let tail = hook(
        "nsps",
        &r.url(),
        "s3cret",
        "events = [\"Account/FUP/Throttle\"]",
    );
    let g = Gyro::start_with_tail("ev-fup", &small_bundle("ev-fup-rating"), &tail);
    cross_fup(&g);
    let got = r.wait_for(1, 20);
    std::thread::sleep(Duration::from_millis(500));
    let got = if got.len() == 1 { r.received() } else { got };
    assert_eq!(got.len(), 1, "one throttle, nothing else: {got:?}");
    let e = &got[0].body;
    assert_eq!(e["event_type"], "Account/FUP/Throttle");
    assert_eq!(e["account"], account_of(&g, "262019000000001"));
    assert_eq!(e["variables"]["iccid"], STORY_ICCID);
    assert_eq!(e["variables"]["threshold_octets"], 600_000);
    assert_eq!(e["variables"]["used_octets"], 700_000);
    let imsis: Vec<(&str, &str)> = e["variables"]["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["imsi"].as_str().unwrap(), i["sponsor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        imsis,
        vec![("262019000000001", "Own"), ("213779000000001", "Partner X")]
    );
}

#[test]
fn wrong_secret_is_refused_retried_then_dead_lettered_with_the_answer() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("ev-badsig", "the-right-secret");
    let tail = QUICK.to_string() + &hook("nsps", &r.url(), "a-wrong-secret", "");
    let g = Gyro::start_with_tail("ev-badsig", "", &tail);
    wait_until(20, "two dead letters", || {
        events(&g, "state=dead").len() == 2
    });
    assert!(
        r.received().is_empty(),
        "the receiver accepted a bad signature"
    );
    let dead = events(&g, "state=dead");
    let d = &dead[0]["deliveries"][0];
    assert_eq!(d["hook"], "nsps");
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["status"], 500, "{d}");
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("evaluating hook rules"),
        "the receiver's answer is recorded: {d}"
    );
    let text = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", g.metrics_port))
        .unwrap()
        .text()
        .unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("hook=\"nsps\""))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.to_string())
    };
    assert_eq!(
        line("gyro_events_dead_total").as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        line("gyro_events_failed_total").as_deref(),
        Some("6"),
        "{text}"
    );
}

#[test]
fn receiver_down_then_up_gets_every_event_in_order_per_account() {
    let Some(_) = webhook_bin() else { return };
    let mut r = Receiver::start("ev-outage", "s3cret");
    r.stop();
    let tail = "[events]\nbackoff_initial = \"200ms\"\nbackoff_max = \"1s\"\n".to_string()
        + &hook("nsps", &r.url(), "s3cret", "");
    let g = Gyro::start_with_tail("ev-outage", &small_bundle("ev-outage-rating"), &tail);
    // Account 1 gets a second event (its throttle) behind its Account/New;
    // ten more accounts arrive while the receiver is down.
    cross_fup(&g);
    let accounts: Vec<u64> = (0..10)
        .map(|_| onboard(&g, "Balkan Traveller 10-Day Pass"))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let pending = events(&g, "state=pending");
    assert_eq!(pending.len(), 13, "{pending:?}");
    assert!(pending[0]["deliveries"][0]["attempts"].as_u64().unwrap() >= 1);
    r.restart();
    let got = r.wait_for(13, 30);
    let ids: HashSet<&str> = got.iter().map(|x| x.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), 13, "{got:?}");
    for a in accounts {
        assert!(got.iter().any(|x| x.body["account"] == a), "account {a}");
    }
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for x in &got {
        if let Some(a) = x.body["account"].as_u64() {
            seen.entry(a)
                .or_default()
                .push(x.body["event_id"].as_u64().unwrap());
        }
    }
    for (a, ids) in &seen {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "account {a}: {ids:?}");
    }
    let story = account_of(&g, "262019000000001");
    let one: Vec<&str> = got
        .iter()
        .filter(|x| x.body["account"] == story)
        .map(|x| x.body["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(one, vec!["Account/New", "Account/FUP/Throttle"]);
    wait_until(10, "nothing pending", || {
        events(&g, "state=pending").is_empty()
    });
}

#[test]
fn kill_9_mid_delivery_loses_nothing_and_a_duplicate_keeps_its_webhook_id() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("ev-kill", "s3cret");
    let tail = hook("nsps", &r.url(), "s3cret", "concurrency = 1");
    let mut g = Gyro::start_with_tail("ev-kill", "", &tail);
    // Onboardings keep coming while events are delivered one at a time;
    // gyro is killed in the middle of both.
    let api = g.api();
    let onboarding = std::thread::spawn(move || {
        let c = reqwest::blocking::Client::new();
        let mut acked = vec![];
        for _ in 0..400 {
            let r = c
                .post(format!("{api}/api/v1/accounts"))
                .bearer_auth("gyro-dev-token")
                .json(&json!({"product": "Balkan Traveller 10-Day Pass"}))
                .send();
            match r.and_then(|r| r.json::<Value>()) {
                Ok(v) => acked.push(v["account"]["id"].as_u64().unwrap()),
                Err(_) => break,
            }
        }
        acked
    });
    wait_until(30, "some deliveries", || r.received().len() >= 20);
    let _ = g.child.kill();
    let _ = g.child.wait();
    let acked = onboarding.join().unwrap();
    let before = r.received().len();
    let dir = g.dir.clone();
    let g = Gyro::restart_with_tail("ev-kill", &dir, "", &tail);
    let all: Vec<u64> = events(&g, "limit=1000")
        .iter()
        .map(|e| e["event_id"].as_u64().unwrap())
        .collect();
    assert!(before < all.len(), "all {before} delivered before the kill");
    // Duplicates count as lines: wait for every id, not for a line count.
    let ids_of = |got: &[Received]| -> HashSet<u64> {
        got.iter().map(|x| x.webhook_id.parse().unwrap()).collect()
    };
    wait_until(60, "every event", || {
        let ids = ids_of(&r.received());
        all.iter().all(|id| ids.contains(id))
    });
    let got = r.received();
    let ids = ids_of(&got);
    for id in &all {
        assert!(ids.contains(id), "event {id} never arrived");
    }
    // Every onboarding the API acknowledged has its event.
    for a in &acked {
        assert!(got.iter().any(|x| x.body["account"] == *a), "account {a}");
    }
    // A duplicate (an attempt the kill cut short of its record) carries the
    // same Webhook-Id and the same body.
    let mut by_id: BTreeMap<&str, &Value> = BTreeMap::new();
    for x in &got {
        if let Some(prev) = by_id.insert(&x.webhook_id, &x.body) {
            assert_eq!(prev, &x.body, "Webhook-Id {} changed body", x.webhook_id);
        }
    }
    wait_until(10, "nothing pending", || {
        events(&g, "state=pending").is_empty()
    });
}

#[test]
fn a_dead_hook_dead_letters_and_retry_redelivers() {
    let Some(_) = webhook_bin() else { return };
    let mut r = Receiver::start("ev-retry", "s3cret");
    r.stop();
    let tail = QUICK.to_string() + &hook("nsps", &r.url(), "s3cret", "");
    let g = Gyro::start_with_tail("ev-retry", "", &tail);
    wait_until(20, "dead letters", || events(&g, "state=dead").len() == 2);
    let dead = events(&g, "state=dead");
    let err = dead[0]["deliveries"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("transport"), "{err}");
    assert!(dead[0]["deliveries"][0]["status"].is_null());
    r.restart();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        r.received().is_empty(),
        "a dead letter is not retried by itself"
    );
    // One through the API, one through the CLI.
    let first = dead[0]["event_id"].as_u64().unwrap();
    let second = dead[1]["event_id"].as_u64().unwrap();
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/events/{first}/retry", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["events", "retry", &second.to_string(), "--api", &g.api()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = r.wait_for(2, 20);
    let ids: Vec<String> = got.iter().map(|x| x.webhook_id.clone()).collect();
    assert!(
        ids.contains(&first.to_string()) && ids.contains(&second.to_string()),
        "{ids:?}"
    );
    wait_until(10, "delivered", || events(&g, "state=delivered").len() == 2);
    // Retrying what is not dead is a conflict.
    let again = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/events/{first}/retry", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    assert_eq!(again.status(), 409);
    let list = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["events", "list", "--state", "delivered", "--api", &g.api()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("Account/New") && text.contains("nsps:delivered/"),
        "{text}"
    );
}

#[test]
fn a_4xx_answer_dead_letters_at_once() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("ev-404", "s3cret");
    // A hook id the receiver does not have: 404.
    let url = r.url().replace("/hooks/gyro", "/hooks/nosuch");
    let tail = hook("nsps", &url, "s3cret", "");
    let g = Gyro::start_with_tail("ev-404", "", &tail);
    wait_until(20, "dead letters", || events(&g, "state=dead").len() == 2);
    let d = &events(&g, "state=dead")[0]["deliveries"][0];
    assert_eq!(
        (d["attempts"].as_u64(), d["status"].as_u64()),
        (Some(1), Some(404)),
        "{d}"
    );
}

#[test]
fn a_malformed_hook_url_stops_the_start_naming_the_key() {
    let dir = temp_dir("ev-badcfg");
    let cfg = format!(
        "{}\n{}",
        gyro::config::EMBEDDED,
        hook("nsps", "http//missing-colon", "s", "")
    );
    let path = dir.join("gyro.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("events.webhook[0].url"), "{err}");
}

fn api_post(g: &Gyro, path: &str, body: &Value) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .json(body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().unwrap()
}

/// Five new Own+X profiles on new IMSIs of both sponsors.
fn refill_own_x(g: &Gyro) {
    let own: Vec<String> = (1..=5).map(|i| format!("26201910000000{i}")).collect();
    let x: Vec<String> = (1..=5).map(|i| format!("21377910000000{i}")).collect();
    api_post(
        g,
        "/api/v1/batches",
        &json!({"sponsor": "own", "name": "refill-own", "imsis": own}),
    );
    api_post(
        g,
        "/api/v1/batches",
        &json!({"sponsor": "partner-x", "name": "refill-x", "imsis": x}),
    );
    let mut csv =
        String::from("iccid,imsi1,imsi2,ki,opc,pin1,puk1,pin2,puk2,transport_key_label\n");
    for i in 1..=5 {
        let payload = format!("8949102620109{i:07}");
        let iccid = format!("{payload}{}", gyro::model::luhn_digit(&payload));
        csv += &format!(
            "{iccid},{},{},{:032X},{:032X},1234,12345678,4321,87654321,MNO.PROD.SM.TRK.AES\n",
            own[i - 1],
            x[i - 1],
            i,
            i + 10
        );
    }
    let pool = "Own+X for EU Neighbour - Andorra";
    api_post(g, "/api/v1/profiles", &json!({"pool": pool, "csv": csv}));
}

#[test]
fn stock_low_once_per_crossing_and_again_after_a_refill() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("ev-stock", "s3cret");
    let tail = hook("ops", &r.url(), "s3cret", "events = [\"Stock/Low\"]");
    // Own+X holds 1000 profiles: the seed's onboarding takes it to 999.
    let replace = [("stock_alert_below = 100", "stock_alert_below = 1000")];
    let g = Gyro::start_replacing("ev-stock", &replace, &tail);
    let eu = "EU Neighbour - Andorra 30-Day Pass";
    // Events of no account are not ordered among themselves: by id.
    let mut got = r.wait_for(2, 20);
    got.sort_by_key(|x| x.body["event_id"].as_u64());
    let low: Vec<(Value, Value, Value)> = got
        .iter()
        .map(|x| {
            let v = &x.body["variables"];
            let scope = v.get("pool").or(v.get("sponsor")).cloned().unwrap();
            (scope, v["level"].clone(), v["product"].clone())
        })
        .collect();
    assert_eq!(
        low,
        vec![
            (
                json!("Own+X for EU Neighbour - Andorra"),
                json!(999),
                json!(eu)
            ),
            (json!("Partner X"), json!(999), json!(eu)),
        ],
        "{got:?}"
    );
    assert_eq!(got[0].body["variables"]["threshold"], 1000);
    assert!(got[0].body["account"].is_null());
    // Lower still: no new alert for the same crossing.
    onboard(&g, eu);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(r.received().len(), 2);
    // A refill back above the threshold, then a crossing again: alerts again.
    refill_own_x(&g);
    // 998 + 5 = 1003; three onboardings leave 1000, not below.
    for _ in 0..3 {
        onboard(&g, eu);
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(r.received().len(), 2, "1000 is not below 1000");
    onboard(&g, eu);
    let mut got = r.wait_for(4, 20);
    got.sort_by_key(|x| x.body["event_id"].as_u64());
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[2].body["variables"]["level"], 999);
}
