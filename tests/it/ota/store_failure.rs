//! A store that fails under an OTA swap: the swap engine, the
//! location queue and the vendor double run in-process on the seed's
//! inventory over a failing sled store (a full or broken disk). Whether the
//! commit that fails is the order's or the confirmation's, the call errors,
//! the profile, its IMSIs and the stock stay as they were, and once the
//! store recovers the retry (the queue's next pass, or the resume at the
//! next start) completes exactly one swap.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use crate::support::failing_store::FailingStore;
use crate::support::ota::{wait_for, Y_IMSI};
use crate::support::ota_vendor::{Mode, OtaDouble};
use gyro::config::HumaneDuration;
use gyro::inventory::ota_swap::{NewImsi, SwapOrder};
use gyro::inventory::stock::StockBy;
use gyro::inventory::store::{RecordIter, SledStore, Storage, StoreError, Visitor, WriteBatch};
use gyro::inventory::{seed, Inventory};
use gyro::model::event::EventType;
use gyro::model::ota::SwapState;
use gyro::model::{ImsiState, Profile};
use gyro::ota::engine::OtaEngine;
use gyro::ota::intake::{drain_once, Intake};
use gyro::ota::OtaSettings;
use rust_decimal::Decimal;

/// The shared failing store, which also starts failing by itself after
/// `passes` more commits (so a test can fail exactly the order's commit)
/// and counts the commits it refused (so a test knows one was tried).
struct Flaky {
    inner: FailingStore,
    passes: AtomicUsize,
    refused: AtomicUsize,
}

impl Storage for Flaky {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_raw(key)
    }
    fn scan_raw(&self, prefix: &[u8]) -> RecordIter<'_> {
        self.inner.scan_raw(prefix)
    }
    fn visit(&self, prefix: &[u8], f: &mut Visitor<'_>) -> Result<(), StoreError> {
        self.inner.visit(prefix, f)
    }
    fn commit(&self, batch: WriteBatch) -> Result<u64, StoreError> {
        let left = self.passes.load(SeqCst);
        if left == 0 {
            self.inner.failing.store(true, SeqCst);
        } else if left != usize::MAX {
            self.passes.store(left - 1, SeqCst);
        }
        let r = self.inner.commit(batch);
        if r.is_err() {
            self.refused.fetch_add(1, SeqCst);
        }
        r
    }
    fn next_id(&self) -> Result<u64, StoreError> {
        self.inner.next_id()
    }
}

struct Node {
    inv: Arc<Inventory>,
    store: Arc<Flaky>,
    engine: Arc<OtaEngine>,
    intake: Intake,
    _rt: tokio::runtime::Runtime,
}

impl Node {
    fn start(double: &OtaDouble) -> Node {
        let store = Arc::new(Flaky {
            inner: FailingStore {
                inner: SledStore::temporary().unwrap(),
                failing: Arc::new(AtomicBool::new(false)),
                lying: Arc::default(),
            },
            passes: AtomicUsize::new(usize::MAX),
            refused: AtomicUsize::new(0),
        });
        let inv = Arc::new(Inventory::open(store.clone()).unwrap());
        let s = seed::parse(seed::EMBEDDED, "seed").unwrap();
        assert!(inv.apply_seed(&s, "seed").unwrap());
        let cfg = OtaSettings {
            url: Some(double.url()),
            timeout: HumaneDuration(Duration::from_secs(5)),
            backoff_initial: HumaneDuration(Duration::from_millis(100)),
            backoff_max: HumaneDuration(Duration::from_millis(300)),
            ..OtaSettings::default()
        };
        let vendor = gyro::ota::vendor::OtaVendor::from_config(&cfg).unwrap();
        let rating = Arc::new(gyro::rating::Rating::parse(gyro::rating::EMBEDDED, "r").unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let engine = OtaEngine::new(
            inv.clone(),
            Arc::new(move || rating.clone()),
            Decimal::ZERO,
            vendor.map(Arc::new),
            rt.handle().clone(),
        );
        let intake = Intake::new(inv.clone(), &cfg).unwrap();
        Node {
            inv,
            store,
            engine,
            intake,
            _rt: rt,
        }
    }

    fn fail_after(&self, commits: usize) {
        self.store.passes.store(commits, SeqCst);
    }

    fn heal(&self) {
        self.store.passes.store(usize::MAX, SeqCst);
        self.store.inner.failing.store(false, SeqCst);
    }

    /// One pass of the location queue, as if its window were long over:
    /// (events the engine took, events kept for the next pass).
    fn drain(&self) -> (usize, usize) {
        let later = self.inv.now() + 3600;
        let d = drain_once(self.intake.queue(), later, &self.engine);
        (d.delivered, d.kept)
    }

    fn balkan(&self) -> Profile {
        let iccid = match self.inv.imsi(Y_IMSI).unwrap().unwrap().state {
            ImsiState::Embedded { profile, .. } => profile,
            other => panic!("{Y_IMSI} is {other:?}"),
        };
        self.inv.profile(&iccid).unwrap().unwrap()
    }

    /// (IMSIs in "dynamic W", available profiles with a Y IMSI).
    fn stock(&self) -> (u64, u64) {
        let lines = self.inv.stock(StockBy::Sponsor, 0).unwrap();
        let of = |name: &str| lines.iter().find(|l| l.name == name).unwrap().clone();
        (
            of("Partner W").dynamic_imsis,
            of("Partner Y").available_profiles,
        )
    }

    fn resolves(&self, imsi: &str) -> Option<u64> {
        let r = self.inv.index().resolve_imsi(imsi, None, self.inv.now());
        r.ok().map(|s| s.account)
    }

    fn activations(&self) -> usize {
        let all = self.inv.events_after(0, 100_000).unwrap();
        let on = |e: &&gyro::model::event::Event| e.event_type == EventType::ImsiActivate;
        all.iter().filter(on).count()
    }
}

fn albania(n: &Node, id: &str) {
    let body = format!(
        r#"{{"event_id": "{id}", "imsi": "{Y_IMSI}", "mcc": "276", "mnc": "03",
            "observed_at": "2026-12-01T10:00:00Z"}}"#
    );
    n.intake.accept(body.as_bytes()).unwrap();
}

