//! The subscriber lifecycle over real sockets with the test clock: a lapse
//! into grace (4012 with the top-up redirect, reminders), closure at the
//! end of grace (ASR, Account/Closed, IMSIs on hold per MCC), and renewal
//! (usage from zero, FUP restored, RAR).

use std::time::Duration;

use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;
use gyro::diameter::Message;
use serde_json::{json, Value};

use super::test_clock::*;

#[test]
fn a_lapsed_bundle_gets_grace_with_the_top_up_redirect_then_closes() {
    let Some(peers) = peers_dir() else { return };
    let g = node_whose_sessions_outlive_the_story();
    let a = account_of(&g, OWN_X);
    let id = a["id"].as_u64().unwrap();
    let start = a["created_at"].as_i64().unwrap();
    let mut cap = Capture::start(&peers, &g.dir, &[g.port]);
    let mut p = open_peer(&g, "pgw.test.local");
    let ok = ccr_i(&mut p, "pgw.test.local;lc;1", OWN_X, 1);
    assert_eq!(mscc_outcome(&ok).0, Some(2001));
    the_lapse_starts_grace_and_redirects_to_the_top_up(&g, &mut p, id, start);
    reminders_then_the_closure_puts_the_imsis_on_hold(&g, id, start);
    the_closure_aborts_open_sessions_and_refuses_new_ones(&mut p);
    let (ok, text) = cap.dissect(&peers);
    assert!(ok, "{text}");
}

/// A node on the test clock whose grants are valid for 100 days.
fn node_whose_sessions_outlive_the_story() -> Gyro {
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
    Gyro::start_replacing(
        "lc-grace",
        &[TEST_CLOCK, ("xdr_dir = \"xdr\"", &xdr_and_rating)],
        "",
    )
}

/// On day 30 the bundle lapses; 60 days of grace start, the open session's
/// gateway is asked to re-authorise (RAR), and a new session is sent to the
/// top-up.
fn the_lapse_starts_grace_and_redirects_to_the_top_up(
    g: &Gyro,
    p: &mut RawPeer,
    id: u64,
    start: i64,
) {
    assert!(clock_to(g, start + 30 * DAY + 3600) >= 1);
    answer_next(p, 258, "pgw.test.local");
    let acct = api_get(g, &format!("/api/v1/accounts/{id}"));
    assert_eq!(acct["status"], "grace", "{acct}");
    assert_eq!(acct["until"], start + 90 * DAY);
    let refused = ccr_i(p, "pgw.test.local;lc;2", OWN_X, 2);
    assert_eq!(
        mscc_outcome(&refused),
        (
            Some(4012),
            Some(1),
            Some("https://topup.operator.example/".to_string())
        ),
        "a lapsed bundle is sent to the top-up (FUI REDIRECT)"
    );
    let grace = events_for(g, "Bundle/Grace", id);
    assert_eq!(grace.len(), 1);
    assert_eq!(grace[0]["variables"]["stage"], "started");
    assert_eq!(grace[0]["variables"]["days_left"], 60);
}

/// The reminders (7 days and 1 day before the end), then closure: the
/// profile disposed, its IMSIs on hold per MCC, the HSS told.
fn reminders_then_the_closure_puts_the_imsis_on_hold(g: &Gyro, id: u64, start: i64) {
    clock_to(g, start + 89 * DAY + 3600);
    let stages: Vec<Value> = events_for(g, "Bundle/Grace", id)
        .iter()
        .map(|e| e["variables"]["stage"].clone())
        .collect();
    assert_eq!(
        stages,
        vec![json!("started"), json!("reminder"), json!("reminder")]
    );
    assert!(events_for(g, "Account/Closed", id).is_empty());
    let on_hold = |sponsor: &str| {
        let lines = api_get(g, "/api/v1/stock?by=sponsor");
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
    assert_eq!(clock_to(g, start + 90 * DAY + 60), 1);
    assert_eq!(on_hold("Partner X"), 1, "the closure shows in stock");
    let closed = api_get(g, &format!("/api/v1/accounts/{id}"));
    assert_eq!(closed["status"], "closed");
    let profile = api_get(g, "/api/v1/profiles/894910262010000012345");
    assert_eq!(profile["state"]["state"], "disposed", "{profile}");
    // Holds per MCC, from the closure.
    let until = |imsi: &str| api_get(g, &format!("/api/v1/imsis/{imsi}"))["imsi"]["until"].clone();
    assert_eq!(until(OWN_X), json!(start + 90 * DAY + 365 * DAY));
    assert_eq!(
        until("213779000000001"),
        json!(start + 90 * DAY + 180 * DAY)
    );
    let ev = &events_for(g, "Account/Closed", id)[0]["variables"];
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
}

/// Each open session's gateway gets an ASR (the 4012 left the second open:
/// its CCR-I succeeded at command level); new requests are refused.
fn the_closure_aborts_open_sessions_and_refuses_new_ones(p: &mut RawPeer) {
    let mut aborted = vec![];
    for _ in 0..2 {
        let asr = answer_next(p, 274, "pgw.test.local");
        let m = Message::new(&asr).unwrap();
        aborted.push(m.find(263, 0).unwrap().utf8().unwrap().to_string());
    }
    aborted.sort();
    assert_eq!(aborted, vec!["pgw.test.local;lc;1", "pgw.test.local;lc;2"]);
    let refused = ccr_i(p, "pgw.test.local;lc;3", OWN_X, 3);
    let m = Message::new(&refused).unwrap();
    assert_eq!(
        (m.header.command, m.result_code()),
        (272, Some(5030)),
        "{}",
        gyro::diameter::dump::to_human(&gyro::diameter::Dictionary::builtin(), &m)
    );
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
