//! The test clock's rules and the lifecycle's transitions across restarts:
//! no clock without `test_clock`, never backwards, a restart between two due
//! dates runs each once, and kill -9 in the middle of a run of transitions
//! leaves every record consistent.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use gyro::diameter::dump::rfc3339;
use serde_json::{json, Value};

use super::test_clock::*;

#[test]
fn the_clock_refuses_without_test_clock_and_never_goes_back() {
    let g = Gyro::start("lc-noclock", "");
    let (s, v) = post(&g, "/api/v1/clock", &json!({"now": "2099-01-01T00:00:00Z"}));
    assert_eq!(s, 403, "{v}");
    drop(g);
    let g = Gyro::start_replacing("lc-back", &[TEST_CLOCK], "");
    let (s, v) = post(&g, "/api/v1/clock", &json!({"now": "2001-01-01T00:00:00Z"}));
    assert_eq!(s, 409, "{v}");
    let (s, v) = post(&g, "/api/v1/clock", &json!({"now": "next tuesday"}));
    assert_eq!((s, v["field"].as_str()), (400, Some("now")), "{v}");
}

#[test]
fn a_restart_between_two_due_dates_resumes_the_clock_and_runs_each_once() {
    let g = Gyro::start_replacing("lc-restart", &[TEST_CLOCK], "");
    let start = account_of(&g, OWN_X)["created_at"].as_i64().unwrap();
    clock_to(&g, start + 31 * DAY);
    let mut g = g;
    g.stop();
    let dir = g.dir.clone();
    let g = Gyro::restart_replacing("lc-restart", &dir, &[TEST_CLOCK], "");
    let now: Value = api_get(&g, "/api/v1/clock");
    assert_eq!(now["test_clock"], true);
    let t = now["now"].as_str().unwrap().to_string();
    assert!(t >= rfc3339(start + 31 * DAY), "the clock went back to {t}");
    // Down past the end of grace: the overdue closure runs once.
    let mut g = g;
    g.stop();
    let g = Gyro::restart_replacing("lc-restart", &dir, &[TEST_CLOCK], "");
    clock_to(&g, start + 200 * DAY);
    assert_eq!(
        account_of(&g, OWN_X)["status"],
        Value::Null,
        "the IMSI is on hold now"
    );
    let closed = events_of(&g, "Account/Closed");
    let story: Vec<&Value> = closed
        .iter()
        .filter(|e| e["variables"]["iccid"] == "894910262010000012345")
        .collect();
    assert_eq!(story.len(), 1, "{closed:?}");
    assert_eq!(
        events_of(&g, "Bundle/Grace").len(),
        2 * 3,
        "two seed accounts, three each"
    );
    assert_eq!(clock_to(&g, start + 201 * DAY), 0, "nothing runs twice");
}

#[test]
fn kill_9_in_a_run_of_transitions_leaves_every_record_consistent() {
    let g = Gyro::start_replacing("lc-kill", &[TEST_CLOCK], "");
    let c = client();
    let mut ids = vec![];
    for _ in 0..150 {
        let r: Value = c
            .post(format!("{}/api/v1/accounts", g.api()))
            .bearer_auth("gyro-dev-token")
            .json(&json!({"product": "Balkan Traveller 10-Day Pass"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        ids.push(r["account"]["id"].as_u64().unwrap());
    }
    let start = account_of(&g, OWN_X)["created_at"].as_i64().unwrap();
    // 152 accounts lapse, are reminded twice and close: ~600 transitions,
    // cut by kill -9 soon after the first lapses.
    let api = g.api();
    let jump = std::thread::spawn(move || {
        let _ = client()
            .post(format!("{api}/api/v1/clock"))
            .bearer_auth("gyro-dev-token")
            .json(&json!({"now": rfc3339(start + 75 * DAY)}))
            .send();
    });
    let mut g = g;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while events_of(&g, "Bundle/Grace").len() < 20 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = g.child.kill();
    let _ = g.child.wait();
    let _ = jump.join();
    let dir = g.dir.clone();
    let g = Gyro::restart_replacing("lc-kill", &dir, &[TEST_CLOCK], "");
    let partial = events_of(&g, "Account/Closed").len();
    assert!(
        partial < ids.len(),
        "the run was over before the kill ({partial})"
    );
    clock_to(&g, start + 75 * DAY + 1);
    let closed = events_of(&g, "Account/Closed");
    let mut per_account: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &closed {
        *per_account
            .entry(e["account"].as_u64().unwrap())
            .or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            per_account.get(id),
            Some(&1),
            "account {id}: {per_account:?}"
        );
        let a = api_get(&g, &format!("/api/v1/accounts/{id}"));
        assert_eq!(a["status"], "closed", "{a}");
        let p = api_get(
            &g,
            &format!("/api/v1/profiles/{}", a["profile"].as_str().unwrap()),
        );
        assert_eq!(p["state"]["state"], "disposed", "{p}");
        for imsi in p["imsis"].as_array().unwrap() {
            let i = api_get(&g, &format!("/api/v1/imsis/{}", imsi.as_str().unwrap()));
            assert_eq!(i["imsi"]["state"], "hold", "{i}");
        }
    }
    for id in &ids {
        let stages = events_for(&g, "Bundle/Grace", *id).len();
        assert_eq!(stages, 3, "account {id}: each lapse and reminder once");
    }
}
