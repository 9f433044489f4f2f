//! Provisioning events delivered to a real receiver: Debian's `webhook`
//! daemon, which verifies `X-Gyro-Signature-256` with its
//! `payload-hmac-sha256` rule and appends each accepted body to a file.
//! Onboarding, fair usage, and stock alerts once per crossing.

use std::time::Duration;

use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;
use serde_json::{json, Value};

use super::hooks::*;

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
