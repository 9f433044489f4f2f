//! OTA swaps under parallel webhooks, over real sockets: many location
//! events for one profile make one swap, even when some are decided while
//! that swap is still out at the vendor; and profiles that all want the
//! same small dynamic pool never share an IMSI: the pool serves as many as
//! it holds, the others keep their IMSIs, and no event is lost.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::time::Duration;

use crate::support::ota::*;
use crate::support::ota_vendor::{Mode, OtaDouble};
use crate::support::*;
use serde_json::{json, Value};

/// Posts every body at once, each from its own thread, twice (the second
/// as an MVNE's retry): each event is taken in once and its retry is a
/// duplicate.
fn post_at_once(g: &Gyro, bodies: &[Value]) {
    let start = Barrier::new(bodies.len());
    std::thread::scope(|s| {
        for b in bodies {
            let start = &start;
            s.spawn(move || {
                start.wait();
                let (first, v) = api_send(g, "POST", "/api/v1/events/location", Some(b));
                assert_eq!(first, 202, "{b}: {v}");
                let (retry, v) = api_send(g, "POST", "/api/v1/events/location", Some(b));
                assert_eq!((retry, &v["duplicate"]), (200, &json!(true)), "{b}: {v}");
            });
        }
    });
}

fn event(id: String, who: (&str, &str), mcc: &str, mnc: &str) -> Value {
    json!({"event_id": id, who.0: who.1, "mcc": mcc, "mnc": mnc,
           "observed_at": "2026-12-01T10:00:00Z"})
}

