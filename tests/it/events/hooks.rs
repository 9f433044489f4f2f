//! What the event tests share: a `[[events.webhook]]` section, onboarding
//! and the event outbox through the API, the received events of one type,
//! and the story's subscriber crossing its fair-usage threshold.

use crate::support::webhook::Received;
use crate::support::*;
use serde_json::{json, Value};

pub(super) const STORY_ICCID: &str = "894910262010000012345";

pub(super) fn hook(name: &str, url: &str, secret: &str, extra: &str) -> String {
    format!(
        "[[events.webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{secret}\"\n{extra}\n"
    )
}

/// Fast retries, so that dead letters happen within a test.
pub(super) const QUICK: &str =
    "[events]\nmax_attempts = 3\nbackoff_initial = \"100ms\"\nbackoff_max = \"400ms\"\n";

pub(super) fn onboard(g: &Gyro, product: &str) -> u64 {
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

pub(super) fn events(g: &Gyro, query: &str) -> Vec<Value> {
    api_get(g, &format!("/api/v1/events?{query}"))["events"]
        .as_array()
        .unwrap()
        .clone()
}

pub(super) fn account_of(g: &Gyro, imsi: &str) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

pub(super) fn of_type<'a>(got: &'a [Received], t: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.body["event_type"] == t).collect()
}

pub(super) fn small_bundle(tag: &str) -> String {
    format!("rating = \"{}\"", small_bundle_rating(tag).display())
}

/// The story's subscriber uses 700 kB at home: past the 600 kB threshold.
pub(super) fn cross_fup(g: &Gyro) {
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
