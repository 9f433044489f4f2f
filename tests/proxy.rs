//! Proxy mode against real upstreams: gyro in embedded mode as the OCS (so
//! the canonical identity must resolve there and the right balance move),
//! and Erlang/OTP servers that stall (`--no-answer`), refuse (3004) or die,
//! with the Erlang/OTP client as the PGW. tshark checks what gyro forwards.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gyro::diameter::Message;

/// A child process killed (and reaped) when the test is done with it.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Erlang/OTP OCS on `port`; its output goes to `dir/<host>.out`.
fn erlang_ocs(g: &Gyro, port: u16, host: &str, extra: &[&str]) -> Peer {
    let peers = peers_dir().expect("peers");
    let out = std::fs::File::create(g.dir.join(format!("{host}.out"))).unwrap();
    let mut c = Command::new(peers.join("erlang/gy_peer.escript"));
    c.args(["server", "--port", &port.to_string(), "--origin-host", host])
        .args(extra)
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let child = Peer(c.spawn().unwrap());
    assert!(
        wait_listening(port, 30),
        "the Erlang OCS {host} did not start"
    );
    child
}

fn proxy_config(upstreams: &[(&str, u16, u32)], identity: &str) -> String {
    let mut s = format!("[proxy]\ntx = \"1s\"\nidentity = \"{identity}\"\n");
    for (host, port, priority) in upstreams {
        s += &format!(
            "[[proxy.upstream]]\norigin_host = \"{host}\"\nconnect = \"127.0.0.1:{port}\"\npriority = {priority}\n"
        );
    }
    s
}

fn metrics(g: &Gyro) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", g.metrics_port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Waits until the proxy's connections to `hosts` are up.
fn wait_upstreams(g: &Gyro, hosts: &[&str]) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let m = metrics(g);
        if hosts
            .iter()
            .all(|h| m.contains(&format!("gyro_diameter_peer_up{{peer=\"{h}\"}} 1")))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("upstreams {hosts:?} not up:\n{}", metrics(g));
}

/// The Erlang/OTP PGW: `sessions` sessions of CCR-I, one CCR-U, CCR-T.
fn pgw(g: &Gyro, origin: &str, imsi: &str, sessions: u32) -> (bool, String) {
    let peers = peers_dir().expect("peers");
    let mut c = Command::new(peers.join("erlang/gy_peer.escript"));
    c.args([
        "client",
        "--server",
        &g.addr().to_string(),
        "--origin-host",
        origin,
    ])
    .args([
        "--imsi",
        imsi,
        "--sessions",
        &sessions.to_string(),
        "--updates",
        "1",
    ])
    .args(["--request-octets", "1000", "--used-octets", "700"])
    .stdin(Stdio::null());
    run(&mut c, Duration::from_secs(90))
}

fn used_octets(g: &Gyro, imsi: &str) -> u64 {
    let id = api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap();
    api_get(g, &format!("/api/v1/accounts/{id}/balance"))["data"]["used_octets"]
        .as_u64()
        .unwrap()
}

#[test]
fn every_imsi_of_a_profile_reaches_the_ocs_as_one_identity() {
    // The OCS: gyro itself, embedded, with the same seed.
    let ocs = Gyro::start_as("px-ocs", "ocs.test.local", "", "location_triggers = false");
    let proxy = Gyro::start_as(
        "px",
        "gyro-proxy.test.local",
        &proxy_config(&[("ocs.test.local", ocs.port, 1)], "msisdn"),
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let peers = peers_dir().expect("peers");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, ocs.port]);
    // Home IMSI from the PGW; Partner X's IMSI through its translating proxy.
    let (ok, out) = pgw(&proxy, "pgw.test.local", "262019000000001", 1);
    assert!(ok, "{out}");
    let (ok, out) = pgw(&proxy, "gy.partner-x.example", "262019000000001", 1);
    assert!(ok, "{out}");
    // Both sessions charged the one account upstream: 2 × (700 + 700).
    assert_eq!(used_octets(&ocs, "262019000000001"), 2800);
    // The proxy kept no balance of its own.
    assert_eq!(used_octets(&proxy, "262019000000001"), 0);
    let (clean, text) = cap.dissect_with(&peers, &["--avps"]);
    assert!(clean, "tshark found problems:\n{text}");
    assert!(
        text.contains("val=491700000001@msisdn"),
        "canonical User-Name:\n{text}"
    );
    assert!(text.contains("Route-Record(282)"), "Route-Record:\n{text}");
    // Wholesale xDRs of the relayed usage, tagged with the upstream.
    let xdrs = std::fs::read_dir(proxy.dir.join("data/xdr"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let lines: Vec<serde_json::Value> = xdrs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty(), "no wholesale xDRs");
    for l in &lines {
        assert_eq!(l["mode"], "proxy");
        assert_eq!(l["upstream"], "ocs.test.local");
        assert_eq!(l["upstream_result"], 2001);
        assert!(l.get("used_after").is_none());
    }
}

