//! gyro against real third-party Diameter stacks (Erlang/OTP diameter,
//! freeDiameter) over TCP, in both roles, with tshark checking every byte.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

const PEER_CONTROL: &[&str] = &[
    "Capabilities-Exchange Request",
    "Capabilities-Exchange Answer",
    "Device-Watchdog Request",
    "Device-Watchdog Answer",
    "Disconnect-Peer Request",
    "Disconnect-Peer Answer",
];

fn assert_dissects_clean(cap: &mut Capture, peers: &std::path::Path, expect: &[&str]) -> String {
    let (ok, text) = cap.dissect(peers);
    assert!(ok, "tshark found problems:\n{text}");
    for e in expect {
        assert!(text.contains(e), "capture lacks {e}:\n{text}");
    }
    text
}

/// Erlang/OTP as the PGW: CER/CEA, a charged session (CCR-I, CCR-T), DWR/DWA
/// after the peer's 6 s of silence, DPR from the peer.
#[test]
fn erlang_client_connects_keeps_alive_and_disconnects() {
    let Some(peers) = peers_dir() else { return };
    // Any message resets a watchdog, so only the side with the shorter Tw
    // sends DWR: here the peer's (6 s) against gyro's 20 s.
    let mut gyro = Gyro::start("erl-client", "watchdog_interval = \"20s\"");
    let mut cap = Capture::start(&peers, &gyro.dir, &[gyro.port]);
    let (_, out) = run(
        Command::new(peers.join("erlang/gy_peer.escript")).args([
            "client",
            "--server",
            &gyro.addr().to_string(),
            "--sessions",
            "1",
            "--updates",
            "0",
            "--hold-s",
            "9",
            "--watchdog-ms",
            "6000",
        ]),
        Duration::from_secs(60),
    );
    assert!(out.contains("peer up: gyro.test.local"), "{out}");
    assert!(out.contains("all CCA Result-Code 2001"), "{out}");
    let text = assert_dissects_clean(
        &mut cap,
        &peers,
        &[PEER_CONTROL, &["Credit-Control Answer"]].concat(),
    );
    let to_gyro = text
        .lines()
        .filter(|l| {
            l.contains("Device-Watchdog Request")
                && l.split_whitespace().nth(2) == Some(&gyro.port.to_string())
        })
        .count();
    assert!(to_gyro >= 1, "the peer's DWR did not reach gyro:\n{text}");
    let log = gyro.log_text();
    assert!(log.contains("peer sent DPR"), "{log}");
    assert!(gyro.stop().success());
}

/// gyro dials a third-party server on `port` (started by `server`), keeps the
/// link up for 10 s with its Tw, then gets SIGTERM: it must send DPR and exit
/// 0. Returns the dissected capture and the server's output.
fn gyro_dials(
    peers: &std::path::Path,
    tag: &str,
    mut server: Command,
    port: u16,
    tw: &str,
) -> (String, String) {
    let dir = temp_dir(tag);
    let log = dir.join("server.log");
    let mut server = server
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_listening(port, 30), "{tag}: the server did not start");
    let mut cap = Capture::start(peers, &dir, &[port]);
    let mut gyro = Gyro::start(
        tag,
        &format!("watchdog_interval = \"{tw}\"\n[[diameter.peers]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{port}\""),
    );
    std::thread::sleep(Duration::from_secs(10));
    let status = gyro.stop();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        status.success(),
        "gyro exit {status:?}\n{}",
        gyro.log_text()
    );
    assert!(gyro.log_text().contains("peer up"), "{}", gyro.log_text());
    let text = assert_dissects_clean(&mut cap, peers, PEER_CONTROL);
    (text, std::fs::read_to_string(&log).unwrap_or_default())
}

/// gyro dials the Erlang/OTP server, keeps the link up with DWR, and on
/// SIGTERM sends DPR and exits 0 after the DPA.
#[test]
fn gyro_connects_to_erlang_server_and_sends_dpr_on_sigterm() {
    let Some(peers) = peers_dir() else { return };
    let port = free_port();
    let mut server = Command::new(peers.join("erlang/gy_peer.escript"));
    server.args([
        "server",
        "--port",
        &port.to_string(),
        "--watchdog-ms",
        "20000",
    ]);
    // gyro's Tw (4 s) is the shorter one: the DWR seen must be gyro's.
    let (text, erl) = gyro_dials(&peers, "erl-server", server, port, "4s");
    let from_gyro = text
        .lines()
        .filter(|l| {
            l.contains("Device-Watchdog Request")
                && l.split_whitespace().nth(2) == Some(&port.to_string())
        })
        .count();
    assert!(from_gyro >= 1, "gyro sent no DWR:\n{text}");
    assert!(
        erl.contains("gyro.test.local"),
        "erlang saw no gyro peer:\n{erl}\n{text}"
    );
}

/// freeDiameter as the PGW: CER/CEA, DWR/DWA (Tw 6 s), DPR on exit.
#[test]
fn freediameter_client_connects_keeps_alive_and_disconnects() {
    let Some(peers) = peers_dir() else { return };
    let mut gyro = Gyro::start("fd-client", "watchdog_interval = \"6s\"");
    let mut cap = Capture::start(&peers, &gyro.dir, &[gyro.port]);
    let local = free_port();
    let (_, out) = run(
        Command::new(peers.join("freediameter/fd_peer.sh")).args([
            "client",
            "--server",
            &gyro.addr().to_string(),
            "--peer-identity",
            "gyro.test.local",
            "--identity",
            "pgw-fd.test.local",
            "--sessions",
            "1",
            "--updates",
            "0",
            "--hold-s",
            "9",
            "--tw",
            "6",
            "--local-port",
            &local.to_string(),
        ]),
        Duration::from_secs(60),
    );
    assert!(
        out.contains("all CCA Result-Code 2001"),
        "freeDiameter's session was not charged:\n{out}"
    );
    assert_dissects_clean(&mut cap, &peers, PEER_CONTROL);
    assert!(gyro.log_text().contains("pgw-fd.test.local"));
    assert!(gyro.stop().success());
}

/// gyro dials freeDiameter's OCS, watchdogs, then DPR on SIGTERM.
#[test]
fn gyro_connects_to_freediameter_server() {
    let Some(peers) = peers_dir() else { return };
    let port = free_port();
    let mut server = Command::new(peers.join("freediameter/fd_peer.sh"));
    server.args(["server", "--port", &port.to_string(), "--tw", "6"]);
    gyro_dials(&peers, "fd-server", server, port, "6s");
}
