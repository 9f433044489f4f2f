//! RFC 4006 server conformance over a real socket: retransmissions are
//! answered from the store and never charged twice, out-of-order updates are
//! accepted, CCR-T without updates works, CCR-U after CCR-T gets 5002 (its
//! usage charged), sessions gyro lost are re-created and charged, unknown
//! subscribers get 5030, Tcc releases reservations, and kill -9 mid-traffic
//! loses no acknowledged usage.

use std::time::Duration;

use crate::support::{GyCcr as Ccr, *};
use bytes::BytesMut;

fn ccr(c: &Ccr<'_>) -> Vec<u8> {
    gy_ccr(c)
}
use gyro::diameter::builder::AvpDef;
use gyro::diameter::dictionary::VENDOR_3GPP;
use gyro::diameter::{codes, Message, MessageBuilder};

struct Cca {
    bytes: Vec<u8>,
    result: Option<u32>,
    granted: Option<u64>,
    hbh: u32,
}

fn send(p: &mut RawPeer, c: &Ccr<'_>) -> Cca {
    p.send(&ccr(c));
    let bytes = p.recv().expect("a CCA");
    let m = Message::new(&bytes).unwrap();
    let mscc = m.find(456, 0);
    Cca {
        result: m.result_code(),
        granted: mscc
            .and_then(|x| x.member(431, 0))
            .and_then(|g| g.member(421, 0))
            .and_then(|a| a.u64().ok()),
        hbh: m.header.hop_by_hop,
        bytes,
    }
}

fn open(g: &Gyro) -> RawPeer {
    open_peer(g, "pgw.test.local")
}

