//! Upstreams that stall (`--no-answer`), refuse (3004), die or are killed in
//! the middle of a run: the proxy fails over and loses no request. Erlang/OTP
//! servers as the upstreams, the Erlang/OTP client as the PGW.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use gyro::diameter::Message;

use super::upstreams::*;

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
