//! The door under load, over real sockets: a connection cap that closes
//! the connections past it at once; a connection that names no one within
//! `cer_timeout`, or opens with more than a CER could be, is closed; peers
//! no rule lists share one metric label however many names they make up;
//! and past `max_inflight` requests the node answers 3004 at once.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use gyro::diameter::{codes, Message, MessageBuilder};

use super::tls::metric;
use crate::support::*;

/// How long the server took to close `p`, within `secs`; None if it did not.
fn closed_within(p: &mut RawPeer, secs: u64) -> Option<Duration> {
    let t0 = Instant::now();
    p.stream
        .set_read_timeout(Some(Duration::from_secs(secs)))
        .unwrap();
    p.closed_by_server().then(|| t0.elapsed())
}

/// Three connections are the cap: a fourth is closed at once and counted;
/// once one of the three goes, a new one is served.
#[test]
fn connections_past_the_cap_are_closed_at_once() {
    let g = Gyro::start("door-cap", "max_connections = 3\ncer_timeout = \"60s\"");
    // The start-up probes' connections are gone by then.
    std::thread::sleep(Duration::from_millis(500));
    let mut held: Vec<RawPeer> = (0..3).map(|_| RawPeer::connect(g.addr())).collect();
    let _open = {
        let p = &mut held[0];
        p.send(&cer("pgw.test.local"));
        p.recv().expect("a CEA within the cap")
    };
    let mut fourth = RawPeer::connect(g.addr());
    let took = closed_within(&mut fourth, 5).expect("the fourth connection closed");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    let refused = "gyro_diameter_connections_refused_total{reason=\"max_connections\"}";
    assert_eq!(metric(&g, refused), 1.0);
    assert!(g.log_text().contains("diameter.max_connections reached"));

    drop(held.pop());
    wait_until(5, "a place to come free", || {
        let mut p = RawPeer::connect(g.addr());
        p.send(&cer("pgw2.test.local"));
        p.recv().is_some()
    });
}

/// A connection that sends nothing is closed after `cer_timeout`; one that
/// opens with a header claiming 60,000 octets (allowed after CER, far
/// more than a CER) is closed at once, before the rest is read.
#[test]
fn before_cer_a_connection_gets_little_time_and_room() {
    let g = Gyro::start("door-pre-cer", "cer_timeout = \"1s\"");
    let mut silent = RawPeer::connect(g.addr());
    let took = closed_within(&mut silent, 8).expect("a silent connection closed");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");

    let mut big = RawPeer::connect(g.addr());
    let mut claim = cer("pgw.test.local");
    let len = 60_000u32.to_be_bytes();
    claim[1..4].copy_from_slice(&len[1..]);
    big.send(&claim);
    let took = closed_within(&mut big, 8).expect("an oversized first message closed");
    assert!(took < Duration::from_millis(500), "closed after {took:?}");
    let counted = "gyro_diameter_connections_refused_total{reason=\"oversized_cer\"}";
    assert_eq!(metric(&g, counted), 1.0);

    // After CEA a message that size is an ordinary one.
    let mut p = open_peer(&g, "pgw.test.local");
    let ccr = gy_ccr(&GyCcr {
        requested: Some(1000),
        ..GyCcr::BASE
    });
    let padded = with_avps(ccr, |b| {
        b.octets(gyro::diameter::builder::AvpDef::base(1), &vec![b'x'; 8000]);
    });
    let m = ask(&mut p, &padded);
    assert_ne!(Message::new(&m).unwrap().result_code(), None);
}

