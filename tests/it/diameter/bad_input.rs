//! Malformed Diameter over a real socket: every case gets the RFC 6733 answer
//! or a clean disconnect, gyro never falls over, and other peers keep being served.

use crate::support::*;
use bytes::BytesMut;
use gyro::diameter::codes;
use gyro::diameter::{Message, MessageBuilder};

fn dwr(hbh: u32, f: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 280, 0, false, hbh, hbh);
    f(&mut b);
    b.finish();
    buf.to_vec()
}

fn good_dwr(hbh: u32) -> Vec<u8> {
    dwr(hbh, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local");
    })
}

fn open(gyro: &Gyro, host: &str) -> RawPeer {
    open_peer(gyro, host)
}

struct Answer {
    result: Option<u32>,
    error_bit: bool,
    hbh: u32,
    failed_avp_code: Option<u32>,
}

fn answer(p: &mut RawPeer) -> Answer {
    let bytes = p.recv().expect("an answer");
    let m = Message::new(&bytes).expect("a parseable answer");
    assert!(!m.header.is_request());
    Answer {
        result: m.result_code(),
        error_bit: m.header.is_error(),
        hbh: m.header.hop_by_hop,
        failed_avp_code: m
            .find(279, 0)
            .and_then(|f| f.grouped().next())
            .and_then(|a| a.ok())
            .map(|a| a.code),
    }
}

#[test]
fn malformed_requests_get_rfc_answers_and_the_connection_survives() {
    let gyro = Gyro::start("bad-answers", "");
    let mut p = open(&gyro, "raw.test.local");

    // Missing mandatory AVP: DWR without Origin-Realm → 5005, Failed-AVP names it.
    p.send(&dwr(10, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local");
    }));
    let a = answer(&mut p);
    assert_eq!(
        (a.result, a.hbh, a.failed_avp_code),
        (Some(5005), 10, Some(296))
    );
    assert!(!a.error_bit, "5xxx keeps the E bit clear");

    // Unknown AVP with the M bit → 5001 with that AVP.
    p.send(&dwr(11, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local")
            .u32(gyro::diameter::AvpDef::vendor(4242, 99999, true), 1);
    }));
    let a = answer(&mut p);
    assert_eq!((a.result, a.failed_avp_code), (Some(5001), Some(4242)));

    // Origin-Host twice → 5009, Failed-AVP names the extra one.
    p.send(&dwr(21, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local")
            .utf8(codes::ORIGIN_HOST, "again.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local");
    }));
    let a = answer(&mut p);
    assert_eq!((a.result, a.failed_avp_code), (Some(5009), Some(264)));

    // An unknown AVP without the M bit is ignored.
    p.send(&dwr(12, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local")
            .u32(gyro::diameter::AvpDef::vendor(4242, 99999, false), 1);
    }));
    assert_eq!(answer(&mut p).result, Some(2001));

    // E bit in a request → 3008, answered with the E bit.
    let mut m = good_dwr(13);
    m[4] |= 0x20;
    p.send(&m);
    let a = answer(&mut p);
    assert_eq!((a.result, a.error_bit), (Some(3008), true));

    // Reserved AVP flag bits → 3009.
    let mut m = good_dwr(14);
    m[20 + 4] |= 0x01;
    p.send(&m);
    assert_eq!(answer(&mut p).result, Some(3009));

    // Wrong version → 5011.
    let mut m = good_dwr(15);
    m[0] = 2;
    p.send(&m);
    assert_eq!(answer(&mut p).result, Some(5011));

    // Truncated AVP: its length runs past the message → 5014.
    let mut m = good_dwr(16);
    m[20 + 7] = 200;
    p.send(&m);
    let a = answer(&mut p);
    assert_eq!((a.result, a.failed_avp_code), (Some(5014), Some(264)));

    // Unsigned32 with 3 octets of data → 5014.
    let mut m = dwr(17, |b| {
        b.utf8(codes::ORIGIN_HOST, "raw.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local")
            .octets(codes::ORIGIN_STATE_ID, &[0, 0, 1]);
    });
    p.send(&m);
    assert_eq!(answer(&mut p).result, Some(5014));

    // Origin-Host that is not an ASCII identity → 5004.
    m = dwr(18, |b| {
        b.octets(codes::ORIGIN_HOST, &[0xff, 0xfe])
            .utf8(codes::ORIGIN_REALM, "test.local");
    });
    p.send(&m);
    assert_eq!(answer(&mut p).result, Some(5004));

    // An application nobody serves → 3007 with the E bit.
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 316, 16777251, true, 19, 19);
    b.utf8(codes::SESSION_ID, "raw;1")
        .utf8(codes::ORIGIN_HOST, "raw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    p.send(&buf);
    let a = answer(&mut p);
    assert_eq!((a.result, a.error_bit), (Some(3007), true));

    // After all that, the connection still works.
    p.send(&good_dwr(20));
    let a = answer(&mut p);
    assert_eq!((a.result, a.hbh), (Some(2001), 20));
}

