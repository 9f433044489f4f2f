//! A store that fails under the embedded OCS, through a real socket: once
//! the commit thread finds it failing (usage is applied to it every 100 ms,
//! after the xDR log made it durable), answers are held and nothing is
//! dropped; once the disk stalls past `charging.commit_stall`
//! new requests get 3004 DIAMETER_TOO_BUSY; when the store heals, every held
//! answer leaves and the store holds exactly the usage they acknowledged.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::failing_store::FailingStore;
use crate::support::*;
use gyro::diameter::Message;
use gyro::inventory::Inventory;

struct Running {
    addr: SocketAddr,
    inventory: Arc<Inventory>,
    engine: Arc<gyro::charging::engine::Engine>,
    _rt: tokio::runtime::Runtime,
}

fn start(failing: Arc<AtomicBool>) -> Running {
    let dir = temp_dir("store-failure");
    let inventory = FailingStore::seeded(failing);
    let mut cfg = gyro::config::Config::load(None).unwrap();
    cfg.node.data_dir = dir;
    cfg.charging.commit_stall = gyro::config::HumaneDuration(Duration::from_millis(800));
    let (engine, app) = gyro::server::charging(&cfg, &inventory).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let mut node = in_process_node(vec![Arc::new(app)]);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        node.listen(l);
        tokio::spawn(async move { node.wait().await });
        addr
    });
    Running {
        addr,
        inventory,
        engine,
        _rt: rt,
    }
}

fn result(bytes: &[u8]) -> Option<u32> {
    Message::new(bytes).and_then(|m| m.result_code())
}

fn stored_usage(inv: &Inventory) -> u64 {
    inv.balances()
        .unwrap()
        .iter()
        .map(|(_, u)| u.data_octets)
        .sum()
}

#[test]
fn a_failing_store_holds_answers_then_3004_and_loses_nothing() {
    let failing = Arc::new(AtomicBool::new(false));
    let r = start(failing.clone());
    let mut p = RawPeer::connect(r.addr);
    p.send(&cer("pgw.test.local"));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    let base = GyCcr {
        session: "f1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    p.send(&gy_ccr(&base));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));

    failing.store(true, Ordering::SeqCst);
    // This one is durable in the xDR log at once; the store is tried within
    // 100 ms, fails, and from then on answers wait for it.
    p.send(&gy_ccr(&GyCcr {
        kind: 2,
        number: 1,
        e2e: 11,
        used: 100,
        ..base
    }));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    std::thread::sleep(Duration::from_millis(300));
    for n in 2..=3u32 {
        p.send(&gy_ccr(&GyCcr {
            kind: 2,
            number: n,
            e2e: 10 + n,
            used: 100,
            ..base
        }));
    }
    // Nothing acknowledged while the disk refuses the usage.
    p.stream
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    assert!(
        p.recv().is_none(),
        "an answer left before its usage was written"
    );
    // The disk has stalled past the bound: new usage is refused, not queued.
    std::thread::sleep(Duration::from_millis(400));
    let mut q = RawPeer::connect(r.addr);
    q.send(&cer("pgw2.test.local"));
    assert_eq!(result(&q.recv().unwrap()), Some(2001));
    q.send(&gy_ccr(&GyCcr {
        session: "f2",
        kind: 2,
        number: 1,
        e2e: 99,
        used: 5000,
        origin: "pgw2.test.local",
        ..base
    }));
    assert_eq!(result(&q.recv().unwrap()), Some(3004));

    failing.store(false, Ordering::SeqCst);
    p.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for _ in 2..=3 {
        assert_eq!(result(&p.recv().unwrap()), Some(2001));
    }
    // The store takes what the xDR log made durable within 100 ms.
    let mut stored = 0;
    for _ in 0..40 {
        stored = stored_usage(&r.inventory);
        if stored >= 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stored, 300, "the held usage, once; not the refused");
    let acct = r.inventory.imsi("262019000000001").unwrap();
    assert!(acct.is_some());
    let total: u64 = r
        .inventory
        .balances()
        .unwrap()
        .iter()
        .map(|(id, _)| r.engine.ledger.balance(*id).used.data_octets)
        .sum();
    assert_eq!(total, 300, "memory and store agree");
}
