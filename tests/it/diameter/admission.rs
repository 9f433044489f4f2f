//! Who may connect, and what each peer may send, over real sockets: on the
//! shipped configuration a stranger on the network gets CEA 3010 and cannot
//! refund a subscriber's bundle, while tools on the machine itself still
//! connect; a listed peer from another address, and a peer posing as the
//! proxy's upstream OCS, are refused; a gateway may not send RAR.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use gyro::diameter::builder::AvpDef;
use gyro::diameter::Message;

use super::tls::metric;
use crate::support::*;

const IMSI: &str = "262019000000001";

/// An address of this machine that is not loopback, as a peer on the
/// network would connect from: the source the kernel picks towards a
/// documentation network (no packet is sent).
fn network_address() -> IpAddr {
    for probe in [
        "192.0.2.1:9",
        "198.51.100.1:9",
        "203.0.113.1:9",
        "10.255.255.1:9",
    ] {
        let Ok(s) = UdpSocket::bind("0.0.0.0:0") else {
            continue;
        };
        if s.connect(probe).is_err() {
            continue;
        }
        if let Ok(a) = s.local_addr() {
            if !a.ip().is_loopback() && !a.ip().is_unspecified() {
                return a.ip();
            }
        }
    }
    panic!("this test needs an address of this machine that is not loopback (a network interface that is up)");
}

/// The shipped configuration as it listens: on every address.
fn on_every_address(tag: &str) -> Gyro {
    Gyro::start_replacing(tag, &[("listen = \"127.0.0.1:", "listen = \"0.0.0.0:")], "")
}

/// The Result-Code, E bit and Error-Message of an answer.
pub(super) fn refusal(cea: &[u8]) -> (Option<u32>, bool, String) {
    let m = Message::new(cea).unwrap();
    let text = m
        .find(281, 0)
        .and_then(|a| a.utf8().ok())
        .unwrap_or_default();
    (m.result_code(), m.header.is_error(), text.to_string())
}

/// A CCR-EVENT REFUND_ACCOUNT of `octets` for IMSI.
fn refund(session: &str, octets: u64, origin: &str) -> Vec<u8> {
    let c = GyCcr {
        session,
        kind: 4,
        requested: Some(octets),
        origin,
        ..GyCcr::BASE
    };
    gy_ccr_with(
        &c,
        |b| {
            b.i32(AvpDef::base(436), 1);
        },
        |_| {},
    )
}

/// Usage charged from loopback, by the PGW on this machine.
fn charge_some(g: &Gyro) {
    let mut pgw = open_peer(g, "pgw.test.local");
    let i = GyCcr {
        session: "adm-1",
        requested: Some(1_000_000),
        ..GyCcr::BASE
    };
    assert_eq!(
        Message::new(&ask(&mut pgw, &gy_ccr(&i)))
            .unwrap()
            .result_code(),
        Some(2001)
    );
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 2,
        used: 600_000,
        ..i
    };
    assert_eq!(
        Message::new(&ask(&mut pgw, &gy_ccr(&u)))
            .unwrap()
            .result_code(),
        Some(2001)
    );
}

/// The story: a CER as `evil` from the network, then a refund of 100 GB
/// for a seed subscriber. The shipped door refuses the CER with 3010 and
/// closes; the refund reaches nothing and the balance stays as it was.
/// The same refund from the machine itself is served, so it was a real one.
#[test]
fn a_stranger_on_the_network_cannot_refund_a_bundle() {
    let g = on_every_address("adm-evil");
    charge_some(&g);
    let before = data_balance(&g, IMSI);
    assert_eq!(before.0, 600_000);

    let from = network_address();
    let mut evil = RawPeer::connect(SocketAddr::new(from, g.port));
    assert_eq!(
        evil.stream.local_addr().unwrap().ip(),
        from,
        "a source that is not loopback"
    );
    evil.send(&cer("evil"));
    let cea = evil.recv().expect("a CEA");
    let (rc, e_bit, why) = refusal(&cea);
    assert_eq!((rc, e_bit), (Some(3010), true), "{why}");
    assert!(why.contains("loopback only"), "{why}");
    // Whatever it sends next is never read.
    let _ = std::io::Write::write_all(&mut evil.stream, &refund("evil;1", 100_000_000_000, "evil"));
    assert!(evil.closed_by_server());
    assert_eq!(data_balance(&g, IMSI), before, "the balance is unchanged");
    assert!(g.log_text().contains("peer refused"), "{}", g.log_text());

    let mut local = open_peer(&g, "pgw.test.local");
    let a = ask(&mut local, &refund("local;1", 100_000, "pgw.test.local"));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    assert_eq!(
        data_balance(&g, IMSI).0,
        500_000,
        "a refund from loopback is served"
    );
}

