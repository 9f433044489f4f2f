//! RFC 6733 base-protocol duties of the Credit-Control server, over a raw
//! socket against `gyro serve`: Proxy-Info returned in order, Origin-State-Id
//! in every CCA, a request for another host (3002) or realm (3003) refused
//! and not charged, STR answered with an STA that releases the session, and
//! server-to-client commands refused with 3001; tshark checks every message.

use crate::support::*;
use gyro::diameter::builder::AvpDef;
use gyro::diameter::{codes, Message};

#[test]
fn base_protocol_duties_of_the_credit_control_server() {
    let g = Gyro::start("base-proto", "");
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");
    let i = proxy_info_comes_back_in_order(&g, &mut p);
    another_host_or_realm_is_refused_and_not_charged(&g, &mut p, i);
    str_ends_the_session(&g, &mut p, i);
    abort_session_to_gyro_is_refused(&mut p);
    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        let (ok, text) = c.dissect(peers);
        assert!(ok, "tshark found problems:\n{text}");
        assert!(text.contains("Session-Termination Answer"), "{text}");
    }
}

/// Proxy-Info comes back byte for byte, in order; Origin-State-Id is there.
/// Returns the CCR-I it sent (session bp1, 1000 octets reserved).
fn proxy_info_comes_back_in_order(g: &Gyro, p: &mut RawPeer) -> GyCcr<'static> {
    let i = GyCcr {
        session: "bp1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let req = with_avps(gy_ccr(&i), |b| {
        proxy_info(b, "dra1.test.local", b"first");
        proxy_info(b, "dra2.test.local", b"second");
    });
    let a = ask(p, &req);
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    let sent: Vec<Vec<u8>> = Message::new(&req)
        .unwrap()
        .find_all(284, 0)
        .map(|x| x.raw().to_vec())
        .collect();
    let back: Vec<Vec<u8>> = m.find_all(284, 0).map(|x| x.raw().to_vec()).collect();
    assert_eq!(back, sent);
    assert!(
        m.find(278, 0).and_then(|x| x.u32().ok()).is_some(),
        "Origin-State-Id"
    );
    assert_eq!(data_balance(g, "262019000000001").1, 1000);
    i
}

/// For another host or realm: refused with the E bit, nothing charged.
fn another_host_or_realm_is_refused_and_not_charged(g: &Gyro, p: &mut RawPeer, i: GyCcr<'_>) {
    let other_host = with_avps(
        gy_ccr(&GyCcr {
            session: "bp2",
            e2e: 2,
            ..i
        }),
        |b| {
            b.utf8(codes::DESTINATION_HOST, "ocs.elsewhere.example");
        },
    );
    let a = ask(p, &other_host);
    let m = Message::new(&a).unwrap();
    assert_eq!((m.result_code(), m.header.is_error()), (Some(3002), true));
    let ours = with_avps(
        gy_ccr(&GyCcr {
            session: "bp3",
            e2e: 3,
            ..i
        }),
        |b| {
            b.utf8(codes::DESTINATION_HOST, "GYRO.test.local");
        },
    );
    assert_eq!(
        Message::new(&ask(p, &ours)).unwrap().result_code(),
        Some(2001)
    );
    let other_realm = gy_ccr(&GyCcr {
        session: "bp4",
        e2e: 4,
        realm: "else.where",
        ..i
    });
    let m2 = ask(p, &other_realm);
    assert_eq!(Message::new(&m2).unwrap().result_code(), Some(3003));
    assert_eq!(
        data_balance(g, "262019000000001").1,
        2000,
        "bp1 and bp3 only"
    );
}

/// STR ends the session: an STA (not a CCA) and the reservation released;
/// an update after it, or an STR for a session never seen, gets 5002.
fn str_ends_the_session(g: &Gyro, p: &mut RawPeer, i: GyCcr<'_>) {
    let str_ = session_request(275, "bp1", 10, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
        proxy_info(b, "dra1.test.local", b"str");
    });
    let a = ask(p, &str_);
    let m = Message::new(&a).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (275, false));
    assert_eq!(m.result_code(), Some(2001));
    assert!(m.find(416, 0).is_none(), "no CC-Request-Type in an STA");
    assert_eq!(m.find_all(284, 0).count(), 1);
    assert_eq!(data_balance(g, "262019000000001").1, 1000);
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 11,
        ..i
    };
    assert_eq!(
        Message::new(&ask(p, &gy_ccr(&u))).unwrap().result_code(),
        Some(5002)
    );
    let again = session_request(275, "never-seen", 12, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(p, &again)).unwrap().result_code(),
        Some(5002)
    );
}

