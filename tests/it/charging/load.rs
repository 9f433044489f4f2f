//! `gyro load` against `gyro serve` and against the Erlang/OTP credit-control
//! server: every session is I + K×U + T, all answered 2001, and the JSON
//! summary says so.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn load(target: &str, json: &std::path::Path) -> (bool, String, serde_json::Value) {
    let (ok, out) = run(
        Command::new(env!("CARGO_BIN_EXE_gyro"))
            .args([
                "load",
                "--target",
                target,
                "--connections",
                "3",
                "--concurrency",
                "20",
                "--sessions",
                "300",
                "--updates",
                "2",
                "--json",
            ])
            .arg(json),
        Duration::from_secs(120),
    );
    let v = std::fs::read(json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (ok, out, v)
}

#[test]
fn load_against_gyro_charges_every_session() {
    let g = Gyro::start("load-gyro", "");
    let json = g.dir.join("load.json");
    let (ok, out, v) = load(&g.addr().to_string(), &json);
    assert!(ok, "{out}");
    assert_eq!(v["answers"], 300 * 4, "{v}");
    assert_eq!(v["result_codes"]["2001"], 300 * 4, "{v}");
    assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    // Every U and T reported 1000 octets on one of the demo accounts.
    let truck = api_get(&g, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let balkan = api_get(&g, "/api/v1/imsis/213550000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let used = |a: u64| {
        api_get(&g, &format!("/api/v1/accounts/{a}/balance"))["data"]["used_octets"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(used(truck) + used(balkan), 300 * 3 * 1000);
    // Prometheus saw the same traffic.
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", g.metrics_port))
        .unwrap()
        .text()
        .unwrap();
    let cca = metrics
        .lines()
        .find(|l| {
            l.starts_with("gyro_diameter_messages_total")
                && l.contains("direction=\"out\"")
                && l.contains("command=\"CC\"")
                && l.contains("result=\"2001\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(cca.ends_with(" 1200"), "{cca}");
    // The load's peer is no listed one: it counts under peer="other".
    assert!(
        metrics.contains("gyro_diameter_peer_up{peer=\"other\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gyro_diameter_inflight_requests"),
        "{metrics}"
    );
}

#[test]
fn load_against_the_erlang_server() {
    let Some(peers) = peers_dir() else { return };
    let port = free_port();
    let mut server = Command::new(peers.join("erlang/gy_peer.escript"))
        .args(["server", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_listening(port, 30));
    let dir = temp_dir("load-erl");
    let (ok, out, v) = load(&format!("127.0.0.1:{port}"), &dir.join("load.json"));
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok, "{out}");
    assert_eq!(v["answers"], 300 * 4, "{v}");
}