fn pending(g: &Gyro) -> u64 {
    api_get(g, "/api/v1/events/location/pending")["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn parallel_webhooks_for_one_profile_make_one_swap() {
    let double = OtaDouble::start();
    // A slow vendor keeps the swap in flight while the second wave is
    // decided.
    double.set_mode(Mode::Slow(Duration::from_secs(3)));
    let tail = ota_tail(&double).replace("timeout = \"1s\"", "timeout = \"5s\"");
    let g = Gyro::start_with_tail("ota-par-one", "", &tail);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let w_before = dynamic(&g, "Partner W");

    let wave: Vec<Value> = (0..16)
        .map(|i| event(format!("one-a-{i}"), ("imsi", Y_IMSI), "276", "03"))
        .collect();
    post_at_once(&g, &wave);
    wait_for("the swap ordered", 20, || !double.calls().is_empty());
    // By ICCID: the second wave must reach the profile whatever its IMSIs.
    let wave: Vec<Value> = (0..16)
        .map(|i| event(format!("one-b-{i}"), ("iccid", &iccid), "276", "02"))
        .collect();
    post_at_once(&g, &wave);
    wait_for("both waves decided", 30, || {
        pending(&g) == 0 && decisions(&g, &iccid).len() >= 2
    });
    wait_for("the swap confirmed", 20, || {
        swaps(&g, &iccid).iter().all(|s| s["state"] == "confirmed")
    });
    // Time for a wrongly ordered second swap to reach the vendor.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(swaps(&g, &iccid).len(), 1, "{:?}", swaps(&g, &iccid));
    assert_eq!(double.swaps().len(), 1, "the vendor swapped once");
    let imsis = profile_imsis(&g, &iccid);
    assert!(imsis[1].starts_with("90128"), "{imsis:?}");
    assert_eq!(dynamic(&g, "Partner W"), w_before - 1);
    assert_eq!(event_imsis(&g, "IMSI/Activate"), [imsis[1].as_str()]);
}

/// A Balkan profile per account: the demo one and `more` onboarded over
/// the API. Their ICCIDs and slot 2 IMSIs (Partner Y).
fn balkan_profiles(g: &Gyro, more: usize) -> Vec<(String, String)> {
    let who = api_get(g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let mut out = vec![(
        who["profile"]["iccid"].as_str().unwrap().to_string(),
        Y_IMSI.to_string(),
    )];
    for _ in 0..more {
        let (s, v) = api_send(
            g,
            "POST",
            "/api/v1/accounts",
            Some(&json!({"product": BALKAN})),
        );
        assert_eq!(s, 201, "{v}");
        let p = &v["profile"];
        out.push((
            p["iccid"].as_str().unwrap().to_string(),
            p["imsis"][1].as_str().unwrap().to_string(),
        ));
    }
    out
}

#[test]
fn profiles_racing_for_a_small_dynamic_pool_never_share_an_imsi() {
    let double = OtaDouble::start();
    // G's 0.30 GBP on 297 01 is 0.351 EUR, under Y's 0.41: every Balkan
    // profile in Montenegro wants one of the four G IMSIs.
    let charging = charging_with_partner_g("ota-par-pool-rating", r#""29701" = "0.30""#);
    let g = Gyro::start_with_tail("ota-par-pool", &charging, &ota_tail(&double));
    let g_imsis = partner_g_in_dynamic_pool(&g, 4);
    let profiles = balkan_profiles(&g, 11);
    let (w_before, y_available) = (dynamic(&g, "Partner W"), available(&g, "Partner Y"));

    let wave: Vec<Value> = profiles
        .iter()
        .enumerate()
        .flat_map(|(n, (_, y))| {
            (0..2).map(move |i| event(format!("pool-{n}-{i}"), ("imsi", y), "297", "01"))
        })
        .collect();
    post_at_once(&g, &wave);
    wait_for("every profile decided", 40, || {
        pending(&g) == 0 && profiles.iter().all(|(p, _)| !decisions(&g, p).is_empty())
    });
    wait_for("every swap settled", 20, || {
        profiles
            .iter()
            .all(|(p, _)| swaps(&g, p).iter().all(|s| s["state"] == "confirmed"))
    });

    let mut taken = BTreeSet::new();
    let mut kept = 0;
    for (iccid, y) in &profiles {
        let s = swaps(&g, iccid);
        let imsis = profile_imsis(&g, iccid);
        if s.is_empty() {
            kept += 1;
            assert_eq!(&imsis[1], y, "{iccid} keeps its Y IMSI");
            kept_without_the_empty_pool(&g, iccid);
            continue;
        }
        assert_eq!(s.len(), 1, "{iccid}: {s:?}");
        let new = s[0]["new_imsi"].as_str().unwrap();
        assert_eq!(&imsis[1], new);
        assert!(taken.insert(new.to_string()), "{new} embedded twice");
        let rec = api_get(&g, &format!("/api/v1/imsis/{new}"));
        assert_eq!(rec["profile"]["iccid"], iccid.as_str(), "{rec}");
        let old = api_get(&g, &format!("/api/v1/imsis/{y}"));
        assert_eq!(old["imsi"]["state"], "hold", "{old}");
    }
    assert_eq!(taken, g_imsis.iter().cloned().collect(), "each G IMSI once");
    assert_eq!(kept, profiles.len() - g_imsis.len());
    let vendor: BTreeSet<String> = double.swaps().into_iter().map(|s| s.new_imsi).collect();
    assert_eq!((double.swaps().len(), vendor), (g_imsis.len(), taken));
    assert_eq!(dynamic(&g, "Partner G"), 0);
    assert_eq!(dynamic(&g, "Partner W"), w_before);
    assert_eq!(available(&g, "Partner Y"), y_available);
}

/// What a profile that got no G IMSI shows: every decision kept its IMSIs
/// as the cheapest, and once the pool was empty it was no candidate.
fn kept_without_the_empty_pool(g: &Gyro, iccid: &str) {
    let all = decisions(g, iccid);
    for d in &all {
        assert_eq!(
            d["action"],
            json!({"action": "keep", "reason": "cheapest"}),
            "{d}"
        );
    }
    let last = all.last().unwrap();
    assert!(pool_candidate(last, "partner-g").is_none(), "{last}");
}
