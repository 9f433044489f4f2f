//! Proxy mode relaying to real upstreams: gyro in embedded mode as the OCS
//! (so the canonical identity must resolve there and the right balance
//! move), freeDiameter as the upstream, voice on Ro, and a subscriber the
//! proxy does not know; tshark checks what gyro forwards.

use std::process::Command;

use crate::support::*;
use gyro::diameter::Message;

use super::upstreams::*;

#[test]
fn every_imsi_of_a_profile_reaches_the_ocs_as_one_identity() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    // The OCS: gyro itself, embedded, with the same seed.
    let ocs = Gyro::start_as("px-ocs", "ocs.test.local", "", "");
    let proxy = proxy_before("px", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, ocs.port]);
    // Home on 262-01; then Andorra through Partner X's proxy,
    // which presents the own IMSI (translated) and, like many PGWs, no
    // 3GPP-SGSN-MCC-MNC: only the ULI says 213-77.
    let (ok, out) = pgw(&proxy, "pgw.test.local", "262019000000001", 1);
    assert!(ok, "{out}");
    let x = ["--mcc-mnc", "21377", "--no-sgsn-mcc-mnc"];
    let (ok, out) = pgw_at(&proxy, "gy.partner-x.example", "262019000000001", 1, &x);
    assert!(ok, "{out}");
    // A network outside the bundle (Japan): the OCS refuses, the PGW hears it.
    let (ok, out) = pgw_at(
        &proxy,
        "pgw.test.local",
        "262019000000001",
        1,
        &["--mcc-mnc", "44010"],
    );
    assert!(!ok && out.contains("Result-Code=4010"), "{out}");
    // Every session charged the one account upstream: 3 × (700 + 700), the
    // refused one too, since the test PGW still reports its usage (it
    // happened, and the OCS charges what it is told).
    assert_eq!(data_balance(&ocs, "262019000000001").0, 4200);
    // The proxy kept no balance of its own.
    assert_eq!(data_balance(&proxy, "262019000000001").0, 0);
    let (clean, text) = cap.dissect_with(&peers, &["--avps"]);
    assert!(clean, "tshark found problems:\n{text}");
    assert!(
        text.contains("val=491700000001@msisdn"),
        "canonical User-Name:\n{text}"
    );
    assert!(
        text.contains("3GPP-SGSN-MCC-MNC(18) l=17 f=V-- vnd=TGPP val=21377"),
        "filled from the ULI:\n{text}"
    );
    assert!(text.contains("Route-Record(282)"), "Route-Record:\n{text}");
    // Wholesale xDRs of the relayed usage, tagged with the upstream.
    let lines = xdrs(&proxy);
    assert!(!lines.is_empty(), "no wholesale xDRs");
    let andorra: Vec<_> = lines
        .iter()
        .filter(|l| l["rate_code"] == "E212-213-77")
        .collect();
    assert!(!andorra.is_empty(), "{lines:?}");
    for l in andorra {
        assert_eq!(
            (&l["sponsor"], &l["imsi"]),
            (&"Partner X".into(), &"213779000000001".into())
        );
        assert!(
            l["cost"].is_string() || l["cost"].is_number(),
            "costed at 1.01/GB: {l}"
        );
    }
    for l in &lines {
        assert_eq!(l["mode"], "proxy");
        assert_eq!(l["upstream"], "ocs.test.local");
        // Japan's session was refused at its CCR-I: the OCS answers its
        // later reports 5002, and the xDR says so.
        let want = if l["rate_code"] == "E212-440-10" {
            5002
        } else {
            2001
        };
        assert_eq!(l["upstream_result"], want, "{l}");
        assert!(l.get("used_after").is_none());
    }
}

#[test]
fn an_unknown_subscriber_is_refused_without_asking_the_ocs() {
    let ocs = Gyro::start_as("px-ocs2", "ocs.test.local", "", "");
    let proxy = proxy_before("px2", &ocs, "iccid");
    let mut p = open_peer(&proxy, "pgw.test.local");
    let a = ask(
        &mut p,
        &gy_ccr(&GyCcr {
            session: "nobody",
            imsi: "999999999999999",
            requested: Some(1000),
            ..GyCcr::BASE
        }),
    );
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(5030));
    assert!(
        !metrics(&ocs).contains("command=\"CC\",kind=\"request\""),
        "the OCS saw no CCR"
    );
}

