//! OTA swaps end to end, the story's trip through the Balkans over real
//! sockets. A Balkan Traveller charges through the Erlang/OTP PGW in Germany
//! and Montenegro; the MVNE's location webhooks move it to Montenegro (no
//! swap), Albania (swap to a Partner W IMSI of "dynamic W", then charged on
//! the same bundle with a Partner W xDR) and Kosovo (back to the Y IMSI on
//! hold for it), with the stock checked after each step. Then a vendor that
//! refuses, one that is slow, and kill -9 between order and confirmation.
//!
//! The OTA vendor is `tests/it/support/ota_vendor.rs`, a small double of gyro's
//! documented imsiSwap contract: no open-source SM-DP+/OTA server with this
//! interface can be installed here.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::ota::*;
use crate::support::ota_vendor::{Mode, OtaDouble};
use crate::support::*;
use serde_json::{json, Value};

#[test]
fn montenegro_albania_kosovo_with_charging_before_and_after_each_swap() {
    let Some(peers) = peers_dir() else { return };
    let double = OtaDouble::start();
    let g = Gyro::start_with_tail("ota-story", "", &ota_tail(&double));
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let account = who["account"]["id"].as_u64().unwrap();
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let own = profile_imsis(&g, &iccid)[0].clone();
    let (w_before, y_profiles) = (dynamic(&g, "Partner W"), available(&g, "Partner Y"));

    // Germany and Montenegro on the one bundle.
    charge_on(&peers, &g, &own, "26201");
    charge_on(&peers, &g, Y_IMSI, "29701");
    assert_eq!(used(&g, account), 2_000_000_000);
    let trip = Trip {
        peers: &peers,
        g: &g,
        double: &double,
        account,
        iccid,
        w_before,
    };
    montenegro_keeps_y(&trip);
    let w = albania_swaps_slot_2_to_a_w_imsi(&trip, y_profiles);
    kosovo_swaps_back_to_the_held_y_imsi(&trip, &w);
}

/// The Balkan traveller on its trip: its profile and account, and the W
/// IMSIs in dynamic pools before it.
struct Trip<'a> {
    peers: &'a Path,
    g: &'a Gyro,
    double: &'a OtaDouble,
    account: u64,
    iccid: String,
    w_before: u64,
}

/// Montenegro: Y at 0.41 beats W at 1.21, no change required.
fn montenegro_keeps_y(trip: &Trip<'_>) {
    let (g, iccid, double) = (trip.g, &trip.iccid, trip.double);
    located(g, "mvne-1", Y_IMSI, "297", "01");
    wait_for("the Montenegro decision", 15, || {
        decisions(g, iccid).len() == 1
    });
    let d = &decisions(g, iccid)[0];
    assert_eq!(d["action"]["action"], "keep", "{d}");
    assert!(swaps(g, iccid).is_empty() && double.swaps().is_empty());
}

/// Albania: W at 0.2 (276 02) beats Y at 0.3 (276 03): swap slot 2, then
/// the W IMSI charges the same bundle. Returns the W IMSI.
fn albania_swaps_slot_2_to_a_w_imsi(trip: &Trip<'_>, y_profiles: u64) -> String {
    let (g, iccid, double) = (trip.g, &trip.iccid, trip.double);
    let (account, w_before) = (trip.account, trip.w_before);
    located(g, "mvne-2", Y_IMSI, "276", "03");
    wait_for("the Albania swap confirmed", 20, || {
        swaps(g, iccid)
            .first()
            .is_some_and(|s| s["state"] == "confirmed")
    });
    let imsis = profile_imsis(g, iccid);
    let w = imsis[1].clone();
    assert!(w.starts_with("90128"), "a W IMSI in slot 2: {imsis:?}");
    let calls = double.swaps();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (
            calls[0].old_imsi.as_str(),
            calls[0].new_imsi.as_str(),
            calls[0].slot
        ),
        (Y_IMSI, w.as_str(), 2)
    );
    assert_eq!(
        dynamic(g, "Partner W"),
        w_before - 1,
        "999 W IMSIs in dynamic pools"
    );
    assert_eq!(available(g, "Partner Y"), y_profiles);
    assert_eq!(event_imsis(g, "IMSI/Deactivate"), [Y_IMSI]);
    assert_eq!(event_imsis(g, "IMSI/Activate"), [w.as_str()]);
    let y = api_get(g, &format!("/api/v1/imsis/{Y_IMSI}"));
    assert_eq!(y["imsi"]["state"], "hold", "{y}");
    // The W IMSI charges the same bundle, tagged Partner W at 0.2 per GB.
    charge_on(trip.peers, g, &w, "27602");
    assert_eq!(used(g, account), 3_000_000_000);
    let x = xdrs(g);
    let albania: Vec<&Value> = x
        .iter()
        .filter(|r| r["rate_code"] == "E212-276-02")
        .collect();
    assert_eq!(albania.len(), 2);
    assert!(
        albania
            .iter()
            .all(|r| r["sponsor"] == "Partner W" && r["imsi"] == w.as_str() && r["cost"] == "0.1"),
        "{albania:?}"
    );
    w
}

