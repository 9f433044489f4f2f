//! What a failed store write leaves: nothing. A commit whose flush fails is
//! taken back before the error reaches the caller (the store refuses every
//! operation until it is), so neither the store, nor the index, nor the
//! stock, nor a start from the checkpoint ever sees it. And the change
//! feed never writes two commits under one key, even over a store that
//! breaks that contract.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use super::checkpoint::{answers, open, Answers};
use crate::support::failing_store::FailingStore;
use crate::support::*;
use gyro::inventory::store::{Fault, SledStore, StoreError, StoreFaults};
use gyro::inventory::{seed, Inventory, InventoryError, StartedFrom};

const PRODUCT: &str = "Balkan Traveller 10-Day Pass";

fn seeded_with_checkpoint(dir: &Path) -> PathBuf {
    let ckpt = dir.join("index.checkpoint");
    let inv = open(dir, Some(ckpt.clone()));
    let s = seed::parse(seed::EMBEDDED, "config/seed.toml").unwrap();
    assert!(inv.apply_seed(&s, "config/seed.toml").unwrap());
    inv.write_checkpoint().unwrap();
    ckpt
}

/// What a start from the checkpoint answers for `imsis` (it must start
/// from it), and what a full rebuild answers.
fn restarted(dir: &Path, ckpt: PathBuf, imsis: &[String]) -> (Answers, Answers) {
    let from_checkpoint = {
        let inv = open(dir, Some(ckpt));
        assert!(
            matches!(inv.started_from(), StartedFrom::Checkpoint { .. }),
            "{:?}",
            inv.started_from()
        );
        answers(&inv, imsis)
    };
    (from_checkpoint, answers(&open(dir, None), imsis))
}

fn accounts_stored(inv: &Inventory) -> usize {
    inv.store().scan_raw(b"account/").count()
}

#[test]
fn a_commit_whose_flush_fails_is_taken_back_before_the_error() {
    let dir = temp_dir("store-flush");
    let ckpt = seeded_with_checkpoint(&dir);
    let faults = Arc::new(StoreFaults::default());
    let store = SledStore::open(&dir.join("inventory"))
        .unwrap()
        .with_faults(faults.clone());
    let inv = Inventory::open_with_checkpoint(Arc::new(store), Some(ckpt.clone())).unwrap();
    let (stored, seen) = (accounts_stored(&inv), answers(&inv, &[]));

    // sled applies the batch in memory, then its flush fails: the store
    // puts back what the keys held before it answers.
    faults.set(Fault::AtFlushOnce);
    let e = inv.onboard("test", PRODUCT, None).err();
    assert!(matches!(e, Some(InventoryError::Store(_))), "{e:?}");
    assert_eq!(
        accounts_stored(&inv),
        stored,
        "the account is not in the store"
    );
    assert_eq!(answers(&inv, &[]), seen, "nor in the index or the stock");

    // A disk that keeps failing: the batch cannot be taken back yet, so
    // the store refuses reads and writes until it can.
    faults.set(Fault::AtFlush);
    assert!(inv.onboard("test", PRODUCT, None).is_err());
    let refused = inv.store().get_raw(b"meta/seq").err();
    assert!(
        matches!(refused, Some(StoreError::Poisoned(_))),
        "{refused:?}"
    );
    faults.set(Fault::Off);
    wait_until(10, "the store to take the failed write back", || {
        inv.store().get_raw(b"meta/seq").is_ok()
    });
    assert_eq!(accounts_stored(&inv), stored);
    assert_eq!(answers(&inv, &[]), seen);

    let (_, p) = inv.onboard("test", PRODUCT, None).unwrap();
    assert_eq!(accounts_stored(&inv), stored + 1);
    let live = answers(&inv, &p.imsis);
    drop(inv);

    let (from_checkpoint, rebuilt) = restarted(&dir, ckpt, &p.imsis);
    assert_eq!(from_checkpoint, rebuilt);
    assert_eq!(rebuilt, live);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_commit_never_shares_its_feed_key_with_the_next() {
    let dir = temp_dir("store-feed");
    let ckpt = seeded_with_checkpoint(&dir);
    let store = FailingStore {
        inner: SledStore::open(&dir.join("inventory")).unwrap(),
        failing: Arc::default(),
        lying: Arc::default(),
    };
    let lying = store.lying.clone();
    let inv = Inventory::open_with_checkpoint(Arc::new(store), Some(ckpt.clone())).unwrap();
    let (closed, p1) = inv.onboard("test", PRODUCT, None).unwrap();
    // The closure reaches the disk, yet its commit reports an error.
    lying.store(true, SeqCst);
    assert!(inv.close_account("test", closed.id).is_err());
    lying.store(false, SeqCst);
    let (_, p2) = inv.onboard("test", PRODUCT, None).unwrap();
    drop(inv);

    let imsis: Vec<String> = p1.imsis.iter().chain(&p2.imsis).cloned().collect();
    let (from_checkpoint, rebuilt) = restarted(&dir, ckpt, &imsis);
    assert_eq!(
        from_checkpoint, rebuilt,
        "a start from the checkpoint must see the closure the store holds"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closure_the_store_refused_leaves_the_index_as_it_was() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inv = FailingStore::seeded(failing.clone());
    let (account, p) = inv.onboard("test", PRODUCT, None).unwrap();
    let seen = answers(&inv, &p.imsis);
    failing.store(true, SeqCst);
    assert!(inv.close_account("test", account.id).is_err());
    failing.store(false, SeqCst);
    assert_eq!(
        answers(&inv, &p.imsis),
        seen,
        "the profile still serves its account"
    );
}
