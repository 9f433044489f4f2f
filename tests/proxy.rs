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

/// gyro in proxy mode in front of the gyro OCS `ocs`, connected to it.
fn proxy_before(tag: &str, ocs: &Gyro, identity: &str) -> Gyro {
    let cfg = proxy_config(&[("ocs.test.local", ocs.port, 1)], identity);
    let proxy = Gyro::start_as(tag, "gyro-proxy.test.local", &cfg, "mode = \"proxy\"");
    wait_upstreams(&proxy, &["ocs.test.local"]);
    proxy
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
    pgw_at(g, origin, imsi, sessions, &[])
}

fn pgw_at(g: &Gyro, origin: &str, imsi: &str, sessions: u32, extra: &[&str]) -> (bool, String) {
    let peers = peers_dir().expect("peers");
    let mut c = Command::new(peers.join("erlang/gy_peer.escript"));
    let n = sessions.to_string();
    c.args([
        "client",
        "--server",
        &g.addr().to_string(),
        "--origin-host",
        origin,
    ])
    .args(["--imsi", imsi, "--sessions", &n, "--updates", "1"])
    .args(["--request-octets", "1000", "--used-octets", "700"])
    .args(extra)
    .stdin(Stdio::null());
    run(&mut c, Duration::from_secs(90))
}

#[test]
fn every_imsi_of_a_profile_reaches_the_ocs_as_one_identity() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    // The OCS: gyro itself, embedded, with the same seed.
    let ocs = Gyro::start_as("px-ocs", "ocs.test.local", "", "location_triggers = false");
    let proxy = proxy_before("px", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, ocs.port]);
    // #1.3/#2.4: home on 262-01; then Andorra through Partner X's proxy,
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
fn failover_on_a_slow_upstream_on_3004_and_on_a_dead_one() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    let anchor = Gyro::start("px-anchor", "");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    // ocs1 answers, but only after Tx: its answers come after the failover.
    let _slow = erlang_ocs(&anchor, p1, "ocs1.test.local", &["--delay-ms", "2500"]);
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
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, p1, p2, p3]);
    // ocs1 is too slow (Tx), ocs2 is busy: ocs3 answers each request once.
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
    // ocs1's answers arrive after all: dropped, counted, never relayed.
    wait_for("ocs1's late answers", 10, || {
        metrics(&proxy)
            .lines()
            .any(|l| l.starts_with("gyro_diameter_late_answers_total") && l.ends_with(" 2"))
    });
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

fn post(g: &Gyro, path: &str) -> std::thread::JoinHandle<serde_json::Value> {
    let url = format!("{}{path}", g.api());
    std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .bearer_auth("gyro-dev-token")
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap()
            .json()
            .unwrap_or_default()
    })
}

#[test]
fn the_ocs_reauth_reaches_the_gateway_and_an_str_ends_the_session_upstream() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    use bytes::BytesMut;
    use gyro::diameter::{codes, MessageBuilder};
    let ocs = Gyro::start_as("px-rar-ocs", "ocs.test.local", "", "");
    let proxy = proxy_before("px-rar", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, ocs.port]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let i = GyCcr {
        session: "rar1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(
        Message::new(&ask(&mut gw, &gy_ccr(&i)))
            .unwrap()
            .result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 1000);

    // The OCS re-authorises (a top-up): the RAR comes down to the gateway
    // with its own identities, through the proxy.
    let id = api_get(&ocs, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let call = post(&ocs, &format!("/api/v1/accounts/{id}/reauth"));
    let rar = gw.recv().expect("the RAR");
    let m = Message::new(&rar).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (258, true));
    assert_eq!(m.session_id(), Some("rar1"));
    let routes: Vec<&str> = m.find_all(282, 0).filter_map(|r| r.utf8().ok()).collect();
    assert_eq!(routes, ["gyro-proxy.test.local"], "Route-Record");
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::answer(&mut buf, &m.header, false);
    b.utf8(codes::SESSION_ID, "rar1")
        .u32(codes::RESULT_CODE, 2001)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    gw.send(&buf);
    let body = call.join().unwrap();
    assert_eq!(body["sessions"][0]["result_code"], 2001, "{body}");

    // STR from the gateway ends the session at the OCS.
    let str_ = session_request(275, "rar1", 40, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(&mut gw, &str_)).unwrap().result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 0);
    let (clean, text) = cap.dissect_with(&peers, &["--avps"]);
    assert!(clean, "tshark found problems:\n{text}");
    assert!(text.contains("Re-Auth Answer"), "{text}");
}