/// Kosovo: the held Y IMSI (0.6) beats W (0.7): back to it, charged at Y's
/// price.
fn kosovo_swaps_back_to_the_held_y_imsi(trip: &Trip<'_>, w: &str) {
    let (g, iccid, double) = (trip.g, &trip.iccid, trip.double);
    located(g, "mvne-3", w, "221", "01");
    wait_for("the Kosovo swap confirmed", 20, || {
        swaps(g, iccid)
            .get(1)
            .is_some_and(|s| s["state"] == "confirmed")
    });
    assert_eq!(profile_imsis(g, iccid)[1], Y_IMSI);
    assert_eq!(double.swaps()[1].new_imsi, Y_IMSI);
    assert_eq!(
        dynamic(g, "Partner W"),
        trip.w_before - 1,
        "the W IMSI is on hold for the subscriber"
    );
    charge_on(trip.peers, g, Y_IMSI, "22101");
    assert_eq!(used(g, trip.account), 4_000_000_000);
    let kosovo = xdrs(g);
    assert!(kosovo
        .iter()
        .filter(|r| r["rate_code"] == "E212-221-01")
        .all(|r| r["sponsor"] == "Partner Y" && r["cost"] == "0.3"));
    assert_eq!(decisions(g, iccid).len(), 3);
    assert_eq!(double.duplicates(), 0);
}

#[test]
fn a_refusing_or_silent_vendor_fails_the_swap_and_changes_nothing() {
    if peers_dir().is_none() {
        return;
    }
    let double = OtaDouble::start();
    double.set_mode(Mode::Fail {
        subject_code: "8.1.1".into(),
        reason_code: "3.8".into(),
        message: "profile not found".into(),
    });
    let g = Gyro::start_with_tail("ota-fail", "", &ota_tail(&double));
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let w_before = dynamic(&g, "Partner W");
    located(&g, "f-1", Y_IMSI, "276", "03");
    wait_for("the refused swap failed", 20, || {
        swaps(&g, &iccid)
            .first()
            .is_some_and(|s| s["state"] == "failed")
    });
    let s = &swaps(&g, &iccid)[0];
    assert!(s["reason"].as_str().unwrap().contains("8.1.1"), "{s}");
    assert_eq!(profile_imsis(&g, &iccid)[1], Y_IMSI);
    assert_eq!(dynamic(&g, "Partner W"), w_before, "the W IMSI went back");
    assert!(event_imsis(&g, "IMSI/Activate").is_empty());

    // A vendor slower than [ota] timeout swaps but its answer comes too
    // late: the retry, with the same functionCallIdentifier, gets the
    // vendor's first answer, and the swap is confirmed once.
    double.set_mode(Mode::Slow(Duration::from_secs(3)));
    located(&g, "f-2", Y_IMSI, "276", "03");
    wait_for("the slow swap confirmed", 30, || {
        swaps(&g, &iccid)
            .get(1)
            .is_some_and(|s| s["state"] == "confirmed")
    });
    let second = &swaps(&g, &iccid)[1];
    let id = format!("gyro-swap-{}", second["id"]);
    let calls: Vec<_> = double
        .calls()
        .into_iter()
        .filter(|c| c.call_id == id)
        .collect();
    assert!(
        calls.len() >= 2,
        "timed out, then retried with the same id: {}",
        calls.len()
    );
    assert_eq!(double.swaps().iter().filter(|s| s.call_id == id).count(), 1);
    assert!(profile_imsis(&g, &iccid)[1].starts_with("90128"));
    assert_eq!(dynamic(&g, "Partner W"), w_before - 1);
}

