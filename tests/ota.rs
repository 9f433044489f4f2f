//! Issue #15 end to end: the story's #2.3–#2.6 path over real sockets. A
//! Balkan Traveller charges through the Erlang/OTP PGW in Germany and
//! Montenegro; the MVNE's location webhooks move it to Montenegro (no swap),
//! Albania (swap to a Partner W IMSI of "dynamic W", then charged on the
//! same bundle with a Partner W xDR) and Kosovo (back to the Y IMSI on hold
//! for it), with the stock checked after each step. Then a vendor that
//! refuses, one that is slow, and kill -9 between order and confirmation.
//!
//! The OTA vendor is `tests/common/ota_vendor.rs`, a small double of gyro's
//! documented imsiSwap contract: no open-source SM-DP+/OTA server with this
//! interface can be installed here.

mod common;

use std::process::Command;
use std::time::Duration;

use common::ota::*;
use common::ota_vendor::{Mode, OtaDouble};
use common::*;
use serde_json::Value;

#[test]
fn montenegro_albania_kosovo_with_charging_before_and_after_each_swap() {
    let Some(peers) = peers_dir() else { return };
    let double = OtaDouble::start();
    let g = Gyro::start_with_tail("ota-story", OTP_PEER, &ota_tail(&double));
    balkan_covers_both_albanian_networks(&g);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let account = who["account"]["id"].as_u64().unwrap();
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    let own = profile_imsis(&g, &iccid)[0].clone();
    let (w_before, y_profiles) = (dynamic(&g, "Partner W"), available(&g, "Partner Y"));

    // #2.4: Germany and Montenegro on the one bundle.
    charge_on(&peers, &g, &own, "26201");
    charge_on(&peers, &g, Y_IMSI, "29701");
    assert_eq!(used(&g, account), 2_000_000_000);

    // Montenegro: Y at 0.41 beats W at 1.21, no change required.
    located(&g, "mvne-1", Y_IMSI, "297", "01");
    wait_for("the Montenegro decision", 15, || {
        decisions(&g, &iccid).len() == 1
    });
    let d = &decisions(&g, &iccid)[0];
    assert_eq!(d["action"]["action"], "keep", "{d}");
    assert!(swaps(&g, &iccid).is_empty() && double.swaps().is_empty());

    // Albania: W at 0.2 (276 02) beats Y at 0.3 (276 03): swap slot 2.
    located(&g, "mvne-2", Y_IMSI, "276", "03");
    wait_for("the Albania swap confirmed", 20, || {
        swaps(&g, &iccid)
            .first()
            .is_some_and(|s| s["state"] == "confirmed")
    });
    let imsis = profile_imsis(&g, &iccid);
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
        dynamic(&g, "Partner W"),
        w_before - 1,
        "999 W IMSIs in dynamic pools"
    );
    assert_eq!(available(&g, "Partner Y"), y_profiles);
    assert_eq!(event_imsis(&g, "IMSI/Deactivate"), [Y_IMSI]);
    assert_eq!(event_imsis(&g, "IMSI/Activate"), [w.as_str()]);
    let y = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    assert_eq!(y["imsi"]["state"], "hold", "{y}");
    // The W IMSI charges the same bundle, tagged Partner W at 0.2 per GB.
    charge_on(&peers, &g, &w, "27602");
    assert_eq!(used(&g, account), 3_000_000_000);
    let x = xdrs(&g);
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

    // Kosovo: the held Y IMSI (0.6) beats W (0.7): back to it.
    located(&g, "mvne-3", &w, "221", "01");
    wait_for("the Kosovo swap confirmed", 20, || {
        swaps(&g, &iccid)
            .get(1)
            .is_some_and(|s| s["state"] == "confirmed")
    });
    assert_eq!(profile_imsis(&g, &iccid)[1], Y_IMSI);
    assert_eq!(double.swaps()[1].new_imsi, Y_IMSI);
    assert_eq!(
        dynamic(&g, "Partner W"),
        w_before - 1,
        "the W IMSI is on hold for the subscriber"
    );
    charge_on(&peers, &g, Y_IMSI, "22101");
    assert_eq!(used(&g, account), 4_000_000_000);
    let kosovo = xdrs(&g);
    assert!(kosovo
        .iter()
        .filter(|r| r["rate_code"] == "E212-221-01")
        .all(|r| r["sponsor"] == "Partner Y" && r["cost"] == "0.3"));
    assert_eq!(decisions(&g, &iccid).len(), 3);
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
    let g = Gyro::start_with_tail("ota-fail", OTP_PEER, &ota_tail(&double));
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
    let mut g = Gyro::start_with_tail("ota-kill", OTP_PEER, &tail);
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
    g = Gyro::restart_with_tail("ota-kill", &dir, OTP_PEER, &tail);
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
