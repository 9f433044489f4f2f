//! RFC 6733 base-protocol duties of the Credit-Control server, over a raw
//! socket against `gyro serve`: Proxy-Info returned in order, Origin-State-Id
//! in every CCA, a request for another host (3002) or realm (3003) refused
//! and not charged, STR answered with an STA that releases the session, and
//! server-to-client commands refused with 3001; tshark checks every message.

mod common;

use bytes::BytesMut;
use common::*;
use gyro::diameter::builder::AvpDef;
use gyro::diameter::{codes, Message, MessageBuilder};

/// Appends AVPs to an encoded request and fixes its length.
fn with_avps(mut msg: Vec<u8>, add: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 0, 0, false, 0, 0);
    add(&mut b);
    b.finish();
    msg.extend_from_slice(&buf[20..]);
    let len = (msg.len() as u32).to_be_bytes();
    msg[1..4].copy_from_slice(&len[1..]);
    msg
}

fn proxy_info(b: &mut MessageBuilder<'_>, host: &str, state: &[u8]) {
    b.group(codes::PROXY_INFO, |b| {
        b.utf8(AvpDef::base(280), host)
            .octets(AvpDef::base(33), state);
    });
}

fn session_request(
    command: u32,
    session: &str,
    e2e: u32,
    extra: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, command, 4, true, e2e, e2e);
    b.utf8(codes::SESSION_ID, session)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4);
    extra(&mut b);
    b.finish();
    buf.to_vec()
}

fn reserved(g: &Gyro) -> u64 {
    let id = api_get(g, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    api_get(g, &format!("/api/v1/accounts/{id}/balance"))["data"]["reserved_octets"]
        .as_u64()
        .unwrap()
}

#[test]
fn base_protocol_duties_of_the_credit_control_server() {
    let g = Gyro::start("base-proto", "");
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");
    let ask = |p: &mut RawPeer, bytes: &[u8]| {
        p.send(bytes);
        p.recv().expect("an answer")
    };

    // Proxy-Info comes back byte for byte, in order; Origin-State-Id is there.
    let i = GyCcr {
        session: "bp1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let req = with_avps(gy_ccr(&i), |b| {
        proxy_info(b, "dra1.test.local", b"first");
        proxy_info(b, "dra2.test.local", b"second");
    });
    let a = ask(&mut p, &req);
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
    assert_eq!(reserved(&g), 1000);

    // For another host or realm: refused with the E bit, nothing charged.
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
    let a = ask(&mut p, &other_host);
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
        Message::new(&ask(&mut p, &ours)).unwrap().result_code(),
        Some(2001)
    );
    let other_realm = gy_ccr(&GyCcr {
        session: "bp4",
        e2e: 4,
        realm: "else.where",
        ..i
    });
    let m2 = ask(&mut p, &other_realm);
    assert_eq!(Message::new(&m2).unwrap().result_code(), Some(3003));
    assert_eq!(reserved(&g), 2000, "bp1 and bp3 only");

    // STR ends the session: an STA (not a CCA) and the reservation released.
    let str_ = session_request(275, "bp1", 10, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
        proxy_info(b, "dra1.test.local", b"str");
    });
    let a = ask(&mut p, &str_);
    let m = Message::new(&a).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (275, false));
    assert_eq!(m.result_code(), Some(2001));
    assert!(m.find(416, 0).is_none(), "no CC-Request-Type in an STA");
    assert_eq!(m.find_all(284, 0).count(), 1);
    assert_eq!(reserved(&g), 1000);
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 11,
        ..i
    };
    assert_eq!(
        Message::new(&ask(&mut p, &gy_ccr(&u)))
            .unwrap()
            .result_code(),
        Some(5002)
    );
    let again = session_request(275, "never-seen", 12, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(&mut p, &again)).unwrap().result_code(),
        Some(5002)
    );

    // Abort-Session goes from a server to its client, never to gyro.
    let asr = session_request(274, "bp3", 13, |b| {
        b.utf8(codes::DESTINATION_HOST, "gyro.test.local");
    });
    let m = ask(&mut p, &asr);
    assert_eq!(Message::new(&m).unwrap().result_code(), Some(3001));

    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        let (ok, text) = c.dissect(peers);
        assert!(ok, "tshark found problems:\n{text}");
        assert!(text.contains("Session-Termination Answer"), "{text}");
    }
}