#[test]
fn kill_9_between_order_and_confirmation_resumes_without_a_second_swap() {
    if peers_dir().is_none() {
        return;
    }
    let double = OtaDouble::start();
    // Slow enough that the node is killed while the call is out.
    double.set_mode(Mode::Slow(Duration::from_millis(700)));
    let tail = ota_tail(&double).replace("timeout = \"1s\"", "timeout = \"5s\"");
    let mut g = Gyro::start_with_tail("ota-kill", "", &tail);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let w_before = dynamic(&g, "Partner W");
    located(&g, "k-1", Y_IMSI, "276", "03");
    wait_for("the swap ordered", 20, || !double.calls().is_empty());
    let _ = Command::new("kill")
        .args(["-9", &g.child.id().to_string()])
        .status();
    let _ = g.child.wait();
    let dir = g.dir.clone();
    double.set_mode(Mode::Succeed);
    g = Gyro::restart_with_tail("ota-kill", &dir, "", &tail);
    wait_for("the resumed swap confirmed", 20, || {
        swaps(&g, &iccid)
            .first()
            .is_some_and(|s| s["state"] == "confirmed")
    });
    assert_eq!(swaps(&g, &iccid).len(), 1, "one swap");
    assert_eq!(double.swaps().len(), 1, "the vendor swapped once");
    assert!(
        double.calls().len() >= 2,
        "the call was made again after the restart"
    );
    assert!(profile_imsis(&g, &iccid)[1].starts_with("90128"));
    assert_eq!(dynamic(&g, "Partner W"), w_before - 1);
}

/// The story's Albania step with a third sponsor priced in GBP: Partner G's
/// 0.17 GBP on 276 02 is 0.1989 EUR, below W's 0.2 and Y's 0.3, so the
/// dynamic slot goes to a G IMSI, which then charges the same bundle with
/// G's cost in GBP and in EUR on its xDRs.
#[test]
fn a_gbp_sponsor_cheaper_after_conversion_is_swapped_in_and_charged() {
    let Some(peers) = peers_dir() else { return };
    let double = OtaDouble::start();
    let charging = charging_with_partner_g("ota-gbp-rating", r#""27602" = "0.17""#);
    let g = Gyro::start_with_tail("ota-gbp", &charging, &ota_tail(&double));
    let g_imsis = partner_g_in_dynamic_pool(&g, 5);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let account = who["account"]["id"].as_u64().unwrap();
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let own = profile_imsis(&g, &iccid)[0].clone();
    let w_before = dynamic(&g, "Partner W");

    located(&g, "gbp-1", Y_IMSI, "276", "03");
    wait_for("the swap to G confirmed", 20, || {
        swaps(&g, &iccid)
            .first()
            .is_some_and(|s| s["state"] == "confirmed")
    });
    the_decision_prices_g_after_conversion(&decisions(&g, &iccid)[0]);
    let new = profile_imsis(&g, &iccid)[1].clone();
    assert_eq!(new, g_imsis[0], "the first G IMSI of the pool");
    assert_eq!(profile_imsis(&g, &iccid), [own, new.clone()]);
    let calls = double.swaps();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.old_imsi.as_str(), c.new_imsi.as_str(), c.slot),
        (Y_IMSI, new.as_str(), 2)
    );
    let rec = api_get(&g, &format!("/api/v1/imsis/{new}"));
    assert_eq!(
        (&rec["imsi"]["state"], &rec["profile"]["iccid"]),
        (&json!("embedded"), &json!(iccid))
    );
    assert_eq!(dynamic(&g, "Partner G"), 4);
    assert_eq!(dynamic(&g, "Partner W"), w_before, "W was not taken");
    assert_eq!(event_imsis(&g, "IMSI/Activate"), [new.as_str()]);
    the_g_imsi_charges_the_bundle_at_gs_tariff(&peers, &g, account, &new);
}

