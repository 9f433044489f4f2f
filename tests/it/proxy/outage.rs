//! An upstream outage: requests answered locally by the proxy's own rating,
//! journalled, and replayed once to the OCS when it is back, across kill -9
//! of the proxy and under load on many connections.

use std::time::Duration;

use crate::support::*;
use gyro::diameter::Message;

use super::upstreams::*;

#[test]
fn an_outage_is_answered_locally_and_the_journal_replays_once_across_kill_9() {
    let mut ocs = Gyro::start_as("px-out-ocs", "ocs.test.local", "", "");
    let (ocs_port, ocs_dir) = (ocs.port, ocs.dir.clone());
    let extra = answering_locally(ocs_port, 500);
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
fn an_outage_under_load_on_many_connections_replays_every_octet_once() {
    let mut ocs = Gyro::start_as("px-oload-ocs", "ocs.test.local", "", "");
    let (ocs_port, ocs_dir) = (ocs.port, ocs.dir.clone());
    let extra = answering_locally(ocs_port, 5000);
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
