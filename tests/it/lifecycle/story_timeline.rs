//! The story's lifecycle timeline through the API with the test clock, each
//! step seen in stock, audit and at a real webhook receiver.

use std::time::Duration;

use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;
use gyro::diameter::dump::rfc3339;
use gyro::diameter::Message;
use serde_json::{json, Value};

use super::test_clock::*;

const X_IMSI: &str = "213779000000001";
const OLD_ICCID: &str = "894910262010000012345";

/// The story's timeline through the API with the test clock, each step seen
/// in stock, audit and at a real webhook receiver: onboarding, bundle
/// change and eSIM swap, lapse and grace, closure, recycling of the own
/// IMSI, end of life of the Partner X one, and the audit across it all.
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
    let story = Story { g: &g, r: &r, id };
    // Onboarding: the seed's onboarding reached the provisioning system.
    r.wait_for(2, 20);
    assert_eq!(story.events("Account/New").len(), 1);
    bundle_change_on_the_same_esim_then_balkan_needs_another(&story, t0);
    the_operator_flags_recycling_and_end_of_life(&g);
    let swap_at = t0 + 6 * DAY;
    the_esim_swap_aborts_the_old_session_and_disposes_the_profile(&story, swap_at);
    the_balkan_pass_lapses_then_closes(&story, swap_at);
    end_of_life_recycling_and_the_audit(&story, t0, swap_at);
}

/// The node, the receiver and the story's account.
struct Story<'a> {
    g: &'a Gyro,
    r: &'a Receiver,
    id: u64,
}

impl Story<'_> {
    /// Events of type `t` for the story's account the receiver got.
    fn events(&self, t: &str) -> Vec<Value> {
        self.r
            .received()
            .into_iter()
            .filter(|e| e.body["account"] == self.id && e.body["event_type"] == t)
            .map(|e| e.body)
            .collect()
    }
}

fn body(product: &str) -> Value {
    json!({"product": product})
}

/// The 7-Day Pass on the same eSIM; the Balkan pass needs another eSIM.
fn bundle_change_on_the_same_esim_then_balkan_needs_another(story: &Story<'_>, t0: i64) {
    let (g, id) = (story.g, story.id);
    clock_to(g, t0 + 2 * DAY);
    let (s, v) = post(
        g,
        &format!("/api/v1/accounts/{id}/bundle"),
        &body("EU Neighbour - Andorra 7-Day Pass"),
    );
    assert_eq!(s, 200, "{v}");
    clock_to(g, t0 + 5 * DAY);
    let (s, v) = post(
        g,
        &format!("/api/v1/accounts/{id}/bundle"),
        &body("Balkan Traveller 10-Day Pass"),
    );
    assert_eq!((s, &v["esim_swap_required"]), (409, &json!(true)), "{v}");
}

/// Recycling and end of life: the operator's flags before the profile is
/// disposed.
fn the_operator_flags_recycling_and_end_of_life(g: &Gyro) {
    let patch = |path: &str, b: Value| {
        let (s, v) = api_send(g, "PATCH", path, Some(&b));
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
}

/// The eSIM swap at `swap_at`: the old eSIM's session is aborted (its IMSIs
/// no longer resolve), the SIM/Swap event lists each IMSI, the old profile
/// is disposed and the Partner X IMSI goes on hold.
fn the_esim_swap_aborts_the_old_session_and_disposes_the_profile(story: &Story<'_>, swap_at: i64) {
    let (g, r, id) = (story.g, story.r, story.id);
    clock_to(g, swap_at);
    let mut p = open_peer(g, "pgw.test.local");
    let ok = ccr_i(&mut p, "pgw.test.local;story;1", OWN_X, 1);
    assert_eq!(mscc_outcome(&ok).0, Some(2001));
    let (s, v) = post(
        g,
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
    let rows: Vec<(Value, Value, Value)> = story.events("SIM/Swap")[0]["variables"]["imsis"]
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
    let old = api_get(g, &format!("/api/v1/profiles/{OLD_ICCID}"));
    assert_eq!(old["state"]["state"], "disposed");
    assert_eq!(sponsor_imsis(g, "Partner X")["on_hold"], 1);
}

/// The Balkan pass lapses after 10 days; grace ends 60 days later, with
/// the grace events and one closure at the receiver.
fn the_balkan_pass_lapses_then_closes(story: &Story<'_>, swap_at: i64) {
    let (g, id) = (story.g, story.id);
    clock_to(g, swap_at + 10 * DAY + 60);
    assert_eq!(
        api_get(g, &format!("/api/v1/accounts/{id}"))["status"],
        "grace"
    );
    clock_to(g, swap_at + 70 * DAY + 60);
    assert_eq!(
        api_get(g, &format!("/api/v1/accounts/{id}"))["status"],
        "closed"
    );
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while story.events("Account/Closed").is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        story.events("Bundle/Grace").len(),
        3,
        "started and two reminders"
    );
    assert_eq!(story.events("Account/Closed").len(), 1);
}

/// 180 days after the swap the Partner X IMSI reaches end of life; after
/// 365 the own one is available for new profiles. The audit: who had the
/// own IMSI, and on which bundle, at each time.
fn end_of_life_recycling_and_the_audit(story: &Story<'_>, t0: i64, swap_at: i64) {
    let (g, id) = (story.g, story.id);
    clock_to(g, swap_at + 181 * DAY);
    let state = |imsi: &str| api_get(g, &format!("/api/v1/imsis/{imsi}"))["imsi"]["state"].clone();
    assert_eq!(state(X_IMSI), "end_of_life");
    assert_eq!(state(OWN_X), "hold");
    clock_to(g, swap_at + 366 * DAY);
    assert_eq!(state(OWN_X), "available");
    let own = sponsor_imsis(g, "Own");
    assert!(own["available"].as_u64().unwrap() >= 1, "{own}");
    let at = |t: i64| {
        let (s, v) = api_send(
            g,
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
