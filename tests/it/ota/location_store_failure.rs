//! Location webhooks over a store that fails (a full or broken disk,
//! injected), through the real API router on a socket, with 16 clients
//! posting at once: while the store fails every webhook gets 500 and
//! nothing is taken in (no pending record, no event id remembered, so the
//! MVNE's retry is not called a duplicate); once it heals, the same events
//! are taken in, each exactly once, and a second retry is a duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::failing_store::FailingStore;
use crate::support::{api_state, serve_api};
use gyro::api::ApiState;
use gyro::ota::intake::Intake;
use gyro::ota::OtaSettings;
use serde_json::{json, Value};

const TOKEN: &str = "gyro-dev-token";
const CLIENTS: u64 = 16;
const PER_CLIENT: u64 = 25;

struct Api {
    url: String,
    intake: Arc<Intake>,
    _rt: tokio::runtime::Runtime,
}

fn start(failing: Arc<AtomicBool>) -> Api {
    let inventory = FailingStore::seeded(failing);
    let intake = Arc::new(Intake::new(inventory.clone(), &OtaSettings::default()).unwrap());
    let state = ApiState {
        location: Some(intake.clone()),
        ..api_state(inventory, TOKEN)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("http://{}/api/v1/events/location", serve_api(&rt, state));
    Api {
        url,
        intake,
        _rt: rt,
    }
}

/// Event `k` of client `c`: the clients' 400 events spread over 40 of
/// the seed's profiles (IMSIs 262019000000001…), so that several events
/// coalesce per profile within one burst.
fn body(c: u64, k: u64) -> Value {
    let n = c * PER_CLIENT + k;
    json!({
        "event_id": format!("sf-{c}-{k}"),
        "imsi": (262019000000001u64 + n % 40).to_string(),
        "mcc": "276",
        "mnc": "02",
        "observed_at": gyro::diameter::dump::rfc3339(1_760_000_000 + n as i64),
    })
}

/// Every client posts all its events at once; the status of each, by id.
fn burst(url: &str) -> HashMap<String, (u16, Value)> {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = url.to_string();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                (0..PER_CLIENT)
                    .map(|k| {
                        let b = body(c, k);
                        let r = http.post(&url).bearer_auth(TOKEN).json(&b).send().unwrap();
                        let s = r.status().as_u16();
                        (
                            b["event_id"].as_str().unwrap().to_string(),
                            (s, r.json().unwrap()),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn a_failing_store_takes_no_webhook_in_and_the_retries_land_once() {
    let failing = Arc::new(AtomicBool::new(false));
    let api = start(failing.clone());
    failing.store(true, Ordering::SeqCst);
    let total = (CLIENTS * PER_CLIENT) as usize;

    let refused = burst(&api.url);
    assert_eq!(refused.len(), total);
    for (id, (s, v)) in &refused {
        assert_eq!(*s, 500, "{id}: {v}");
    }
    let q = api.intake.queue();
    assert!(q.pending().unwrap().is_empty(), "nothing queued");
    assert_eq!(q.seen_hint("sf-0-0").unwrap(), None, "no id remembered");

    failing.store(false, Ordering::SeqCst);
    let taken = burst(&api.url);
    let mut fresh = 0;
    for (id, (s, v)) in &taken {
        assert_eq!(*s, 202, "{id}: {v}");
        if v["queued"] == true && v["coalesced"] == false {
            fresh += 1;
        }
    }
    // One new pending record per profile, whatever the interleaving: two
    // events for one profile never both found none.
    assert_eq!(fresh, 40);
    let pending = q.pending().unwrap();
    assert_eq!(pending.len(), 40);
    // Each record holds the latest-observed event of its profile.
    for p in &pending {
        let n_last = (0..CLIENTS * PER_CLIENT)
            .filter(|n| (262019000000001u64 + n % 40).to_string() == p.event.imsi.clone().unwrap())
            .max()
            .unwrap();
        let id = format!("sf-{}-{}", n_last / PER_CLIENT, n_last % PER_CLIENT);
        assert_eq!(p.event.event_id, id);
        assert_eq!(p.coalesced as u64, CLIENTS * PER_CLIENT / 40 - 1);
    }

    let again = burst(&api.url);
    for (id, (s, v)) in &again {
        assert_eq!((*s, &v["duplicate"]), (200, &json!(true)), "{id}: {v}");
    }
    assert_eq!(q.pending().unwrap().len(), 40, "duplicates change nothing");
}
