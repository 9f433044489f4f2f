//! Bounded in-flight requests: past `proxy.max_in_flight`, or with every
//! upstream at its own `max_in_flight`, the gateway gets 3004 at once
//! while the requests within the bounds are answered as usual.

use std::time::{Duration, Instant};

use crate::support::*;
use gyro::diameter::Message;

use super::upstreams::*;

/// A proxy named `host` in front of the slow OCS on `ocs_port`, with the
/// bounds given (`max_in_flight` of the proxy, then of the upstream).
fn bounded_proxy(tag: &str, host: &str, ocs_port: u16, all: u32, upstream: u32) -> Gyro {
    let cfg = proxy_config(&[("ocs.test.local", ocs_port, 1)], "msisdn").replace(
        "tx = \"1s\"",
        &format!("tx = \"5s\"\nmax_in_flight = {all}"),
    ) + &format!("max_in_flight = {upstream}\n");
    let proxy = Gyro::start_as(tag, host, &cfg, "mode = \"proxy\"");
    wait_upstreams(&proxy, &["ocs.test.local"]);
    proxy
}

/// Sends `n` CCR-Is at once on one connection: the first answer is the one
/// refused, at once; then the others come from the OCS.
fn one_refused_of(proxy: &Gyro, n: u32, tag: &str) {
    let mut gw = open_peer(proxy, "pgw.test.local");
    gw.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    for i in 0..n {
        gw.send(&gy(&format!("{tag}-{i}"), 1, 0, 100 + i, 0));
    }
    let first = gw.recv().expect("an answer");
    let m = Message::new(&first).unwrap();
    assert_eq!(m.result_code(), Some(3004), "DIAMETER_TOO_BUSY");
    assert_eq!(m.session_id(), Some(format!("{tag}-{}", n - 1).as_str()));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "at once, not after the OCS's 3 s: {:?}",
        started.elapsed()
    );
    for _ in 1..n {
        let a = gw.recv().expect("the OCS's answer");
        assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    }
}

#[test]
fn past_the_in_flight_bounds_the_gateway_gets_3004_at_once() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    if peers_dir().is_none() {
        return;
    }
    let anchor = Gyro::start("px-bp-anchor", "");
    let ocs_port = free_port();
    let _ocs = erlang_ocs(&anchor, ocs_port, "ocs.test.local", &["--delay-ms", "3000"]);

    // The proxy's own bound: two in flight, the third refused.
    let proxy = bounded_proxy("px-bp-all", "gyro-a.test.local", ocs_port, 2, 64);
    one_refused_of(&proxy, 3, "all");
    let m = metrics(&proxy);
    assert!(
        m.contains("gyro_proxy_too_busy_total{bound=\"all\"} 1"),
        "{m}"
    );
    drop(proxy);

    // The upstream's bound: one waiting on it, the second refused.
    let proxy = bounded_proxy("px-bp-up", "gyro-b.test.local", ocs_port, 64, 1);
    one_refused_of(&proxy, 2, "up");
    let m = metrics(&proxy);
    assert!(
        m.contains("gyro_proxy_too_busy_total{bound=\"upstream\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("gyro_proxy_upstream_in_flight{upstream=\"ocs.test.local\"} 0"),
        "{m}"
    );
}
