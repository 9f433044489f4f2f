//! Exactly once across an outage: an OCS that charged a request whose
//! answer came after Tx is not charged again when gyro presents its local
//! answer's request later, and a gateway's retransmission of a locally
//! answered request, after recovery and kill -9, gets gyro's answer from
//! the journal and never reaches the OCS.

use std::time::Duration;

use crate::support::*;
use gyro::diameter::Message;

use super::delaying::Delaying;
use super::upstreams::*;

const PROXY: &str = "mode = \"proxy\"";
const IMSI: &str = "262019000000001";

/// Whether the proxy's replayer had `n` journal entries acknowledged.
pub(super) fn replayed_ok(proxy: &Gyro, n: u32) -> bool {
    metrics(proxy).contains(&format!("gyro_proxy_replayed_total{{result=\"ok\"}} {n}"))
}

fn result_code(answer: &[u8]) -> Option<u32> {
    Message::new(answer).unwrap().result_code()
}

#[test]
fn an_ocs_that_charges_then_answers_after_tx_is_charged_once() {
    let ocs = Gyro::start_as("px-once-ocs", "ocs.test.local", "", "");
    let relay = Delaying::start(ocs.port);
    let extra = answering_locally(relay.port, 500);
    let proxy = Gyro::start_as("px-once", "gyro-proxy.test.local", &extra, PROXY);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let a = ask(&mut gw, &gy("once", 1, 0, 1, 0));
    assert_eq!(granted_octets(&a), Some(1000), "the OCS's grant");

    // The OCS charges the update at once, but its answer comes after Tx:
    // gyro answers itself, and the session's next update stays local.
    relay.delay(Duration::from_millis(1800));
    let a = ask(&mut gw, &gy("once", 2, 1, 2, 300));
    assert_eq!(granted_octets(&a), Some(500), "gyro's own answer");
    let a = ask(&mut gw, &gy("once", 2, 2, 3, 200));
    assert_eq!(granted_octets(&a), Some(500), "behind its journal");
    relay.delay(Duration::ZERO);

    // Both are presented as themselves: the first is the OCS's duplicate.
    wait_for("the journal to be acknowledged", 60, || {
        replayed_ok(&proxy, 2)
    });
    assert_eq!(data_balance(&ocs, IMSI).0, 500, "300 once, and 200");
    assert!(
        metrics(&ocs).contains("gyro_charging_duplicates_total"),
        "the OCS recognised the duplicate:\n{}",
        metrics(&ocs)
    );
    // The session goes up again; its end is the OCS's own.
    let a = ask(&mut gw, &gy("once", 3, 3, 4, 100));
    assert_eq!(result_code(&a), Some(2001));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(data_balance(&ocs, IMSI).0, 600, "every octet once");
    assert_eq!(data_balance(&ocs, IMSI).1, 0, "nothing left reserved");
    assert!(metrics(&proxy).contains("gyro_proxy_local_answers_total 2"));
}

