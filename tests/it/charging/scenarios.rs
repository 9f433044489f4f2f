//! The seed's usage scenarios played by a real third-party PGW (Erlang/OTP
//! diameter) against `gyro serve` on its seeded defaults: one bundle shared by
//! every IMSI of the profile, sponsors and costs in the xDRs, refusal of a
//! network outside the bundle, exhaustion with FUI then 4012, the FUP event
//! once; tshark checks every CCA.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use serde_json::Value;

fn erlang_client(peers: &std::path::Path, g: &Gyro, args: &[&str]) -> String {
    let mut cmd = Command::new(peers.join("erlang/gy_peer.escript"));
    cmd.args(["client", "--server", &g.addr().to_string()])
        .args(args);
    let (_, out) = run(&mut cmd, Duration::from_secs(60));
    out
}

fn used(g: &Gyro, account: u64) -> u64 {
    api_get(g, &format!("/api/v1/accounts/{account}/balance"))["data"]["used_octets"]
        .as_u64()
        .unwrap()
}

fn account_of(g: &Gyro, imsi: &str) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn home_andorra_and_montenegro_share_one_bundle_with_sponsor_costs() {
    let Some(peers) = peers_dir() else { return };
    let g = Gyro::start("scen-story", "");
    let mut cap = Capture::start(&peers, &g.dir, &[g.port]);
    let truck = account_of(&g, "262019000000001");
    assert_eq!(
        account_of(&g, "213779000000001"),
        truck,
        "both IMSIs of the profile"
    );
    charged_at_home(&peers, &g, truck);
    charged_in_andorra_through_partner_x(&peers, &g, truck);
    let balkan = charged_in_montenegro_on_partner_y(&peers, &g);
    a_network_outside_the_bundle_is_refused(&peers, &g, balkan);
    xdrs_name_the_sponsor_and_its_cost(&g);
    let (ok, text) = cap.dissect(&peers);
    assert!(ok, "tshark found problems:\n{text}");
    assert!(
        text.matches("Credit-Control Answer").count() >= 12,
        "{text}"
    );
}

/// At home: own IMSI on 262-01, 2 updates + T, 1 MB each report.
fn charged_at_home(peers: &Path, g: &Gyro, truck: u64) {
    let out = erlang_client(
        peers,
        g,
        &[
            "--imsi",
            "262019000000001",
            "--mcc-mnc",
            "26201",
            "--updates",
            "2",
            "--used-octets",
            "1000000",
        ],
    );
    assert!(
        out.contains("CCR-T #3 -> 'CCA'") && !out.contains("FAILURES"),
        "{out}"
    );
    assert_eq!(used(g, truck), 3_000_000);
}

/// In Andorra through Partner X's proxy: the translated own IMSI, the
/// location only in the ULI; charged on the same bundle.
fn charged_in_andorra_through_partner_x(peers: &Path, g: &Gyro, truck: u64) {
    let out = erlang_client(
        peers,
        g,
        &[
            "--imsi",
            "262019000000001",
            "--origin-host",
            "gy.partner-x.example",
            "--mcc-mnc",
            "21377",
            "--no-sgsn-mcc-mnc",
            "--updates",
            "1",
            "--used-octets",
            "2000000",
        ],
    );
    assert!(!out.contains("FAILURES"), "{out}");
    assert_eq!(used(g, truck), 3_000_000 + 4_000_000, "the same bundle");
}

/// In Montenegro on Partner Y's IMSI: the Balkan account, returned.
fn charged_in_montenegro_on_partner_y(peers: &Path, g: &Gyro) -> u64 {
    let balkan = account_of(g, "213550000000001");
    let out = erlang_client(
        peers,
        g,
        &[
            "--imsi",
            "213550000000001",
            "--mcc-mnc",
            "29701",
            "--updates",
            "1",
            "--used-octets",
            "500000000",
        ],
    );
    assert!(!out.contains("FAILURES"), "{out}");
    assert_eq!(used(g, balkan), 1_000_000_000);
    balkan
}

