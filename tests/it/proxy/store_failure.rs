//! Proxy mode over a store that fails (a full or broken disk), through real
//! sockets: a gateway → gyro in proxy mode (in process, on a store whose
//! commits fail on demand) → gyro embedded as the OCS. A relayed CCA waits
//! until its wholesale xDR is durable, so while the disk refuses it the
//! answer is held. Once the disk has stalled past `charging.commit_stall`, new
//! relayed answers go out (the OCS charged them) and their wholesale xDRs
//! are counted as unrecorded instead of queued. When the store heals, the
//! held answer leaves, and the OCS has every octet exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::failing_store::FailingStore;
use crate::support::*;
use gyro::diameter::transport::OutboundPeer;
use gyro::diameter::Message;
use gyro::proxy::app::ProxyApp;
use gyro::proxy::setup::ProxySetup;

struct Proxy {
    addr: std::net::SocketAddr,
    dir: std::path::PathBuf,
    _rt: tokio::runtime::Runtime,
}

fn start_proxy(ocs: &Gyro, failing: Arc<AtomicBool>) -> Proxy {
    let dir = temp_dir("pxf-proxy");
    let inventory = FailingStore::seeded(failing);
    let text = format!(
        "{}\n[proxy]\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{}\"\npriority = 1\n",
        gyro::config::EMBEDDED.replace("[charging]\n", "[charging]\nmode = \"proxy\"\n"),
        ocs.port
    );
    let mut cfg = gyro::config::Config::parse(&text, "proxy.toml").unwrap();
    cfg.node.data_dir = dir.clone();
    cfg.charging.commit_stall = gyro::config::HumaneDuration(Duration::from_millis(800));
    let (_engine, app) = gyro::server::charging(&cfg, &inventory).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let origin = gyro::diameter::answer::Origin {
            host: "gyro.test.local".into(),
            realm: "test.local".into(),
            state_id: 1,
        };
        let setup = ProxySetup::new(&cfg.proxy, app, &inventory, origin);
        let mut node = in_process_node(vec![Arc::new(ProxyApp(setup.app.0.clone()))]);
        setup.start(node.peers());
        node.connect(OutboundPeer {
            origin_host: "ocs.test.local".into(),
            address: ocs.addr(),
            tls: None,
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        node.listen(l);
        tokio::spawn(async move { node.wait().await });
        addr
    });
    Proxy { addr, dir, _rt: rt }
}

fn result(bytes: &[u8]) -> Option<u32> {
    Message::new(bytes).and_then(|m| m.result_code())
}

/// Wholesale xDR lines the proxy wrote for `session`.
fn wholesale_lines(dir: &std::path::Path, session: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("xdr"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        n += text
            .lines()
            .filter(|l| l.contains(&format!("\"session_id\":\"{session}\"")))
            .count();
    }
    n
}

#[test]
fn a_failing_store_holds_relayed_answers_then_relays_without_wholesale_and_loses_nothing() {
    let ocs = Gyro::start_as("pxf-ocs", "ocs.test.local", "", "");
    let failing = Arc::new(AtomicBool::new(false));
    let px = start_proxy(&ocs, failing.clone());
    let mut p = RawPeer::connect(px.addr);
    p.send(&cer("pgw.test.local"));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    let base = GyCcr {
        session: "pxf1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    the_ocs_answers_through_the_proxy(&mut p, base);
    failing.store(true, Ordering::SeqCst);
    a_relayed_answer_waits_for_its_wholesale_xdr(&mut p, base);
    past_the_stall_bound_answers_relay_without_wholesale(&px, base);
    failing.store(false, Ordering::SeqCst);
    p.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        result(&p.recv().unwrap()),
        Some(2001),
        "the held answer leaves"
    );
    // The OCS charged every reported octet once: 100 + 100 + 5000.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while data_balance(&ocs, "262019000000001").0 < 5200 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(data_balance(&ocs, "262019000000001").0, 5200);
    assert_eq!(
        wholesale_lines(&px.dir, "pxf1"),
        2,
        "each held report costed once"
    );
}

/// The upstream connection comes up just after the listener: CCR-Is until
/// one is answered 2001.
fn the_ocs_answers_through_the_proxy(p: &mut RawPeer, base: GyCcr<'static>) {
    let mut ok = false;
    for e2e in 1..50 {
        p.send(&gy_ccr(&GyCcr { e2e, ..base }));
        if result(&p.recv().unwrap()) == Some(2001) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ok, "the OCS never answered through the proxy");
}

/// With the store failing: durable in the xDR log at once; the store is
/// tried within 100 ms and fails: from then on relayed answers wait for it.
fn a_relayed_answer_waits_for_its_wholesale_xdr(p: &mut RawPeer, base: GyCcr<'static>) {
    let u = |n: u32, session: &'static str, used: u64| {
        gy_ccr(&GyCcr {
            session,
            kind: 2,
            number: n,
            e2e: 100 + n,
            used,
            ..base
        })
    };
    p.send(&u(1, "pxf1", 100));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    std::thread::sleep(Duration::from_millis(300));
    p.send(&u(2, "pxf1", 100));
    p.stream
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    assert!(
        p.recv().is_none(),
        "a relayed answer left before its wholesale xDR was durable"
    );
}

/// Past the stall bound: relayed at once, the wholesale xDR counted as
/// unrecorded (the OCS is the record of the subscriber's usage).
fn past_the_stall_bound_answers_relay_without_wholesale(px: &Proxy, base: GyCcr<'static>) {
    std::thread::sleep(Duration::from_millis(400));
    let mut q = RawPeer::connect(px.addr);
    q.send(&cer("pgw2.test.local"));
    assert_eq!(result(&q.recv().unwrap()), Some(2001));
    let i2 = GyCcr {
        session: "pxf2",
        origin: "pgw2.test.local",
        e2e: 200,
        ..base
    };
    q.send(&gy_ccr(&i2));
    assert_eq!(result(&q.recv().unwrap()), Some(2001));
    q.send(&gy_ccr(&GyCcr {
        kind: 2,
        number: 1,
        e2e: 201,
        used: 5000,
        ..i2
    }));
    assert_eq!(result(&q.recv().unwrap()), Some(2001));
    assert_eq!(wholesale_lines(&px.dir, "pxf2"), 0);
}
