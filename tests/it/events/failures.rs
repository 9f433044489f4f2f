//! Delivery when things go wrong: a wrong secret, a receiver outage, kill -9
//! mid-delivery, dead letters and their retry, a 4xx refusal, and a
//! malformed hook URL at start-up.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::Duration;

use crate::support::webhook::{webhook_bin, Received, Receiver};
use crate::support::*;
use serde_json::{json, Value};

use super::hooks::*;

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
