//! The proxy's side of the proxy tests: gyro in proxy mode in front of its
//! upstreams (gyro embedded, Erlang/OTP servers), the Erlang/OTP PGW, the
//! proxy's metrics, and the CCRs the tests send by hand.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A child process killed (and reaped) when the test is done with it.
pub(super) struct Peer(pub(super) Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Erlang/OTP OCS on `port`; its output goes to `dir/<host>.out`.
pub(super) fn erlang_ocs(g: &Gyro, port: u16, host: &str, extra: &[&str]) -> Peer {
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

pub(super) fn proxy_config(upstreams: &[(&str, u16, u32)], identity: &str) -> String {
    let mut s = format!("[proxy]\ntx = \"1s\"\nidentity = \"{identity}\"\n");
    for (host, port, priority) in upstreams {
        s += &format!(
            "[[proxy.upstream]]\norigin_host = \"{host}\"\nconnect = \"127.0.0.1:{port}\"\npriority = {priority}\n"
        );
    }
    s
}

pub(super) fn metrics(g: &Gyro) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", g.metrics_port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// gyro in proxy mode in front of the gyro OCS `ocs`, connected to it.
pub(super) fn proxy_before(tag: &str, ocs: &Gyro, identity: &str) -> Gyro {
    let cfg = proxy_config(&[("ocs.test.local", ocs.port, 1)], identity);
    let proxy = Gyro::start_as(tag, "gyro-proxy.test.local", &cfg, "mode = \"proxy\"");
    wait_upstreams(&proxy, &["ocs.test.local"]);
    proxy
}

/// Waits until the proxy's connections to `hosts` are up.
pub(super) fn wait_upstreams(g: &Gyro, hosts: &[&str]) {
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
pub(super) fn pgw(g: &Gyro, origin: &str, imsi: &str, sessions: u32) -> (bool, String) {
    pgw_at(g, origin, imsi, sessions, &[])
}

pub(super) fn pgw_at(
    g: &Gyro,
    origin: &str,
    imsi: &str,
    sessions: u32,
    extra: &[&str],
) -> (bool, String) {
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

pub(super) fn gy(session: &str, kind: u32, number: u32, e2e: u32, used: u64) -> Vec<u8> {
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

pub(super) fn wait_for(what: &str, secs: u64, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// The proxy's lines before the OCS on `ocs_port`: answering from its own
/// rating (grants of `octets`) while the OCS is down, and a Tc of 1 s, so
/// that it redials the OCS soon after it is back.
pub(super) fn answering_locally(ocs_port: u16, octets: u32) -> String {
    let local = format!(
        "[proxy]\non_upstream_down = \"local\"\nfailsafe_grant = {{ octets = {octets}, seconds = 60 }}\n"
    );
    "reconnect_interval = \"1s\"\n".to_string()
        + &proxy_config(&[("ocs.test.local", ocs_port, 1)], "msisdn").replace("[proxy]\n", &local)
}