fn used(g: &Gyro) -> (u64, u64) {
    let id = api_get(g, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let b = api_get(g, &format!("/api/v1/accounts/{id}/balance"));
    (
        b["data"]["used_octets"].as_u64().unwrap(),
        b["data"]["reserved_octets"].as_u64().unwrap(),
    )
}

const IMSI: &str = "262019000000001";

/// A CCR on `IMSI` asking for 1000 octets.
fn base(session: &'static str, kind: u32, number: u32, e2e: u32) -> Ccr<'static> {
    Ccr {
        session,
        kind,
        number,
        e2e,
        imsi: IMSI,
        requested: Some(1000),
        used: 0,
        retransmit: false,
        ..Ccr::BASE
    }
}

#[test]
fn session_rules() {
    let g = Gyro::start("conf-session", "");
    let mut p = open(&g);
    a_duplicate_update_is_answered_from_the_store(&g, &mut p);
    out_of_order_updates_then_nothing_after_the_termination(&g, &mut p);
    sessions_gyro_lost_unknown_subscribers_and_reused_ids(&g, &mut p);
}

/// Duplicate U: same number and End-to-End id, T flag → the stored answer,
/// with the new Hop-by-Hop id, charged once.
fn a_duplicate_update_is_answered_from_the_store(g: &Gyro, p: &mut RawPeer) {
    assert_eq!(send(p, &base("s1", 1, 0, 100)).result, Some(2001));
    let u = Ccr {
        used: 700,
        ..base("s1", 2, 1, 101)
    };
    let first = send(p, &u);
    assert_eq!(first.result, Some(2001));
    let mut again = ccr(&Ccr {
        retransmit: true,
        ..u
    });
    again[12..16].copy_from_slice(&555u32.to_be_bytes());
    p.send(&again);
    let second = p.recv().unwrap();
    assert_eq!(Message::new(&second).unwrap().header.hop_by_hop, 555);
    assert_eq!(
        second[16..],
        first.bytes[16..],
        "same answer apart from Hop-by-Hop"
    );
    assert_eq!(first.hbh, 101);
    assert_eq!(used(g).0, 700, "charged once");
}

/// Out-of-order updates are accepted; after the CCR-T an update gets 5002.
fn out_of_order_updates_then_nothing_after_the_termination(g: &Gyro, p: &mut RawPeer) {
    assert_eq!(
        send(
            p,
            &Ccr {
                used: 10,
                ..base("s1", 2, 3, 103)
            }
        )
        .result,
        Some(2001)
    );
    assert_eq!(
        send(
            p,
            &Ccr {
                used: 20,
                ..base("s1", 2, 2, 102)
            }
        )
        .result,
        Some(2001)
    );
    assert_eq!(used(g).0, 730);
    // CCR-T, then a CCR-U after it → 5002.
    assert_eq!(
        send(
            p,
            &Ccr {
                requested: None,
                used: 5,
                ..base("s1", 3, 4, 104)
            }
        )
        .result,
        Some(2001)
    );
    assert_eq!(send(p, &base("s1", 2, 5, 105)).result, Some(5002));
    assert_eq!(used(g), (735, 0), "the T released the reservation");
}

/// CCR-T straight after CCR-I; a session gyro lost is re-created and
/// charged; an unknown subscriber gets 5030; a reused Session-Id with a new
/// End-to-End id is a new request.
fn sessions_gyro_lost_unknown_subscribers_and_reused_ids(g: &Gyro, p: &mut RawPeer) {
    assert_eq!(send(p, &base("s2", 1, 0, 200)).result, Some(2001));
    assert_eq!(
        send(
            p,
            &Ccr {
                requested: None,
                ..base("s2", 3, 1, 201)
            }
        )
        .result,
        Some(2001)
    );
    // An update for a session gyro never saw (a restart, another node): it
    // is resolved from its own identities, charged and answered.
    let lost = send(
        p,
        &Ccr {
            used: 65,
            ..base("nobody", 2, 1, 300)
        },
    );
    assert_eq!((lost.result, lost.granted), (Some(2001), Some(1000)));
    assert_eq!(used(g), (800, 1000));
    // Unknown subscriber.
    let unknown = Ccr {
        imsi: "262019999999999",
        ..base("s3", 1, 0, 400)
    };
    assert_eq!(send(p, &unknown).result, Some(5030));
    // A Session-Id reused with a new End-to-End id is a new request.
    let r = send(p, &base("s1", 1, 0, 500));
    assert_eq!((r.result, r.granted), (Some(2001), Some(1000)));
}

#[test]
fn tcc_releases_a_silent_sessions_reservation() {
    let g = Gyro::start_with_short_validity("conf-tcc");
    let mut p = open(&g);
    let i = send(
        &mut p,
        &Ccr {
            session: "t1",
            kind: 1,
            number: 0,
            e2e: 1,
            imsi: IMSI,
            requested: Some(4000),
            used: 0,
            retransmit: false,
            ..Ccr::BASE
        },
    );
    assert_eq!(i.granted, Some(4000));
    assert_eq!(used(&g).1, 4000);
    // Tcc = 2 × Validity-Time = 2 s; the sweep runs every second.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(used(&g), (0, 0));
    let u = send(
        &mut p,
        &Ccr {
            session: "t1",
            kind: 2,
            number: 1,
            e2e: 2,
            imsi: IMSI,
            requested: Some(1),
            used: 1,
            retransmit: false,
            ..Ccr::BASE
        },
    );
    assert_eq!(
        (u.result, u.granted),
        (Some(2001), Some(1)),
        "the gateway was only slow: the session goes on"
    );
    assert_eq!(used(&g), (1, 1), "its usage is charged");
}

/// Sequential CCR-U with 1000 octets each until kill -9; after a restart the
/// balance holds at least every acknowledged report.
#[test]
fn kill_9_loses_no_acknowledged_usage() {
    let mut g = Gyro::start("conf-kill", "");
    let dir = g.dir.clone();
    let (before, _) = used(&g);
    let mut p = open(&g);
    assert_eq!(
        send(
            &mut p,
            &Ccr {
                session: "k",
                kind: 1,
                number: 0,
                e2e: 1,
                imsi: IMSI,
                requested: Some(1000),
                used: 0,
                retransmit: false,
                ..Ccr::BASE
            }
        )
        .result,
        Some(2001)
    );
    let pid = g.child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    });
    let mut acked = 0u64;
    for n in 1..1_000_000u32 {
        p.send(&ccr(&Ccr {
            session: "k",
            kind: 2,
            number: n,
            e2e: 1 + n,
            imsi: IMSI,
            requested: Some(1000),
            used: 1000,
            retransmit: false,
            ..Ccr::BASE
        }));
        match p.recv() {
            Some(b) if Message::new(&b).and_then(|m| m.result_code()) == Some(2001) => {
                acked += 1000
            }
            _ => break,
        }
    }
    killer.join().unwrap();
    let _ = g.child.wait();
    assert!(acked > 0, "no request was answered before the kill");
    drop(g);
    let g = Gyro::restart("conf-kill-2", &dir);
    let (after, _) = used(&g);
    assert!(
        after - before >= acked,
        "acknowledged {acked} octets, only {} survived",
        after - before
    );
}

