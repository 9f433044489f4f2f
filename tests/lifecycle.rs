//! The subscriber lifecycle over real sockets with the test clock: a lapse
//! into grace (4012 with the top-up redirect, reminders), closure at the
//! end of grace (#1.8, #1.9: ASR, Account/Closed, IMSIs on hold per MCC),
//! renewal (usage from zero, FUP restored, RAR), a restart between two due
//! dates, and kill -9 in the middle of a run of transitions.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::webhook::{webhook_bin, Receiver};
use common::*;
use gyro::diameter::dump::rfc3339;
use gyro::diameter::Message;
use serde_json::{json, Value};

const DAY: i64 = 86_400;
const TEST_CLOCK: (&str, &str) = ("test_clock = false", "test_clock = true");
const OWN_X: &str = "262019000000001";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn post(g: &Gyro, path: &str, body: &Value) -> (u16, Value) {
    api_send(g, "POST", path, Some(body))
}

/// Moves the test clock to `t` (Unix seconds); how many transitions ran.
fn clock_to(g: &Gyro, t: i64) -> u64 {
    let (s, v) = post(g, "/api/v1/clock", &json!({"now": rfc3339(t)}));
    assert_eq!(s, 200, "{v}");
    v["transitions"].as_u64().unwrap()
}

fn account_of(g: &Gyro, imsi: &str) -> Value {
    api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"].clone()
}

/// Events of type `t` for `account`, oldest first.
fn events_for(g: &Gyro, t: &str, account: u64) -> Vec<Value> {
    events_of(g, t)
        .into_iter()
        .filter(|e| e["account"] == account)
        .collect()
}