#[test]
fn an_unknown_subscriber_is_refused_without_asking_the_ocs() {
    let ocs = Gyro::start_as("px-ocs2", "ocs.test.local", "", "");
    let proxy = Gyro::start_as(
        "px2",
        "gyro-proxy.test.local",
        &proxy_config(&[("ocs.test.local", ocs.port, 1)], "iccid"),
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
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
fn failover_on_silence_on_3004_and_on_a_dead_upstream() {
    let anchor = Gyro::start("px-anchor", "");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let _mute = erlang_ocs(&anchor, p1, "ocs1.test.local", &["--no-answer"]);
    let busy = erlang_ocs(&anchor, p2, "ocs2.test.local", &["--result-code", "3004"]);
    let good = erlang_ocs(&anchor, p3, "ocs3.test.local", &[]);
    let proxy = Gyro::start_as(
        "px3",
        "gyro-proxy.test.local",
        &proxy_config(
            &[
                ("ocs1.test.local", p1, 1),
                ("ocs2.test.local", p2, 2),
                ("ocs3.test.local", p3, 3),
            ],
            "msisdn",
        ),
        "mode = \"proxy\"",
    );
    wait_upstreams(
        &proxy,
        &["ocs1.test.local", "ocs2.test.local", "ocs3.test.local"],
    );
    let peers = peers_dir().expect("peers");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, p1, p2, p3]);
    // ocs1 never answers (Tx), ocs2 is busy: ocs3 answers each request once.
    for _ in 0..2 {
        let (ok, out) = pgw(&proxy, "pgw.test.local", "262019000000001", 1);
        assert!(ok, "{out}");
        assert_eq!(
            out.matches("Result-Code=2001").count(),
            3,
            "one answer per request:\n{out}"
        );
    }
    let (_, text) = cap.dissect_with(&peers, &["--avps"]);
    let to = |port: u16| {
        text.lines()
            .filter(|l| {
                l.contains("Credit-Control Request")
                    && l.split_whitespace().nth(2) == Some(&port.to_string())
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // Each CCR-I tried ocs1 (silent past Tx), then ocs2 (3004) with the T
    // flag, then ocs3; the session then stays on ocs3 (RFC 4006 §5.7): its
    // CCR-U and CCR-T go there first, without T.
    assert_eq!(to(p1).len(), 2, "{text}");
    assert_eq!(to(p2).len(), 2, "{text}");
    assert!(
        to(p2).iter().all(|l| l.contains("flags=RP-T")),
        "T flag on failover:\n{text}"
    );
    let at3 = to(p3);
    assert_eq!(at3.len(), 6, "{text}");
    assert_eq!(
        at3.iter().filter(|l| l.contains("flags=RP-T")).count(),
        2,
        "{text}"
    );
    assert!(!text.contains("malformed frames: 1"), "{text}");
    // With every upstream gone, the gateway gets 3002 at once.
    drop(good);
    drop(busy);
    let mut p = open_peer(&proxy, "pgw.test.local");
    let started = Instant::now();
    let a = ask(
        &mut p,
        &gy_ccr(&GyCcr {
            session: "after",
            requested: Some(1000),
            ..GyCcr::BASE
        }),
    );
    let rc = Message::new(&a).unwrap().result_code();
    assert!(rc == Some(3002), "{rc:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