/// A Ro (IMS) voice request: CC-Time units, Called-Party-Address, Role-Of-Node,
/// location from IMS-Visited-Network-Identifier.
fn voice(
    session: &str,
    kind: i32,
    number: u32,
    e2e: u32,
    role: i32,
    called: &str,
    used: u32,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, e2e, e2e);
    b.utf8(codes::SESSION_ID, session)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(461), "32260@3gpp.org")
        .i32(AvpDef::base(416), kind)
        .u32(AvpDef::base(415), number)
        .utf8(codes::USER_NAME, &format!("{IMSI}@imsi"));
    b.group(AvpDef::base(456), |b| {
        if kind != 3 {
            b.group(AvpDef::base(437), |b| {
                b.u32(AvpDef::base(420), 600);
            });
        }
        if used > 0 {
            b.group(AvpDef::base(446), |b| {
                b.u32(AvpDef::base(420), used);
            });
        }
    });
    b.group(AvpDef::vendor(873, VENDOR_3GPP, true), |b| {
        b.group(AvpDef::vendor(876, VENDOR_3GPP, true), |b| {
            b.i32(AvpDef::vendor(862, VENDOR_3GPP, true), 6)
                .i32(AvpDef::vendor(829, VENDOR_3GPP, true), role)
                .utf8(AvpDef::vendor(832, VENDOR_3GPP, true), called)
                .utf8(
                    AvpDef::vendor(2713, VENDOR_3GPP, true),
                    "ims.mnc077.mcc213.3gppnetwork.org",
                );
        });
    });
    b.finish();
    buf.to_vec()
}

fn voice_answer(p: &mut RawPeer, req: &[u8]) -> (Option<u32>, Option<u32>, Option<u32>) {
    p.send(req);
    let bytes = p.recv().expect("a CCA");
    let m = Message::new(&bytes).unwrap();
    let mscc = m.find(456, 0);
    (
        m.result_code(),
        mscc.and_then(|x| x.member(268, 0))
            .and_then(|a| a.u32().ok()),
        mscc.and_then(|x| x.member(431, 0))
            .and_then(|g| g.member(420, 0))
            .and_then(|a| a.u32().ok()),
    )
}

#[test]
fn ro_voice_is_charged_on_the_minutes_for_allowed_destinations() {
    let g = Gyro::start("conf-voice", "");
    let mut p = open(&g);
    // Outgoing to Germany from Andorra (213-77): granted 300 s (the grant size), then 120 s used.
    assert_eq!(
        voice_answer(&mut p, &voice("v1", 1, 0, 1, 0, "tel:+4930123456", 0)),
        (Some(2001), Some(2001), Some(300))
    );
    assert_eq!(
        voice_answer(&mut p, &voice("v1", 3, 1, 2, 0, "tel:+4930123456", 120)).0,
        Some(2001)
    );
    // Outgoing to the US is not in the EU bundle's destinations.
    assert_eq!(
        voice_answer(
            &mut p,
            &voice("v2", 1, 0, 3, 0, "sip:+12125551234@ims.example", 0)
        )
        .1,
        Some(4010)
    );
    // Incoming from anywhere is allowed.
    assert_eq!(
        voice_answer(&mut p, &voice("v3", 1, 0, 4, 1, "tel:+4930123456", 0)).2,
        Some(300)
    );
    let id = api_get(&g, &format!("/api/v1/imsis/{IMSI}"))["account"]["id"]
        .as_u64()
        .unwrap();
    let b = api_get(&g, &format!("/api/v1/accounts/{id}/balance"));
    assert_eq!(b["voice"]["used_seconds"], 120);
    assert_eq!(
        b["voice"]["reserved_seconds"], 300,
        "the incoming call's reservation"
    );
    assert_eq!(
        b["data"]["used_octets"], 0,
        "voice never touches the data allowance"
    );
}