#[test]
fn a_retransmission_after_recovery_is_answered_from_the_journal_across_kill_9() {
    let mut ocs = Gyro::start_as("px-rtx-ocs", "ocs.test.local", "", "");
    let (ocs_port, ocs_dir) = (ocs.port, ocs.dir.clone());
    let extra = answering_locally(ocs_port, 500);
    let mut proxy = Gyro::start_as("px-rtx", "gyro-proxy.test.local", &extra, PROXY);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    ocs.stop();
    wait_for("the upstream to be down", 30, || {
        !metrics(&proxy).contains("gyro_diameter_peer_up{peer=\"ocs.test.local\"} 1")
    });

    // A session begun while the OCS is away: answered and journalled.
    let mut gw = open_peer(&proxy, "pgw.test.local");
    assert_eq!(
        granted_octets(&ask(&mut gw, &gy("rtx", 1, 0, 11, 0))),
        Some(500)
    );
    let first = ask(&mut gw, &gy("rtx", 2, 1, 12, 300));
    assert_eq!(result_code(&first), Some(2001));

    // The OCS is back: it gets the session's CCR-I and CCR-U in order.
    let ocs = Gyro::restart_as("px-rtx-ocs", &ocs_dir, "ocs.test.local", "", "", ocs_port);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    wait_for("the journal to be acknowledged", 60, || {
        replayed_ok(&proxy, 2)
    });
    assert_eq!(data_balance(&ocs, IMSI).0, 300);

    // kill -9, then the gateway retransmits the update (T flag).
    drop(gw);
    proxy.child.kill().unwrap();
    let _ = proxy.child.wait();
    let dir = proxy.dir.clone();
    let host = "gyro-proxy.test.local";
    let proxy = Gyro::restart_as("px-rtx", &dir, host, &extra, PROXY, free_port());
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let again = gy_ccr(&GyCcr {
        session: "rtx",
        kind: 2,
        number: 1,
        e2e: 12,
        used: 300,
        requested: Some(1000),
        retransmit: true,
        ..GyCcr::BASE
    });
    let answer = ask(&mut gw, &again);
    assert_eq!(answer, first, "the answer gyro gave, byte for byte");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        data_balance(&ocs, IMSI).0,
        300,
        "not forwarded, not charged"
    );
    assert!(
        metrics(&proxy).contains("gyro_proxy_journal_retransmissions_total 1"),
        "{}",
        metrics(&proxy)
    );
}

/// The proxy's xDR lines for one request of session `sid`.
fn lines_for(proxy: &Gyro, sid: &str, number: u64) -> usize {
    xdrs(proxy)
        .iter()
        .filter(|x| x["session_id"] == sid && x["request_number"] == number)
        .count()
}

#[test]
fn a_relayed_request_resent_is_recorded_once_across_kill_9_and_an_old_copy_is_not_relayed() {
    let ocs = Gyro::start_as("px-again-ocs", "ocs.test.local", "", "");
    let extra = answering_locally(ocs.port, 500);
    let mut proxy = Gyro::start_as("px-again", "gyro-proxy.test.local", &extra, PROXY);
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    ask(&mut gw, &gy("again", 1, 0, 21, 0));
    let first = ask(&mut gw, &gy("again", 2, 1, 22, 300));
    assert_eq!(result_code(&first), Some(2001));
    let resent = |number: u32, e2e: u32| {
        gy_ccr(&GyCcr {
            session: "again",
            kind: 2,
            number,
            e2e,
            used: 300,
            requested: Some(1000),
            retransmit: true,
            ..GyCcr::BASE
        })
    };
    // The answer was lost on the way down; the gateway resends, twice.
    assert_eq!(
        ask(&mut gw, &resent(1, 22)),
        first,
        "the OCS's answer again"
    );
    drop(gw);
    proxy.child.kill().unwrap();
    let _ = proxy.child.wait();
    let dir = proxy.dir.clone();
    let host = "gyro-proxy.test.local";
    let proxy = Gyro::restart_as("px-again", &dir, host, &extra, PROXY, free_port());
    wait_upstreams(&proxy, &["ocs.test.local"]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    assert_eq!(ask(&mut gw, &resent(1, 22)), first, "across kill -9");
    assert_eq!(lines_for(&proxy, "again", 1), 1);

    // Ten more updates, then the first copy of update 1, delayed in the
    // network, arrives: neither relayed nor recorded again.
    for n in 2..12 {
        let a = ask(&mut gw, &gy("again", 2, n, 22 + n, 10));
        assert_eq!(result_code(&a), Some(2001));
    }
    let late = ask(&mut gw, &gy("again", 2, 1, 22, 300));
    assert_eq!(result_code(&late), Some(5012));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lines_for(&proxy, "again", 1), 1);
    assert_eq!(
        data_balance(&ocs, IMSI).0,
        300 + 10 * 10,
        "every octet once"
    );
}