fn to_w(p: &Profile) -> SwapOrder {
    SwapOrder {
        iccid: p.iccid.clone(),
        slot: 2,
        old_imsi: p.imsis[1].clone(),
        new: NewImsi::FromPool {
            pool: "dynamic W".into(),
            sponsor: "partner-w".into(),
        },
        mcc: "276".into(),
        old_price: Some(Decimal::new(3, 1)),
        new_price: Decimal::new(2, 1),
    }
}

fn confirmed(n: &Node, iccid: &str) -> usize {
    let all = n.inv.imsi_swaps_of(iccid).unwrap();
    let done = |s: &&gyro::model::ota::ImsiSwap| matches!(s.state, SwapState::Confirmed { .. });
    all.iter().filter(done).count()
}

/// The seed's W IMSIs that the store has in "dynamic W".
fn w_in_pool(n: &Node) -> usize {
    let in_w = ImsiState::InDynamicPool {
        pool: "dynamic W".into(),
    };
    (901_280_000_000_001u64..=901_280_000_002_000)
        .filter(|i| n.inv.imsi(&i.to_string()).unwrap().unwrap().state == in_w)
        .count()
}

/// Nothing of a swap happened: the profile, its resolution, the pool in
/// the store and in the stock figures, no swap and no event.
fn unchanged(n: &Node, p: &Profile, stock: (u64, u64), account: u64) {
    assert_eq!(&n.inv.profile(&p.iccid).unwrap().unwrap(), p);
    assert_eq!(n.resolves(Y_IMSI), Some(account));
    assert_eq!(n.stock(), stock);
    assert_eq!(
        w_in_pool(n) as u64,
        stock.0,
        "the store agrees with the stock"
    );
    assert!(n.inv.imsi_swaps_of(&p.iccid).unwrap().is_empty());
    assert!(n.inv.open_imsi_swaps().unwrap().is_empty());
    assert_eq!(n.activations(), 0);
}

#[test]
fn a_store_failing_at_the_order_changes_nothing_and_the_next_pass_swaps_once() {
    let double = OtaDouble::start();
    let n = Node::start(&double);
    let p = n.balkan();
    let account = n.resolves(Y_IMSI).unwrap();
    let before = n.stock();

    // Asked directly, the order errors.
    n.fail_after(0);
    let e = n.inv.order_imsi_swap("t", &to_w(&p)).unwrap_err();
    assert!(e.to_string().contains("no space left"), "{e}");
    n.heal();
    unchanged(&n, &p, before, account);

    // Through the queue: the decision is recorded, then the order's commit
    // fails, so the engine refuses the event and it stays queued.
    albania(&n, "sf-1");
    n.fail_after(1);
    assert_eq!(n.drain(), (0, 1), "kept for the next pass");
    n.heal();
    unchanged(&n, &p, before, account);
    assert_eq!(n.intake.queue().pending().unwrap().len(), 1);
    assert_eq!(n.inv.decisions(&p.iccid).unwrap().len(), 1);
    assert!(double.calls().is_empty(), "nothing went to the vendor");

    // Recovered: the next pass decides again and orders; one swap.
    assert_eq!(n.drain(), (1, 0));
    wait_for("the swap confirmed", 20, || confirmed(&n, &p.iccid) == 1);
    let swaps = n.inv.imsi_swaps_of(&p.iccid).unwrap();
    assert_eq!((swaps.len(), double.swaps().len()), (1, 1));
    let now = n.inv.profile(&p.iccid).unwrap().unwrap();
    assert_eq!(now.imsis, [p.imsis[0].clone(), swaps[0].new_imsi.clone()]);
    assert_eq!(n.stock(), (before.0 - 1, before.1));
    assert_eq!(w_in_pool(&n) as u64, before.0 - 1);
    assert_eq!(n.activations(), 1);
    assert!(n.intake.queue().pending().unwrap().is_empty());
}