fn events_of(g: &Gyro, t: &str) -> Vec<Value> {
    api_get(g, "/api/v1/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == t)
        .cloned()
        .collect()
}

fn ccr_i(p: &mut RawPeer, session: &str, imsi: &str, e2e: u32) -> Vec<u8> {
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
fn mscc_outcome(answer: &[u8]) -> (Option<u32>, Option<i32>, Option<String>) {
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

#[test]
fn a_lapsed_bundle_gets_grace_with_the_top_up_redirect_then_closes() {
    let Some(peers) = peers_dir() else { return };
    // The gateway stays silent while the clock jumps 90 days, yet its
    // sessions must still be open for the lapse's RAR and the closure's
    // ASR: with the embedded Tcc (2 × 10 min) the once-a-second sweep ends
    // them after the first jump, before or after those requests look for
    // them depending on scheduling. A Tcc longer than the story keeps them.
    let rating = temp_dir("lc-grace-rating").join("rating.toml");
    let long_tcc =
        gyro::rating::EMBEDDED.replace("validity_time = \"10m\"", "validity_time = \"100d\"");
    assert_ne!(
        long_tcc,
        gyro::rating::EMBEDDED,
        "the embedded rating lost its validity_time"
    );
    std::fs::write(&rating, long_tcc).unwrap();
    let xdr_and_rating = format!("xdr_dir = \"xdr\"\nrating = \"{}\"", rating.display());
    let g = Gyro::start_replacing(
        "lc-grace",
        &[TEST_CLOCK, ("xdr_dir = \"xdr\"", &xdr_and_rating)],
        "",
    );
    let a = account_of(&g, OWN_X);
    let id = a["id"].as_u64().unwrap();
    let start = a["created_at"].as_i64().unwrap();
    let mut cap = Capture::start(&peers, &g.dir, &[g.port]);
    let mut p = open_peer(&g, "pgw.test.local");
    let ok = ccr_i(&mut p, "pgw.test.local;lc;1", OWN_X, 1);
    assert_eq!(mscc_outcome(&ok).0, Some(2001));
    // #1.8: on day 30 the bundle lapses; 60 days of grace start, and the
    // open session's gateway is asked to re-authorise (RAR).
    assert!(clock_to(&g, start + 30 * DAY + 3600) >= 1);
    answer_next(&mut p, 258, "pgw.test.local");
    let acct = api_get(&g, &format!("/api/v1/accounts/{id}"));
    assert_eq!(acct["status"], "grace", "{acct}");
    assert_eq!(acct["until"], start + 90 * DAY);
    let refused = ccr_i(&mut p, "pgw.test.local;lc;2", OWN_X, 2);
    assert_eq!(
        mscc_outcome(&refused),
        (
            Some(4012),
            Some(1),
            Some("https://topup.operator.example/".to_string())
        ),
        "a lapsed bundle is sent to the top-up (FUI REDIRECT)"
    );
    let grace = events_for(&g, "Bundle/Grace", id);
    assert_eq!(grace.len(), 1);
    assert_eq!(grace[0]["variables"]["stage"], "started");
    assert_eq!(grace[0]["variables"]["days_left"], 60);
    // The reminders (7 days and 1 day before the end), then closure.
    clock_to(&g, start + 89 * DAY + 3600);
    let stages: Vec<Value> = events_for(&g, "Bundle/Grace", id)
        .iter()
        .map(|e| e["variables"]["stage"].clone())
        .collect();
    assert_eq!(
        stages,
        vec![json!("started"), json!("reminder"), json!("reminder")]
    );
    assert!(events_for(&g, "Account/Closed", id).is_empty());
    let on_hold = |sponsor: &str| {
        let lines = api_get(&g, "/api/v1/stock?by=sponsor");
        let line = lines
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == sponsor)
            .cloned()
            .unwrap();
        line["imsis"]["on_hold"].as_u64().unwrap()
    };
    assert_eq!(on_hold("Partner X"), 0);
    assert_eq!(clock_to(&g, start + 90 * DAY + 60), 1);
    assert_eq!(on_hold("Partner X"), 1, "the closure shows in stock");
    let closed = api_get(&g, &format!("/api/v1/accounts/{id}"));
    assert_eq!(closed["status"], "closed");
    let profile = api_get(&g, "/api/v1/profiles/894910262010000012345");
    assert_eq!(profile["state"]["state"], "disposed", "{profile}");
    // #1.10: holds per MCC, from the closure.
    let until = |imsi: &str| api_get(&g, &format!("/api/v1/imsis/{imsi}"))["imsi"]["until"].clone();
    assert_eq!(until(OWN_X), json!(start + 90 * DAY + 365 * DAY));
    assert_eq!(
        until("213779000000001"),
        json!(start + 90 * DAY + 180 * DAY)
    );
    let ev = &events_for(&g, "Account/Closed", id)[0]["variables"];
    let rows: Vec<(Value, Value)> = ev["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["imsi"].clone(), r["remove"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!(OWN_X), json!(true)),
            (json!("213779000000001"), json!(false))
        ],
        "the HSS removes the own IMSI only (Partner X translates)"
    );
    // Each open session's gateway gets an ASR (the 4012 left the second
    // open: its CCR-I succeeded at command level); new requests are refused.
    let mut aborted = vec![];
    for _ in 0..2 {
        let asr = answer_next(&mut p, 274, "pgw.test.local");
        let m = Message::new(&asr).unwrap();
        aborted.push(m.find(263, 0).unwrap().utf8().unwrap().to_string());
    }
    aborted.sort();
    assert_eq!(aborted, vec!["pgw.test.local;lc;1", "pgw.test.local;lc;2"]);
    let refused = ccr_i(&mut p, "pgw.test.local;lc;3", OWN_X, 3);
    let m = Message::new(&refused).unwrap();
    assert_eq!(
        (m.header.command, m.result_code()),
        (272, Some(5030)),
        "{}",
        gyro::diameter::dump::to_human(&gyro::diameter::Dictionary::builtin(), &m)
    );
    let (ok, text) = cap.dissect(&peers);
    assert!(ok, "{text}");
}

#[test]
fn renewal_starts_from_zero_restores_fup_and_reauthorises() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("lc-renew", "s3cret");
    let tail = format!(
        "[[events.webhook]]\nname = \"nsps\"\nurl = \"{}\"\nsecret = \"s3cret\"\nevents = [\"Account/FUP/Throttle\", \"Account/FUP/Restore\", \"Bundle/Renewed\"]\n",
        r.url()
    );
    let rating = format!(
        "xdr_dir = \"xdr\"\nrating = \"{}\"",
        small_bundle_rating("lc-renew-rating").display()
    );
    let g = Gyro::start_replacing(
        "lc-renew",
        &[TEST_CLOCK, ("xdr_dir = \"xdr\"", &rating)],
        &tail,
    );
    let id = account_of(&g, OWN_X)["id"].as_u64().unwrap();
    let mut p = open_peer(&g, "pgw.test.local");
    let base = GyCcr {
        session: "pgw.test.local;renew;1",
        requested: Some(400_000),
        ..GyCcr::BASE
    };
    for (kind, number, used) in [(1, 0, 0), (2, 1, 400_000), (2, 2, 300_000)] {
        let c = GyCcr {
            kind,
            number,
            e2e: 10 + number,
            used,
            ..base
        };
        assert_eq!(
            Message::new(&ask(&mut p, &gy_ccr(&c))).and_then(|m| m.result_code()),
            Some(2001)
        );
    }
    let used = || api_get(&g, &format!("/api/v1/accounts/{id}/balance"));
    assert_eq!(used()["data"]["used_octets"], 700_000, "{}", used());
    // The throttle reaches the store within its 100 ms apply.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while events_of(&g, "Account/FUP/Throttle").is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (s, renewed) = post(&g, &format!("/api/v1/accounts/{id}/renew"), &json!({}));
    assert_eq!(s, 200, "{renewed}");
    assert_eq!(renewed["renewals"], 1);
    // The open session hears of it (RAR), and the usage starts again.
    answer_next(&mut p, 258, "pgw.test.local");
    let b = used();
    assert_eq!(b["data"]["used_octets"], 0, "{b}");
    assert_eq!(b["data"]["fup_crossed"], false, "{b}");
    assert!(
        b["data"]["reserved_octets"].as_u64().unwrap() > 0,
        "reservations carry over: {b}"
    );
    let got = r.wait_for(3, 20);
    let types: Vec<&str> = got
        .iter()
        .map(|x| x.body["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "Account/FUP/Throttle",
            "Bundle/Renewed",
            "Account/FUP/Restore"
        ]
    );
    let restore: Vec<&str> = got[2].body["variables"]["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imsi"].as_str().unwrap())
        .collect();
    assert_eq!(restore, vec![OWN_X, "213779000000001"]);
    // A closed account cannot renew.
    let (s, _) = post(&g, &format!("/api/v1/accounts/{id}/close"), &json!({}));
    assert_eq!(s, 200);
    let (s, v) = post(&g, &format!("/api/v1/accounts/{id}/renew"), &json!({}));
    assert_eq!(s, 409, "{v}");
}

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