/// The swap decision: slot 2 to Partner G, whose GBP price is compared in
/// EUR against W's and the profile's.
fn the_decision_prices_g_after_conversion(d: &Value) {
    let a = &d["action"];
    assert_eq!(
        (&a["action"], &a["new"]["sponsor"], &a["slot"]),
        (&json!("swap"), &json!("partner-g"), &json!(2)),
        "{d}"
    );
    // Prices are per GB in EUR: G's GBP price after conversion.
    assert_eq!(
        (&a["new_price"], &a["profile_price"]),
        (&json!("0.1989"), &json!("0.3"))
    );
    let gc = pool_candidate(d, "partner-g").unwrap();
    assert_eq!(
        (&gc["price"], &gc["network"]),
        (&json!("0.1989"), &json!("27602"))
    );
    let w = pool_candidate(d, "partner-w").unwrap();
    assert_eq!(
        (&w["price"], &w["network"]),
        (&json!("0.2"), &json!("27602")),
        "{d}"
    );
}

/// The G IMSI charges the Balkan bundle through the PGW, at G's tariff:
/// two 500 MB reports, 0.085 GBP each, 0.09945 EUR.
fn the_g_imsi_charges_the_bundle_at_gs_tariff(peers: &Path, g: &Gyro, account: u64, new: &str) {
    let before = used(g, account);
    charge_on(peers, g, new, "27602");
    assert_eq!(used(g, account), before + 1_000_000_000);
    let x = xdrs(g);
    let on_g: Vec<&Value> = x.iter().filter(|r| r["imsi"] == new).collect();
    assert_eq!(on_g.len(), 2, "{x:?}");
    for r in on_g {
        let got = (
            &r["sponsor"],
            &r["rate_code"],
            &r["cost"],
            &r["cost_currency"],
        );
        let want = (
            &json!("Partner G"),
            &json!("E212-276-02"),
            &json!("0.085"),
            &json!("GBP"),
        );
        assert_eq!(got, want, "{r}");
        assert_eq!(
            (&r["cost_reporting"], &r["reporting_currency"]),
            (&json!("0.09945"), &json!("EUR"))
        );
    }
}

/// Montenegro with Partner G at 0.36 GBP on 297 01: a smaller number than
/// Y's 0.41 EUR, but 0.4212 EUR after conversion, so the profile keeps Y.
#[test]
fn a_gbp_sponsor_dearer_after_conversion_is_not_swapped_in() {
    let double = OtaDouble::start();
    let charging = charging_with_partner_g("ota-gbp-dear-rating", r#""29701" = "0.36""#);
    let g = Gyro::start_with_tail("ota-gbp-dear", &charging, &ota_tail(&double));
    partner_g_in_dynamic_pool(&g, 5);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let before = profile_imsis(&g, &iccid);

    located(&g, "gbp-dear-1", Y_IMSI, "297", "01");
    wait_for("the Montenegro decision", 15, || {
        !decisions(&g, &iccid).is_empty()
    });
    let d = &decisions(&g, &iccid)[0];
    assert_eq!(
        d["action"],
        json!({"action": "keep", "reason": "cheapest"}),
        "{d}"
    );
    let gc = pool_candidate(d, "partner-g").expect("G is a candidate");
    assert_eq!(
        (&gc["price"], &gc["network"]),
        (&json!("0.4212"), &json!("29701")),
        "{d}"
    );
    let y = d["priced"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["imsi"] == Y_IMSI)
        .unwrap();
    assert_eq!(y["price"], json!("0.41"), "{d}");
    // Give a wrongly made swap the time to reach the vendor.
    std::thread::sleep(Duration::from_secs(2));
    assert!(swaps(&g, &iccid).is_empty() && double.calls().is_empty());
    assert_eq!(profile_imsis(&g, &iccid), before);
    assert_eq!(dynamic(&g, "Partner G"), 5);
}
