//! Onboarding under an `Idempotency-Key` over the admin API: a first try
//! that met a failing disk did nothing; then eight clients sending the same
//! key and body at once get one answer, one account and one ICCID; the key
//! with another body is refused; and the answer survives a restart.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};

const PRODUCT: &str = "Balkan Traveller 10-Day Pass";

/// One POST: its status, body and whether it was a replayed answer.
fn post(g: &Gyro, key: &str, body: &Value) -> (u16, Value, bool) {
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .post(format!("{}/api/v1/accounts", g.api()))
        .bearer_auth("gyro-dev-token")
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (status, r.json().unwrap_or(Value::Null), replayed)
}

fn available(g: &Gyro) -> Option<u64> {
    let (status, v) = api_send(g, "GET", "/api/v1/stock?by=product", None);
    if status != 200 {
        return None;
    }
    let line = v.as_array()?.iter().find(|l| l["name"] == PRODUCT)?;
    line["available_profiles"].as_u64()
}

#[test]
fn a_retried_onboarding_makes_one_account_with_one_iccid() {
    let mut g = Gyro::start("idem", "");
    let faults = g.dir.join(STORE_FAULTS);
    let stock = available(&g).unwrap();
    let body = json!({"product": PRODUCT});

    // The first try meets a disk whose flush fails: an error, nothing done.
    std::fs::write(&faults, "flush").unwrap();
    let (status, v, _) = post(&g, "onboard-7f3a", &body);
    assert_eq!(status, 500, "{v}");
    std::fs::write(&faults, "").unwrap();
    // Reads fail too until the store has taken the write back.
    wait_until(10, "the store to take the failed write back", || {
        api_send(&g, "GET", "/api/v1/events", None).0 == 200
    });
    assert_eq!(available(&g), Some(stock), "the failed try took no profile");

    // The client's retries, eight at once.
    let answers: Vec<(u16, Value, bool)> = std::thread::scope(|s| {
        let tries: Vec<_> = (0..8)
            .map(|_| s.spawn(|| post(&g, "onboard-7f3a", &body)))
            .collect();
        tries.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let first = &answers[0].1;
    for (status, v, _) in &answers {
        assert_eq!(*status, 201, "{v}");
        assert_eq!(v, first, "every retry gets the first answer");
    }
    let fresh = answers.iter().filter(|a| !a.2).count();
    assert_eq!(fresh, 1, "one onboarding, seven replayed answers");
    assert_eq!(available(&g), Some(stock - 1), "one profile taken");
    let account = first["account"]["id"].as_u64().unwrap();
    for imsi in first["profile"]["imsis"].as_array().unwrap() {
        let who = api_get(&g, &format!("/api/v1/imsis/{}", imsi.as_str().unwrap()));
        assert_eq!(who["account"]["id"], account, "{who}");
    }

    // The same key with another body is refused, and changes nothing.
    let other = json!({"product": PRODUCT, "msisdn": "491709990001"});
    let (status, v, _) = post(&g, "onboard-7f3a", &other);
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["field"], "Idempotency-Key", "{v}");
    assert_eq!(available(&g), Some(stock - 1));

    // The kept answer is durable: a restarted node still gives it.
    let dir = g.dir.clone();
    g.stop();
    let g = Gyro::restart("idem-again", &dir);
    let (status, v, replayed) = post(&g, "onboard-7f3a", &body);
    assert_eq!((status, &v, replayed), (201, first, true));
    assert_eq!(available(&g), Some(stock - 1));
}

#[test]
fn a_malformed_idempotency_key_is_a_400_naming_the_header() {
    let g = Gyro::start("idem-bad", "");
    let (status, v, _) = post(&g, &"k".repeat(300), &json!({"product": PRODUCT}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["field"], "Idempotency-Key", "{v}");
}