#[test]
fn unframeable_bytes_close_only_that_connection() {
    let gyro = Gyro::start("bad-framing", "");
    let mut healthy = open(&gyro, "healthy.test.local");

    // Plain garbage: the length field reads as absurd → disconnect.
    let mut g = open(&gyro, "garbage.test.local");
    g.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(g.closed_by_server(), "garbage must close the connection");

    // A header claiming 8 octets can never frame → disconnect.
    let mut s = open(&gyro, "short.test.local");
    s.send(&[1, 0, 0, 8, 0x80, 0, 1, 24]);
    assert!(s.closed_by_server());

    // Bytes before any CER → the connection is dropped (RFC 6733 §5.6.1).
    let mut n = RawPeer::connect(gyro.addr());
    n.send(&good_dwr(1));
    assert!(n.closed_by_server());

    // A CER without Origin-Host → CEA 5005, then close.
    let mut c = RawPeer::connect(gyro.addr());
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 257, 0, false, 1, 1);
    b.utf8(codes::ORIGIN_REALM, "test.local")
        .address(codes::HOST_IP_ADDRESS, "127.0.0.1".parse().unwrap())
        .u32(codes::VENDOR_ID, 0)
        .utf8(codes::PRODUCT_NAME, "x");
    b.finish();
    c.send(&buf);
    let cea = c.recv().expect("CEA");
    assert_eq!(Message::new(&cea).unwrap().result_code(), Some(5005));
    assert!(c.closed_by_server());

    // A CER naming no common application → 5010.
    let mut c = RawPeer::connect(gyro.addr());
    let mut v = cer("gx.test.local");
    let n = v.len();
    v[n - 4..].copy_from_slice(&16777238u32.to_be_bytes());
    c.send(&v);
    let cea = c.recv().expect("CEA");
    assert_eq!(Message::new(&cea).unwrap().result_code(), Some(5010));

    // The healthy peer was never disturbed.
    healthy.send(&good_dwr(77));
    let a = answer(&mut healthy);
    assert_eq!((a.result, a.hbh), (Some(2001), 77));
}

#[test]
fn unknown_peers_are_refused_when_an_allow_list_is_configured() {
    let dir = temp_dir("allow-list-2");
    let port = free_port();
    let cfg = config_text(&dir, port, free_port(), free_port(), "").replace(
        "accept_unknown_peers = \"loopback\"",
        "accept_unknown_peers = false\n[[diameter.peers]]\norigin_host = \"pgw.test.local\"",
    );
    std::fs::write(dir.join("gyro.toml"), cfg).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(dir.join("gyro.toml"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_listening(port, 20));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut p = RawPeer::connect(addr);
    p.send(&cer("stranger.test.local"));
    let cea = p.recv().expect("CEA");
    let m = Message::new(&cea).unwrap();
    assert_eq!(m.result_code(), Some(3010));
    assert!(m.header.is_error());
    assert!(p.closed_by_server());
    let mut ok = RawPeer::connect(addr);
    ok.send(&cer("pgw.test.local"));
    assert_eq!(
        Message::new(&ok.recv().unwrap()).unwrap().result_code(),
        Some(2001)
    );
    let _ = child.kill();
    let _ = child.wait();
}