#[test]
fn a_store_failing_at_the_confirmation_keeps_the_order_and_the_resume_confirms_once() {
    let double = OtaDouble::start();
    // Slow, so that the store fails while the call is out.
    double.set_mode(Mode::Slow(Duration::from_millis(800)));
    let n = Node::start(&double);
    let p = n.balkan();
    let account = n.resolves(Y_IMSI).unwrap();
    let before = n.stock();
    albania(&n, "sf-2");
    assert_eq!(n.drain(), (1, 0));
    wait_for("the vendor called", 10, || !double.calls().is_empty());
    n.fail_after(0);
    wait_for("the confirmation tried", 10, || {
        n.store.refused.load(SeqCst) > 0
    });

    // The swap stays as ordered: Y still in the slot, both IMSIs resolve,
    // W out of the pool, no event.
    let s = n.inv.imsi_swaps_of(&p.iccid).unwrap()[0].clone();
    assert_eq!(s.state, SwapState::Ordered);
    assert_eq!(n.inv.profile(&p.iccid).unwrap().unwrap(), p);
    let both = (n.resolves(Y_IMSI), n.resolves(&s.new_imsi));
    assert_eq!(both, (Some(account), Some(account)));
    assert_eq!(n.stock(), (before.0 - 1, before.1));
    assert_eq!(n.activations(), 0);
    // Asked directly, confirming or failing it errors and changes nothing.
    assert!(n.inv.confirm_imsi_swap("t", s.id).is_err());
    assert!(n.inv.fail_imsi_swap("t", s.id, "t").is_err());
    assert_eq!(n.inv.imsi_swap(s.id).unwrap().state, SwapState::Ordered);
    let new = n.inv.imsi(&s.new_imsi).unwrap().unwrap();
    let embedded = ImsiState::Embedded {
        profile: p.iccid.clone(),
        slot: 2,
    };
    assert_eq!(new.state, embedded);
    assert_eq!(w_in_pool(&n) as u64, before.0 - 1);

    // Recovered: the next start resumes it with the same call id; the
    // vendor answers as before and the swap is confirmed once.
    n.heal();
    double.set_mode(Mode::Succeed);
    assert_eq!(n.engine.resume().unwrap(), 1);
    wait_for("the swap confirmed", 20, || confirmed(&n, &p.iccid) == 1);
    assert_eq!(n.inv.imsi_swaps_of(&p.iccid).unwrap().len(), 1);
    assert_eq!(double.swaps().len(), 1, "the vendor swapped once");
    // Whichever drive confirms it (the first one's retry may win once the
    // store heals), every call the vendor got carries the one identifier.
    let ids: std::collections::HashSet<String> =
        double.calls().iter().map(|c| c.call_id.clone()).collect();
    assert_eq!(ids.len(), 1, "the resumed call was the same one");
    let now = n.inv.profile(&p.iccid).unwrap().unwrap();
    assert_eq!(now.imsis, [p.imsis[0].clone(), s.new_imsi.clone()]);
    let held = n.inv.held_for(account).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].imsi.imsi, Y_IMSI);
    assert_eq!(n.stock(), (before.0 - 1, before.1));
    assert_eq!(n.activations(), 1);
}

/// After an eSIM swap the old profile's IMSIs are on hold for the
/// subscriber, but they never come back as candidates for the new eSIM.
#[test]
fn the_old_esim_s_imsis_are_never_candidates_for_the_new_one() {
    let double = OtaDouble::start();
    let n = Node::start(&double);
    let old = n.balkan();
    let account = n.resolves(Y_IMSI).unwrap();
    let (swap, _) = n
        .inv
        .esim_swap("t", account, "Balkan Traveller 10-Day Pass")
        .unwrap();
    let y = n.inv.imsi(Y_IMSI).unwrap().unwrap();
    assert!(matches!(y.state, ImsiState::Hold { .. }), "{y:?}");
    let new = n.inv.account(account).unwrap().unwrap().profile.unwrap();
    assert_ne!(new, old.iccid, "{swap:?}");
    let d = n.engine.decide_for(&new, "297").unwrap();
    let held: Vec<_> = d
        .priced
        .iter()
        .filter(|p| p.source == gyro::ota::decision::Source::Held)
        .collect();
    assert!(held.is_empty(), "old IMSIs offered: {held:?}");
}