/// A network outside the bundle (Japan for the Balkan pass) is refused.
fn a_network_outside_the_bundle_is_refused(peers: &Path, g: &Gyro, balkan: u64) {
    let out = erlang_client(
        peers,
        g,
        &[
            "--imsi",
            "262018000000001",
            "--mcc-mnc",
            "44000",
            "--updates",
            "0",
        ],
    );
    assert!(
        out.contains("CCR-I #0 -> 'CCA'") && out.contains("Result-Code=4010"),
        "{out}"
    );
    // gyro ended the refused session: the client's CCR-T gets 5002, and the
    // usage it reports anyway is charged, never dropped.
    assert!(
        out.contains("CCR-T #1 -> 'CCA'") && out.contains("Result-Code=5002"),
        "{out}"
    );
    assert_eq!(used(g, balkan), 1_000_123_456);
}

/// The xDRs: the own IMSI at home free of cost, Partner X in Andorra and
/// Partner Y in Montenegro at their prices.
fn xdrs_name_the_sponsor_and_its_cost(g: &Gyro) {
    let x = xdrs(g);
    let home: Vec<&Value> = x
        .iter()
        .filter(|r| r["rate_code"] == "E212-262-01")
        .collect();
    assert_eq!(home.len(), 3);
    assert!(home
        .iter()
        .all(|r| r["sponsor"] == "Own" && r["cost"].is_null() && r["imsi"] == "262019000000001"));
    let andorra: Vec<&Value> = x
        .iter()
        .filter(|r| r["rate_code"] == "E212-213-77")
        .collect();
    assert_eq!(andorra.len(), 2);
    for r in &andorra {
        assert_eq!(r["sponsor"], "Partner X");
        assert_eq!(
            r["imsi"], "213779000000001",
            "the X IMSI in use, not the translated one"
        );
        assert_eq!(r["iccid"], "894910262010000012345");
        // 2 MB at 1.01 EUR/GB.
        assert_eq!(r["cost"], "0.00202");
        assert_eq!(r["cost_currency"], "EUR");
    }
    let me: Vec<&Value> = x
        .iter()
        .filter(|r| r["rate_code"] == "E212-297-01")
        .collect();
    assert_eq!(me.len(), 2);
    // 0.5 GB at 0.41 EUR/GB.
    assert!(me
        .iter()
        .all(|r| r["sponsor"] == "Partner Y" && r["cost"] == "0.205"));
}

#[test]
fn exhaustion_gives_final_unit_then_4012_and_fup_fires_once() {
    let Some(peers) = peers_dir() else { return };
    // A 1 MB bundle with a 600 kB fair-usage threshold and 400 kB grants.
    let path = small_bundle_rating("scen-small-rating");
    let g = Gyro::start_with_charging(
        "scen-small",
        "",
        &format!("rating = \"{}\"", path.display()),
    );
    let mut cap = Capture::start(&peers, &g.dir, &[g.port]);
    let truck = account_of(&g, "262019000000001");
    let out = erlang_client(
        &peers,
        &g,
        &[
            "--imsi",
            "262019000000001",
            "--mcc-mnc",
            "26201",
            "--updates",
            "3",
            "--request-octets",
            "500000",
            "--used-octets",
            "400000",
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("CCR-")).collect();
    assert!(lines[0].contains("GSU=CC-Total-Octets:400000"), "{out}");
    assert!(lines[1].contains("GSU=CC-Total-Octets:400000"), "{out}");
    // 800 kB used, 200 kB left: the last grant.
    assert!(lines[2].contains("GSU=CC-Total-Octets:200000"), "{out}");
    assert!(lines[3].contains("RC=4012"), "{out}");
    assert_eq!(
        used(&g, truck),
        1_600_000,
        "usage beyond the grant still counts"
    );
    let events = api_get(&g, "/api/v1/events");
    let fup: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "Account/FUP/Throttle")
        .collect();
    assert_eq!(fup.len(), 1, "{events}");
    let imsis: Vec<&str> = fup[0]["variables"]["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imsi"].as_str().unwrap())
        .collect();
    assert_eq!(imsis, vec!["262019000000001", "213779000000001"]);
    let (ok, text) = cap.dissect(&peers);
    assert!(ok, "{text}");
    let avps = {
        let out = Command::new(peers.join("tshark/dissect.sh"))
            .arg(&cap.pcap)
            .arg(g.port.to_string())
            .arg("--avps")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(avps.contains("Final-Unit-Indication"), "{avps}");
    assert!(avps.contains("Final-Unit-Action"), "{avps}");
}