/// The metrics' sample lines that start with `prefix`.
fn samples(g: &Gyro, prefix: &str) -> Vec<String> {
    let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Twenty peers with made-up names: one `peer="other"` series counts them,
/// none carries their names; a listed peer keeps its own.
#[test]
fn unlisted_peers_share_one_metric_label() {
    let listed = "[[diameter.peers]]\norigin_host = \"pgw.test.local\"";
    let g = Gyro::start("door-labels", listed);
    let _pgw = open_peer(&g, "pgw.test.local");
    let made_up: Vec<RawPeer> = (0..20)
        .map(|i| open_peer(&g, &format!("made-up-{i}.example")))
        .collect();
    let up = samples(&g, "gyro_diameter_peer_up");
    assert!(up.iter().all(|l| !l.contains("made-up")), "{up:?}");
    assert_eq!(
        metric(&g, "gyro_diameter_peer_up{peer=\"other\"}"),
        20.0,
        "{up:?}"
    );
    assert_eq!(
        metric(&g, "gyro_diameter_peer_up{peer=\"pgw.test.local\"}"),
        1.0
    );
    let watchdog = samples(&g, "gyro_diameter_peer_watchdog_state");
    assert!(
        watchdog.iter().all(|l| !l.contains("made-up")),
        "{watchdog:?}"
    );
    drop(made_up);
    wait_until(5, "the unlisted peers to be counted down", || {
        metric(&g, "gyro_diameter_peer_up{peer=\"other\"}") == 0.0
    });
}

/// An OCS that completes CER/CEA as ocs.test.local and then answers
/// nothing: whatever the proxy forwards stays in flight until Tx.
fn silent_ocs(listener: TcpListener) {
    std::thread::spawn(move || {
        let Ok((s, _)) = listener.accept() else {
            return;
        };
        let mut p = RawPeer { stream: s };
        p.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let Some(cer) = p.recv() else { return };
        let h = Message::new(&cer).unwrap().header;
        let mut buf = bytes::BytesMut::new();
        let mut b = MessageBuilder::answer(&mut buf, &h, false);
        b.u32(codes::RESULT_CODE, 2001)
            .utf8(codes::ORIGIN_HOST, "ocs.test.local")
            .utf8(codes::ORIGIN_REALM, "test.local")
            .address(codes::HOST_IP_ADDRESS, "127.0.0.1".parse().unwrap())
            .u32(codes::VENDOR_ID, 0)
            .utf8(codes::PRODUCT_NAME, "silent-ocs")
            .u32(codes::AUTH_APPLICATION_ID, 4);
        b.finish();
        p.send(&buf);
        while p.recv().is_some() {}
    });
}

/// Proxy mode in front of an OCS that never answers, with room for two
/// requests in flight: two CCRs wait for Tx, the third is answered 3004 at
/// once and counted.
#[test]
fn past_max_inflight_requests_get_3004_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    silent_ocs(listener);
    let proxy = format!(
        "max_inflight = 2\n[proxy]\ntx = \"20s\"\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{port}\"\n"
    );
    let g = Gyro::start_as(
        "door-inflight",
        "gyro.test.local",
        &proxy,
        "mode = \"proxy\"",
    );
    wait_until(20, "the upstream up", || {
        metric(&g, "gyro_diameter_peer_up{peer=\"ocs.test.local\"}") == 1.0
    });
    let mut p = open_peer(&g, "pgw.test.local");
    for (i, session) in ["door-if;1", "door-if;2"].iter().enumerate() {
        let e2e = i as u32 + 1;
        p.send(&gy_ccr(&GyCcr {
            session,
            e2e,
            requested: Some(1000),
            ..GyCcr::BASE
        }));
    }
    let third = gy_ccr(&GyCcr {
        session: "door-if;3",
        e2e: 3,
        requested: Some(1000),
        ..GyCcr::BASE
    });
    let t0 = Instant::now();
    p.stream.write_all(&third).unwrap();
    let a = p.recv().expect("an answer to the third");
    let m = Message::new(&a).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(m.header.end_to_end, 3, "the third is answered first");
    assert_eq!((m.result_code(), m.header.is_error()), (Some(3004), true));
    assert_eq!(metric(&g, "gyro_diameter_busy_refusals_total"), 1.0);
}
