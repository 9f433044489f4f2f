//! The nodes of a scenario and the links between them. Embedded: one gyro,
//! the clients' link in front of it. Proxy: gyro in proxy mode in front of
//! gyro as the OCS, with a link of the harness between the two as well, so
//! that the nemesis can cut and delay the way up too. Accounts are
//! onboarded on every node alike (the front resolves, the OCS charges).

use std::time::{Duration, Instant};

use super::target::{Setup, Target};
use super::tcp_proxy::TcpProxy;
use crate::support::*;

const PRODUCT: &str = "EU Neighbour - Andorra 30-Day Pass";
const OCS: &str = "ocs.test.local";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Embedded,
    /// gyro in proxy mode (`on_upstream_down = "terminate"`: 3002 while
    /// the OCS does not answer) in front of gyro as the OCS.
    Proxy,
}

/// The running nodes: the first keeps the balances and the xDRs that
/// charge; the first link is the clients'.
pub struct Nodes {
    pub targets: Vec<Target>,
    pub links: Vec<TcpProxy>,
}

pub fn start(scenario: Scenario, tag: &str) -> Nodes {
    let fail = |e: String| -> Target { panic!("{e}") };
    let first = Setup {
        origin_host: match scenario {
            Scenario::Embedded => "gyro.test.local".into(),
            Scenario::Proxy => OCS.into(),
        },
        ..Setup::default()
    };
    let ocs = Target::start(tag, first).unwrap_or_else(fail);
    if scenario == Scenario::Embedded {
        let clients = TcpProxy::start(ocs.gyro.addr());
        return Nodes {
            targets: vec![ocs],
            links: vec![clients],
        };
    }
    let up = TcpProxy::start(ocs.gyro.addr());
    let front = Setup {
        origin_host: "gyro-front.test.local".into(),
        diameter_extra: format!(
            "[proxy]\ntx = \"1s\"\nidentity = \"msisdn\"\n\
             [[proxy.upstream]]\norigin_host = \"{OCS}\"\nconnect = \"{}\"\npriority = 1\n",
            up.addr
        ),
        charging_extra: "mode = \"proxy\"".into(),
        tail: String::new(),
    };
    let front = Target::start(&format!("{tag}-front"), front).unwrap_or_else(fail);
    wait_upstream(&front.gyro);
    let clients = TcpProxy::start(front.gyro.addr());
    Nodes {
        targets: vec![ocs, front],
        links: vec![clients, up],
    }
}

/// Waits until the front's connection to the OCS is up.
fn wait_upstream(g: &Gyro) {
    let want = format!("gyro_diameter_peer_up{{peer=\"{OCS}\"}} 1");
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
        let text = reqwest::blocking::get(url).and_then(|r| r.text());
        if text.is_ok_and(|t| t.contains(&want)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the front's upstream {OCS} is not up:\n{}", g.log_text());
}

/// `n` fresh accounts, onboarded alike on every node: (the first node's
/// account id, the account's first IMSI).
pub fn onboard(targets: &[Target], n: u32) -> Vec<(u64, String)> {
    (0..n)
        .map(|i| {
            let body = serde_json::json!({"product": PRODUCT, "msisdn": format!("4917099{i:06}")});
            let made: Vec<(u64, String)> = targets
                .iter()
                .map(|t| {
                    let (status, v) = api_send(&t.gyro, "POST", "/api/v1/accounts", Some(&body));
                    assert_eq!(status, 201, "onboarding: {v}");
                    let id = v["account"]["id"].as_u64().unwrap();
                    (id, v["profile"]["imsis"][0].as_str().unwrap().to_string())
                })
                .collect();
            assert!(
                made.iter().all(|m| m.1 == made[0].1),
                "the nodes gave one account different IMSIs: {made:?}"
            );
            made[0].clone()
        })
        .collect()
}

/// The used data octets of each account on `g`, through the API.
pub fn used(g: &Gyro, accounts: &[(u64, String)]) -> Vec<u64> {
    accounts
        .iter()
        .map(|(id, _)| {
            let b = api_get(g, &format!("/api/v1/accounts/{id}/balance"));
            b["data"]["used_octets"].as_u64().unwrap()
        })
        .collect()
}

/// After the run: every node killed, then started again, the OCS first.
pub fn crash_all(targets: &mut [Target]) {
    for t in targets.iter_mut() {
        t.kill9();
    }
    for t in targets.iter_mut() {
        t.restart()
            .unwrap_or_else(|e| panic!("no start after the run: {e}"));
    }
}
