//! A store that fails under the embedded OCS, through a real socket: once
//! the commit thread finds it failing (usage is applied to it every 100 ms,
//! after the xDR log made it durable), answers are held and nothing is
//! dropped; once the disk stalls past `charging.commit_stall`
//! new requests get 3004 DIAMETER_TOO_BUSY; when the store heals, every held
//! answer leaves and the store holds exactly the usage they acknowledged.
//! A record the store can never read (one corrupt profile) parks the one
//! event that needs it, and every other account goes on charging.

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
    start_on(FailingStore::seeded(failing))
}

fn start_on(inventory: Arc<Inventory>) -> Running {
    let dir = temp_dir("store-failure");
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

/// The MSISDN's account, and the home IMSI and ICCID of its profile.
fn subscriber(inv: &Inventory, msisdn: u64) -> (u64, String, String) {
    let id = inv.index().account_by_msisdn(msisdn).unwrap().id;
    let iccid = inv.account(id).unwrap().unwrap().profile.unwrap();
    let profile = inv.profile(&iccid).unwrap().unwrap();
    let imsi = profile
        .imsis
        .iter()
        .find(|i| i.starts_with("26201"))
        .unwrap();
    (id, imsi.clone(), iccid)
}

/// A session's CCR-I then one CCR-U reporting `used` octets, from its own
/// gateway; the CCR-U's Result-Code (None: no answer within 3 s).
fn charge_once(addr: SocketAddr, session: &str, imsi: &str, used: u64) -> Option<u32> {
    let host = format!("{session}.test.local");
    let mut p = RawPeer::connect(addr);
    p.send(&cer(&host));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    let i = GyCcr {
        session,
        imsi,
        origin: &host,
        requested: Some(1000),
        ..GyCcr::BASE
    };
    p.send(&gy_ccr(&i));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    p.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    p.send(&gy_ccr(&GyCcr {
        kind: 2,
        number: 1,
        e2e: 2,
        used,
        ..i
    }));
    p.recv().as_deref().and_then(result)
}

#[test]
fn a_corrupt_record_parks_one_event_and_charging_goes_on() {
    let store = Arc::new(FailingStore {
        inner: gyro::inventory::store::SledStore::temporary().unwrap(),
        failing: Arc::new(AtomicBool::new(false)),
        lying: Arc::default(),
    });
    let inventory = Arc::new(Inventory::open(store.clone()).unwrap());
    let seed = gyro::inventory::seed::parse(gyro::inventory::seed::EMBEDDED, "seed").unwrap();
    inventory.apply_seed(&seed, "seed").unwrap();
    let (a1, imsi1, iccid1) = subscriber(&inventory, 491_700_000_001);
    let (a2, imsi2, _) = subscriber(&inventory, 491_700_000_002);
    // One profile record rots on disk; the node's indexes were built before.
    let mut b = gyro::inventory::store::WriteBatch::default();
    b.put(
        format!("profile/{iccid1}"),
        &serde_json::json!("not a profile"),
    );
    gyro::inventory::store::Storage::commit(&store.inner, b).unwrap();
    let r = start_on(inventory);

    // Past the fair-usage threshold (50 GB): the throttle event needs the
    // profile's IMSIs, and the profile cannot be read.
    let over = 50_000_000_001;
    assert_eq!(charge_once(r.addr, "rot", &imsi1, over), Some(2001));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        charge_once(r.addr, "fine", &imsi2, 700),
        Some(2001),
        "another account charges on"
    );
    wait_until(5, "both balances stored", || {
        let b = r.inventory.balances().unwrap();
        let of = |a: u64| {
            b.iter()
                .find(|(id, _)| *id == a)
                .map(|(_, u)| u.data_octets)
        };
        of(a1) == Some(over) && of(a2) == Some(700)
    });
    let parked = r.inventory.parked_usage().unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].account, a1);
    assert_eq!(parked[0].fup.as_ref().unwrap().used_octets, over);
    assert!(parked[0].error.contains(&iccid1), "{}", parked[0].error);
    // An operator sees it through the admin API.
    let base = api_of(&r);
    let seen: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/charging/parked"))
        .bearer_auth("parked-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let p = &seen["parked"][0];
    assert_eq!(p["account"], a1, "{seen}");
    assert_eq!(p["fup"]["used_octets"], over, "{seen}");
    assert!(p["error"].as_str().unwrap().contains(&iccid1), "{seen}");
}

/// The admin API over the running node's inventory and engine: its URL.
fn api_of(r: &Running) -> String {
    let state = gyro::api::ApiState {
        engine: Some(r.engine.clone()),
        ..api_state(r.inventory.clone(), "parked-token")
    };
    format!("http://{}", serve_api(&r._rt, state))
}