fn gy(session: &str, kind: u32, number: u32, e2e: u32, used: u64) -> Vec<u8> {
    gy_ccr(&GyCcr {
        session,
        kind,
        number,
        e2e,
        used,
        requested: (kind != 3).then_some(1000),
        ..GyCcr::BASE
    })
}

fn wait_for(what: &str, secs: u64, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn an_outage_is_answered_locally_and_the_journal_replays_once_across_kill_9() {
    let mut ocs = Gyro::start_as("px-out-ocs", "ocs.test.local", "", "");
    let (ocs_port, ocs_dir) = (ocs.port, ocs.dir.clone());
    // Tc 1 s: the proxy redials the OCS soon after it is back.
    let extra = "reconnect_interval = \"1s\"\n".to_string()
        + &proxy_config(&[("ocs.test.local", ocs_port, 1)], "msisdn").replace(
        "[proxy]\n",
        "[proxy]\non_upstream_down = \"local\"\nfailsafe_grant = { octets = 500, seconds = 60 }\n",
    );
    let mut proxy = Gyro::start_as(
        "px-out",
        "gyro-proxy.test.local",
        &extra,
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    assert_eq!(
        granted_octets(&ask(&mut gw, &gy("up", 1, 0, 1, 0))),
        Some(1000),
        "the OCS's grant"
    );

    // The OCS goes away: gyro answers itself, within the failsafe grant.
    ocs.stop();
    wait_for("the upstream to be down", 30, || {
        metrics(&proxy).contains("gyro_diameter_peer_up{peer=\"ocs.test.local\"} 0")
            || !metrics(&proxy).contains("peer=\"ocs.test.local\"} 1")
    });
    assert_eq!(
        granted_octets(&ask(&mut gw, &gy("out", 1, 0, 2, 0))),
        Some(500)
    );
    let a = ask(&mut gw, &gy("out", 2, 1, 3, 300));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    let a = ask(&mut gw, &gy("out", 3, 2, 4, 200));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    assert!(
        metrics(&proxy).contains("gyro_proxy_local_answers_total 3"),
        "{}",
        metrics(&proxy)
    );

    // kill -9 during the outage: the journal is on disk already.
    drop(gw);
    proxy.child.kill().unwrap();
    let _ = proxy.child.wait();
    let proxy_dir = proxy.dir.clone();
    let proxy = Gyro::restart_as(
        "px-out",
        &proxy_dir,
        "gyro-proxy.test.local",
        &extra,
        "mode = \"proxy\"",
        free_port(),
    );
    // The OCS is back: the journal (300 + 200 octets) is replayed to it.
    let ocs = Gyro::restart_as("px-out-ocs", &ocs_dir, "ocs.test.local", "", "", ocs_port);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    wait_for("the replay", 60, || {
        data_balance(&ocs, "262019000000001").0 >= 500
    });
    // kill -9 again and start once more: nothing is replayed twice.
    let mut proxy = proxy;
    proxy.child.kill().unwrap();
    let _ = proxy.child.wait();
    let proxy = Gyro::restart_as(
        "px-out",
        &proxy_dir,
        "gyro-proxy.test.local",
        &extra,
        "mode = \"proxy\"",
        free_port(),
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        data_balance(&ocs, "262019000000001").0,
        500,
        "each journalled octet charged once"
    );
    assert!(
        metrics(&proxy).contains("gyro_proxy_journal_depth 0"),
        "{}",
        metrics(&proxy)
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

#[test]
fn an_upstream_killed_mid_run_loses_no_request() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    if peers_dir().is_none() {
        return;
    }
    let anchor = Gyro::start("px-kill-anchor", "");
    let (p1, p2) = (free_port(), free_port());
    let ocs1 = erlang_ocs(&anchor, p1, "ocs1.test.local", &[]);
    let _ocs2 = erlang_ocs(&anchor, p2, "ocs2.test.local", &[]);
    // Equal priorities: the sessions are shared between the two.
    let proxy = Gyro::start_as(
        "px-kill",
        "gyro-proxy.test.local",
        &proxy_config(
            &[("ocs1.test.local", p1, 1), ("ocs2.test.local", p2, 1)],
            "msisdn",
        ),
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs1.test.local", "ocs2.test.local"]);
    let json = proxy.dir.join("load.json");
    let target = proxy.addr().to_string();
    let j = json.clone();
    let load = std::thread::spawn(move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gyro"));
        c.args([
            "load",
            "--target",
            &target,
            "--sessions",
            "3000",
            "--updates",
            "3",
        ])
        .args([
            "--connections",
            "1",
            "--concurrency",
            "50",
            "--rate",
            "3000",
        ])
        .arg("--json")
        .arg(&j);
        run(&mut c, Duration::from_secs(120))
    });
    std::thread::sleep(Duration::from_secs(2));
    drop(ocs1); // kill mid-run: its requests in flight fail over to ocs2
    let (_, out) = load.join().unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["answers"], 15_000, "{out}");
    assert_eq!(summary["timeouts"], 0, "{out}");
    assert_eq!(
        summary["result_codes"]["2001"], 15_000,
        "every request answered 2001: {out}"
    );
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

#[test]
fn closing_an_account_at_the_proxy_aborts_its_relayed_sessions() {
    let Some(peers) = peers_dir() else { return };
    use gyro::diameter::codes;
    let ocs = Gyro::start_as("px-asr-ocs", "ocs.test.local", "", "");
    let proxy = proxy_before("px-asr", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let i = GyCcr {
        session: "asr1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let a = ask(&mut gw, &gy_ccr(&i));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    // The proxy's inventory closes the account (#1.9): the gateway of the
    // session the proxy relays gets an ASR from the proxy.
    let id = api_get(&proxy, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let closed = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/accounts/{id}/close", proxy.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    assert_eq!(closed.status(), 200);
    let asr = answer_next(&mut gw, 274, "pgw.test.local");
    let m = Message::new(&asr).unwrap();
    assert_eq!(m.session_id(), Some("asr1"));
    let dest = m.find(293, 0).and_then(|a| a.utf8().ok());
    assert_eq!(
        dest,
        Some("pgw.test.local"),
        "Destination-Host: the gateway"
    );
    // The gateway then ends the session; its STR reaches the OCS.
    let str_ = session_request(275, "asr1", 41, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(&mut gw, &str_)).unwrap().result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 0);
    let (clean, text) = cap.dissect(&peers);
    assert!(clean, "tshark found problems:\n{text}");
}

#[test]
fn an_outage_under_load_on_many_connections_replays_every_octet_once() {
    let mut ocs = Gyro::start_as("px-oload-ocs", "ocs.test.local", "", "");
    let (ocs_port, ocs_dir) = (ocs.port, ocs.dir.clone());
    let extra = "reconnect_interval = \"1s\"\n".to_string()
        + &proxy_config(&[("ocs.test.local", ocs_port, 1)], "msisdn").replace(
            "[proxy]\n",
            "[proxy]\non_upstream_down = \"local\"\nfailsafe_grant = { octets = 5000, seconds = 60 }\n",
        );
    let proxy = Gyro::start_as(
        "px-oload",
        "gyro-proxy.test.local",
        &extra,
        "mode = \"proxy\"",
    );
    wait_upstreams(&proxy, &["ocs.test.local"]);
    ocs.stop();
    wait_for("the upstream to be down", 30, || {
        !metrics(&proxy).contains("gyro_diameter_peer_up{peer=\"ocs.test.local\"} 1")
    });
    // 8 gateway connections, 64 sessions at a time, all answered locally.
    let json = proxy.dir.join("load.json");
    let (ok, out) = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
            .args(["load", "--target", &proxy.addr().to_string()])
            .args(["--connections", "8", "--concurrency", "64"])
            .args(["--sessions", "400", "--updates", "2", "--json"])
            .arg(&json),
        Duration::from_secs(120),
    );
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["result_codes"]["2001"], 400 * 4, "{v}");
    assert!(metrics(&proxy).contains("gyro_proxy_local_answers_total 1600"));
    // The OCS is back: each U and T reported 1000 octets, replayed once.
    let ocs = Gyro::restart_as("px-oload-ocs", &ocs_dir, "ocs.test.local", "", "", ocs_port);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let total =
        || data_balance(&ocs, "262019000000001").0 + data_balance(&ocs, "213550000000001").0;
    wait_for("the replay", 90, || total() >= 400 * 3 * 1000);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(total(), 400 * 3 * 1000, "every octet once");
    assert!(
        metrics(&proxy).contains("gyro_proxy_journal_depth 0"),
        "{}",
        metrics(&proxy)
    );
}