fn sponsor_imsis(g: &Gyro, sponsor: &str) -> Value {
    let lines = api_get(g, "/api/v1/stock?by=sponsor");
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == sponsor)
        .map(|l| l["imsis"].clone())
        .unwrap()
}

/// The story's timeline through the API with the test clock, each step seen
/// in stock, audit and at a real webhook receiver: #1.2 onboarding, #1.7
/// bundle change and eSIM swap, #1.8 lapse and grace, #1.9 closure, #1.10
/// recycling of the own IMSI, #1.11 end of life of the Partner X one, #1.12
/// audit across it all.
#[test]
fn the_story_lifecycle_timeline() {
    let Some(_) = webhook_bin() else { return };
    let r = Receiver::start("lc-story", "s3cret");
    let tail = format!(
        "[[events.webhook]]\nname = \"nsps\"\nurl = \"{}\"\nsecret = \"s3cret\"\nevents = [\"Account/New\", \"SIM/Swap\", \"Bundle/Grace\", \"Account/Closed\"]\n",
        r.url()
    );
    let g = Gyro::start_replacing("lc-story", &[TEST_CLOCK], &tail);
    let a = account_of(&g, OWN_X);
    let id = a["id"].as_u64().unwrap();
    let t0 = a["created_at"].as_i64().unwrap();
    let (x, old_iccid) = ("213779000000001", "894910262010000012345");
    let story = |t: &str| -> Vec<Value> {
        r.received()
            .into_iter()
            .filter(|e| e.body["account"] == id && e.body["event_type"] == t)
            .map(|e| e.body)
            .collect()
    };
    // #1.2: the seed's onboarding reached the provisioning system.
    r.wait_for(2, 20);
    assert_eq!(story("Account/New").len(), 1);
    // #1.7: the 7-Day Pass on the same eSIM; Balkan needs another eSIM.
    clock_to(&g, t0 + 2 * DAY);
    let body = |p: &str| json!({"product": p});
    let (s, v) = post(
        &g,
        &format!("/api/v1/accounts/{id}/bundle"),
        &body("EU Neighbour - Andorra 7-Day Pass"),
    );
    assert_eq!(s, 200, "{v}");
    clock_to(&g, t0 + 5 * DAY);
    let (s, v) = post(
        &g,
        &format!("/api/v1/accounts/{id}/bundle"),
        &body("Balkan Traveller 10-Day Pass"),
    );
    assert_eq!((s, &v["esim_swap_required"]), (409, &json!(true)), "{v}");
    // #1.10/#1.11: the operator's flags before the profile is disposed.
    let patch = |path: &str, b: Value| {
        let (s, v) = api_send(&g, "PATCH", path, Some(&b));
        assert_eq!(s, 200, "{path}: {v}");
    };
    patch(
        "/api/v1/pools/Own%2BX%20for%20EU%20Neighbour%20-%20Andorra",
        json!({"recycle": true}),
    );
    patch(
        "/api/v1/batches/1000-Own-2025-12-23",
        json!({"recycling": true}),
    );
    patch(
        "/api/v1/batches/1000-X-2025-12-23",
        json!({"recycling": false, "end_of_life": true}),
    );
    let swap_at = t0 + 6 * DAY;
    clock_to(&g, swap_at);
    let mut p = open_peer(&g, "pgw.test.local");
    let ok = ccr_i(&mut p, "pgw.test.local;story;1", OWN_X, 1);
    assert_eq!(mscc_outcome(&ok).0, Some(2001));
    let (s, v) = post(
        &g,
        &format!("/api/v1/accounts/{id}/esim-swap"),
        &body("Balkan Traveller 10-Day Pass"),
    );
    assert_eq!(s, 200, "{v}");
    // The old eSIM's session is aborted: its IMSIs no longer resolve.
    let asr = answer_next(&mut p, 274, "pgw.test.local");
    let m = Message::new(&asr).unwrap();
    assert_eq!(m.session_id(), Some("pgw.test.local;story;1"));
    let swap = r.wait_for(3, 20);
    assert!(
        swap.iter().any(|e| e.body["event_type"] == "SIM/Swap"),
        "{swap:?}"
    );
    let rows: Vec<(Value, Value, Value)> = story("SIM/Swap")[0]["variables"]["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].clone(),
                r["sponsor"].clone(),
                r["provision"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!("remove"), json!("Own"), json!(true)),
            (json!("remove"), json!("Partner X"), json!(false)),
            (json!("create"), json!("Own"), json!(true)),
            (json!("create"), json!("Partner Y"), json!(true)),
        ]
    );
    let old = api_get(&g, &format!("/api/v1/profiles/{old_iccid}"));
    assert_eq!(old["state"]["state"], "disposed");
    assert_eq!(sponsor_imsis(&g, "Partner X")["on_hold"], 1);
    // #1.8: the Balkan pass lapses after 10 days; #1.9: grace ends 60 days later.
    clock_to(&g, swap_at + 10 * DAY + 60);
    assert_eq!(
        api_get(&g, &format!("/api/v1/accounts/{id}"))["status"],
        "grace"
    );
    clock_to(&g, swap_at + 70 * DAY + 60);
    assert_eq!(
        api_get(&g, &format!("/api/v1/accounts/{id}"))["status"],
        "closed"
    );
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while story("Account/Closed").is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(story("Bundle/Grace").len(), 3, "started and two reminders");
    assert_eq!(story("Account/Closed").len(), 1);
    // #1.11: 180 days after the swap the Partner X IMSI reaches end of life;
    // #1.10: after 365 the own one is available for new profiles.
    clock_to(&g, swap_at + 181 * DAY);
    let state = |imsi: &str| api_get(&g, &format!("/api/v1/imsis/{imsi}"))["imsi"]["state"].clone();
    assert_eq!(state(x), "end_of_life");
    assert_eq!(state(OWN_X), "hold");
    clock_to(&g, swap_at + 366 * DAY);
    assert_eq!(state(OWN_X), "available");
    let own = sponsor_imsis(&g, "Own");
    assert!(own["available"].as_u64().unwrap() >= 1, "{own}");
    // #1.12: who had the own IMSI, and on which bundle, at each time.
    let at = |t: i64| {
        let (s, v) = api_send(
            &g,
            "GET",
            &format!("/api/v1/audit/imsi/{OWN_X}?at={}", rfc3339(t)),
            None,
        );
        (s, v["account"].clone(), v["product"].clone())
    };
    assert_eq!(
        at(t0 + DAY),
        (200, json!(id), json!("EU Neighbour - Andorra 30-Day Pass"))
    );
    assert_eq!(
        at(t0 + 3 * DAY),
        (200, json!(id), json!("EU Neighbour - Andorra 7-Day Pass"))
    );
    assert_eq!(at(swap_at + 400 * DAY).0, 404, "nobody holds it now");
}
