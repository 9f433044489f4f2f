//! Journal entries the OCS refuses (a 4012 inside an MSCC, a top-level
//! 4010) are parked with the refusal, shown by the API and counted, while
//! the other sessions' entries still go; an operator's retry presents them
//! again, to an OCS that takes them.

use std::time::Duration;

use crate::support::*;

use super::exactly_once::replayed_ok;
use super::upstreams::*;

const PROXY: &str = "mode = \"proxy\"";

const PARKED: &str = "/api/v1/proxy/journal/parked";

/// Two sessions begun while no OCS is there: CCR-I and a CCR-U of 300
/// octets each, answered locally.
fn two_local_sessions(proxy: &Gyro) {
    let mut gw = open_peer(proxy, "pgw.test.local");
    for (s, e2e) in [("park-a", 20), ("park-b", 30)] {
        assert_eq!(
            granted_octets(&ask(&mut gw, &gy(s, 1, 0, e2e, 0))),
            Some(500)
        );
        assert_eq!(
            granted_octets(&ask(&mut gw, &gy(s, 2, 1, e2e + 1, 300))),
            Some(500)
        );
    }
}

/// Both sessions' first entries parked with `check`'s refusal, each with
/// its CCR-U waiting behind it; their ids.
fn both_parked(proxy: &Gyro, check: impl Fn(&serde_json::Value)) -> Vec<u64> {
    wait_for("two parked entries", 60, || {
        api_get(proxy, PARKED)["parked"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });
    let v = api_get(proxy, PARKED);
    let parked = v["parked"].as_array().unwrap();
    let sessions: Vec<&str> = parked
        .iter()
        .map(|p| p["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        sessions,
        ["park-a", "park-b"],
        "one session's refusal held up no other: {v}"
    );
    for p in parked {
        assert_eq!(p["request_number"], 0, "{p}");
        assert_eq!(p["waiting_behind"], 1, "its CCR-U waits: {p}");
        assert_eq!(p["upstream"], "ocs.test.local");
        check(p);
    }
    assert_eq!(v["pending"], 2, "{v}");
    wait_for("the parked gauge", 10, || {
        metrics(proxy).contains("gyro_proxy_journal_parked 2")
    });
    parked.iter().map(|p| p["id"].as_u64().unwrap()).collect()
}

/// The OCS that refused is replaced by one that takes everything; the
/// operator retries: each session's CCR-I then CCR-U go, once.
fn retried(proxy: &Gyro, refusing: Peer, ocs_port: u16, ids: &[u64]) {
    drop(refusing);
    let dir = temp_dir("px-park-ocs");
    let ocs = Gyro::restart_as("px-park-ocs", &dir, "ocs.test.local", "", "", ocs_port);
    wait_upstreams(proxy, &["ocs.test.local"]);
    let (status, _) = api_send(proxy, "POST", &format!("{PARKED}/999999/retry"), None);
    assert_eq!(status, 404);
    for id in ids {
        let (status, body) = api_send(proxy, "POST", &format!("{PARKED}/{id}/retry"), None);
        assert_eq!(status, 200, "{body}");
    }
    wait_for("the retried entries acknowledged", 60, || {
        replayed_ok(proxy, 4)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        data_balance(&ocs, "262019000000001").0,
        600,
        "each CCR-U once"
    );
    let v = api_get(proxy, PARKED);
    assert_eq!(v["parked"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["pending"], 0, "{v}");
}

fn refused_then_retried(tag: &str, refusal: &[&str], check: impl Fn(&serde_json::Value)) {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    if peers_dir().is_none() {
        return;
    }
    let ocs_port = free_port();
    let extra = answering_locally(ocs_port, 500);
    let proxy = Gyro::start_as(tag, "gyro-proxy.test.local", &extra, PROXY);
    two_local_sessions(&proxy);
    let refusing = erlang_ocs(&proxy, ocs_port, "ocs.test.local", refusal);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let ids = both_parked(&proxy, check);
    assert!(
        metrics(&proxy).contains("gyro_proxy_replayed_total{result=\"parked\"} 2"),
        "{}",
        metrics(&proxy)
    );
    retried(&proxy, refusing, ocs_port, &ids);
}

#[test]
fn a_4012_inside_the_mscc_parks_the_entry_and_the_next_still_goes() {
    refused_then_retried("px-park-mscc", &["--mscc-result-code", "4012"], |p| {
        assert_eq!(p["result_code"], 2001, "{p}");
        assert_eq!(p["mscc_result_codes"], serde_json::json!([4012]), "{p}");
    });
}

#[test]
fn a_top_level_4010_parks_the_entry_instead_of_blocking_the_journal() {
    refused_then_retried("px-park-top", &["--result-code", "4010"], |p| {
        assert_eq!(p["result_code"], 4010, "{p}");
    });
}