/// With `[[diameter.peers]]` addresses, a listed identity from anywhere
/// else is refused, loopback included; from its own network it connects.
#[test]
fn a_listed_peer_connects_from_its_addresses_only() {
    let from = network_address();
    let peers = format!(
        "[[diameter.peers]]\norigin_host = \"pgw.test.local\"\naddresses = [\"{from}/32\"]\n"
    );
    let g = Gyro::start_replacing(
        "adm-addresses",
        &[
            ("listen = \"127.0.0.1:", "listen = \"0.0.0.0:"),
            (
                "accept_unknown_peers = \"loopback\"\n",
                &format!("accept_unknown_peers = \"loopback\"\n{peers}"),
            ),
        ],
        "",
    );
    let mut p = RawPeer::connect(g.addr());
    p.send(&cer("pgw.test.local"));
    let (rc, e_bit, why) = refusal(&p.recv().expect("a CEA"));
    assert_eq!((rc, e_bit), (Some(3010), true), "{why}");
    assert!(why.contains("may not connect from 127.0.0.1"), "{why}");
    assert!(p.closed_by_server());

    let mut ok = RawPeer::connect(SocketAddr::new(from, g.port));
    ok.send(&cer("PGW.test.local"));
    let cea = ok.recv().expect("a CEA");
    assert_eq!(Message::new(&cea).unwrap().result_code(), Some(2001));
    let listed = "gyro_diameter_peer_up{peer=\"pgw.test.local\"}";
    assert_eq!(metric(&g, listed), 1.0, "a listed peer keeps its own label");
}

/// A gateway may send credit control and STR, not RAR or ASR: those get
/// 3001 with the E bit before any application reads them, and are counted.
#[test]
fn a_gateway_may_not_send_rar_or_asr() {
    let g = Gyro::start("adm-roles", "");
    let mut p = open_peer(&g, "pgw.test.local");
    for (command, label) in [(258, "RA"), (274, "AS")] {
        let req = session_request(command, "adm-role;1", command, |b| {
            b.i32(AvpDef::base(285), 0);
        });
        let (rc, e_bit, why) = refusal(&ask(&mut p, &req));
        assert_eq!((rc, e_bit), (Some(3001), true), "{why}");
        assert!(why.contains("role gateway"), "{why}");
        let counted =
            format!("gyro_diameter_role_refusals_total{{role=\"gateway\",command=\"{label}\"}}");
        assert_eq!(metric(&g, &counted), 1.0, "{counted}");
    }
    // The connection goes on: credit control is what a gateway sends.
    let ccr = gy_ccr(&GyCcr {
        session: "adm-role;2",
        requested: Some(1000),
        ..GyCcr::BASE
    });
    assert_eq!(
        Message::new(&ask(&mut p, &ccr)).unwrap().result_code(),
        Some(2001)
    );
}

/// In proxy mode the upstream OCS may send RAR and ASR down to gateways,
/// and its election against gyro's own redial wins nothing: a peer that
/// claims the upstream's Origin-Host from another address than the one
/// gyro dials gets 3010 while gyro keeps redialling.
#[test]
fn a_peer_posing_as_the_upstream_ocs_is_refused() {
    // 127.0.0.2 is this machine's loopback too, but not where the test
    // connects from; nothing listens there, so gyro keeps redialling.
    let upstream = format!(
        "[proxy]\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.2:{}\"\n",
        free_port()
    );
    let g = Gyro::start_as(
        "adm-posing",
        "gyro.test.local",
        &upstream,
        "mode = \"proxy\"",
    );
    let mut p = RawPeer::connect(g.addr());
    p.send(&cer("ocs.test.local"));
    let (rc, e_bit, why) = refusal(&p.recv().expect("a CEA"));
    assert_eq!((rc, e_bit), (Some(3010), true), "{why}");
    assert!(why.contains("may not connect from 127.0.0.1"), "{why}");
    assert!(p.closed_by_server());
    let up = "gyro_diameter_peer_up{peer=\"ocs.test.local\"}";
    assert_eq!(
        metric(&g, up),
        0.0,
        "the impostor never counted as the upstream"
    );
    // A gateway on the same machine still connects, as a gateway.
    let _pgw = open_peer(&g, "pgw.test.local");
}

/// An OCS peer that is not one of the proxy's upstreams may connect, but
/// its RAR and ASR go neither down to the gateways nor up: 3001.
#[test]
fn in_proxy_mode_only_the_upstreams_send_rar_or_asr() {
    let extra = format!(
        "[proxy]\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.2:{}\"\n\
         [[diameter.peers]]\norigin_host = \"other-ocs.test.local\"\nrole = \"ocs\"\n\
         addresses = [\"127.0.0.1\"]\n",
        free_port()
    );
    let g = Gyro::start_as(
        "adm-other-ocs",
        "gyro.test.local",
        &extra,
        "mode = \"proxy\"",
    );
    let mut p = open_peer(&g, "other-ocs.test.local");
    for command in [258, 274] {
        let req = session_request(command, "adm-other;1", command, |b| {
            b.utf8(gyro::diameter::codes::DESTINATION_HOST, "pgw.test.local");
            b.i32(AvpDef::base(285), 0);
        });
        let (rc, e_bit, why) = refusal(&ask(&mut p, &req));
        assert_eq!((rc, e_bit), (Some(3001), true), "{why}");
        assert!(why.contains("upstreams"), "{why}");
    }
}