/// Abort-Session goes from a server to its client, never to gyro.
fn abort_session_to_gyro_is_refused(p: &mut RawPeer) {
    let asr = session_request(274, "bp3", 13, |b| {
        b.utf8(codes::DESTINATION_HOST, "gyro.test.local");
    });
    let m = ask(p, &asr);
    assert_eq!(Message::new(&m).unwrap().result_code(), Some(3001));
}

/// A single-service CCR (top-level RSU/USU, Multiple-Services-Indicator 0).
fn single_service(session: &str, kind: i32, number: u32, e2e: u32, used: u64) -> Vec<u8> {
    use gyro::diameter::dictionary::VENDOR_3GPP;
    session_request(272, session, e2e, |b| {
        b.utf8(AvpDef::base(461), "32251@3gpp.org")
            .i32(AvpDef::base(416), kind)
            .u32(AvpDef::base(415), number);
        b.group(AvpDef::base(443), |b| {
            b.i32(AvpDef::base(450), 1)
                .utf8(AvpDef::base(444), "262019000000001");
        });
        b.i32(AvpDef::base(455), 0);
        if kind != 3 {
            b.group(AvpDef::base(437), |b| {
                b.u64(AvpDef::base(421), 1000);
            });
        }
        if used > 0 {
            b.group(AvpDef::base(446), |b| {
                b.u64(AvpDef::base(421), used);
            });
        }
        b.group(AvpDef::vendor(873, VENDOR_3GPP, true), |b| {
            b.group(AvpDef::vendor(874, VENDOR_3GPP, true), |b| {
                b.utf8(AvpDef::vendor(18, VENDOR_3GPP, false), "26201");
            });
        });
    })
}

#[test]
fn single_service_units_at_top_level_failure_handling_and_validity_on_refusals() {
    let g = Gyro::start_with_charging(
        "base-single",
        "",
        "credit_control_failure_handling = \"retry_and_terminate\"\ncc_session_failover = true",
    );
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");
    let a = ask(&mut p, &single_service("ss1", 1, 0, 1, 0));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert!(
        m.find(456, 0).is_none(),
        "no MSCC for a single-service client"
    );
    let gsu = m
        .find(431, 0)
        .and_then(|g| g.member(421, 0))
        .and_then(|x| x.u64().ok());
    assert_eq!(gsu, Some(1000));
    assert!(m.find(448, 0).is_some(), "top-level Validity-Time");
    assert_eq!(
        m.find(427, 0).and_then(|x| x.enumerated().ok()),
        Some(2),
        "CCFH RETRY_AND_TERMINATE"
    );
    assert_eq!(
        m.find(418, 0).and_then(|x| x.enumerated().ok()),
        Some(1),
        "FAILOVER_SUPPORTED"
    );
    let a = ask(&mut p, &single_service("ss1", 2, 1, 2, 400));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert!(m.find(427, 0).is_none(), "failure handling only in CCA-I");
    let a = ask(&mut p, &single_service("ss1", 3, 2, 3, 100));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));

    // A refused network: the MSCC says when to ask again.
    let j = GyCcr {
        session: "ss2",
        e2e: 4,
        requested: Some(1000),
        plmn: "44010",
        ..GyCcr::BASE
    };
    let a = ask(&mut p, &gy_ccr(&j));
    let m = Message::new(&a).unwrap();
    let mscc = m.find(456, 0).unwrap();
    assert_eq!(mscc.member(268, 0).and_then(|x| x.u32().ok()), Some(4010));
    assert!(
        mscc.member(448, 0).is_some(),
        "Validity-Time on the refusal"
    );

    // A real single-service gateway: Erlang/OTP with --no-mscc reads the grant.
    if let Some(peers) = peers.as_ref() {
        let mut cmd = std::process::Command::new(peers.join("erlang/gy_peer.escript"));
        cmd.args([
            "client",
            "--server",
            &g.addr().to_string(),
            "--no-mscc",
            "--updates",
            "1",
        ])
        .args([
            "--origin-host",
            "pgw-otp.test.local",
            "--request-octets",
            "5000",
        ]);
        let (ok, out) = run(&mut cmd, std::time::Duration::from_secs(60));
        assert!(ok && out.contains("GSU=CC-Total-Octets:5000"), "{out}");
    }
    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        let (ok, text) = c.dissect(peers);
        assert!(ok, "tshark found problems:\n{text}");
    }
}