#[test]
fn freediameter_as_the_upstream_with_proxy_info_kept() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    let anchor = Gyro::start("px-fd-anchor", "");
    let port = free_port();
    let out = std::fs::File::create(anchor.dir.join("fd.out")).unwrap();
    let mut fd = Command::new(peers.join("freediameter/fd_peer.sh"));
    fd.args(["server", "--port", &port.to_string(), "--quiet"])
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let _fd = Peer(fd.spawn().unwrap());
    assert!(wait_listening(port, 30), "freeDiameter did not start");
    let proxy = Gyro::start_as(
        "px-fd",
        "gyro-proxy.test.local",
        &proxy_config(&[("ocs.test.local", port, 1)], "imsi"),
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, port]);
    let (ok, out) = pgw(&proxy, "pgw.test.local", "262019000000001", 1);
    assert!(ok, "{out}");
    // A DRA's Proxy-Info survives both hops, byte for byte.
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let i = GyCcr {
        session: "fd-pi",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let req = with_avps(gy_ccr(&i), |b| proxy_info(b, "dra.test.local", b"state-1"));
    let a = ask(&mut gw, &req);
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    let sent = Message::new(&req)
        .unwrap()
        .find(284, 0)
        .unwrap()
        .raw()
        .to_vec();
    assert_eq!(
        m.find(284, 0).map(|p| p.raw().to_vec()),
        Some(sent),
        "Proxy-Info"
    );
    let (clean, text) = cap.dissect_with(&peers, &["--avps"]);
    assert!(clean, "tshark found problems:\n{text}");
    // identity = "imsi": the profile's own IMSI, whatever the gateway sent.
    assert!(text.contains("val=262019000000001@imsi"), "{text}");
}

/// An IMS (Ro) voice request by MSISDN: an outgoing call to Germany.
fn ims_call(session: &str, kind: i32, number: u32, e2e: u32, used_secs: u32) -> Vec<u8> {
    use gyro::diameter::builder::AvpDef;
    use gyro::diameter::dictionary::VENDOR_3GPP;
    let v = |c| AvpDef::vendor(c, VENDOR_3GPP, true);
    session_request(272, session, e2e, |m| {
        m.utf8(AvpDef::base(461), "32260@3gpp.org")
            .i32(AvpDef::base(416), kind)
            .u32(AvpDef::base(415), number);
        m.group(AvpDef::base(443), |m| {
            m.i32(AvpDef::base(450), 0)
                .utf8(AvpDef::base(444), "491700000001");
        });
        m.group(AvpDef::base(456), |m| {
            if kind != 3 {
                m.group(AvpDef::base(437), |m| {
                    m.u32(AvpDef::base(420), 120);
                });
            }
            if used_secs > 0 {
                m.group(AvpDef::base(446), |m| {
                    m.u32(AvpDef::base(420), used_secs);
                });
            }
        });
        m.group(v(873), |m| {
            m.group(v(876), |m| {
                m.i32(v(862), 0)
                    .i32(v(829), 0)
                    .utf8(v(832), "tel:+493012345678")
                    .utf8(v(2713), "ims.mnc001.mcc262.3gppnetwork.org");
            });
        });
    })
}

#[test]
fn voice_on_ro_through_the_proxy_is_charged_on_the_minutes() {
    let ocs = Gyro::start_as(
        "px-ro-ocs",
        "ocs.test.local",
        "",
        "location_triggers = false",
    );
    let proxy = proxy_before("px-ro", &ocs, "msisdn");
    let mut scscf = open_peer(&proxy, "scscf.test.local");
    let a = ask(&mut scscf, &ims_call("call1", 1, 0, 1, 0));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    let secs = m
        .find(456, 0)
        .and_then(|x| x.member(431, 0))
        .and_then(|g| g.member(420, 0))
        .and_then(|t| t.u32().ok());
    assert_eq!(secs, Some(120), "CC-Time granted");
    let a = ask(&mut scscf, &ims_call("call1", 3, 1, 2, 75));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    let id = api_get(&ocs, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let b = api_get(&ocs, &format!("/api/v1/accounts/{id}/balance"));
    assert_eq!(b["voice"]["used_seconds"], 75, "{b}");
    assert_eq!(b["voice"]["reserved_seconds"], 0, "{b}");
}
