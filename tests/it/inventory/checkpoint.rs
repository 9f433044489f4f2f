//! Start-up from the index checkpoint and the store's change feed: after
//! changes the checkpoint does not hold and an unclean end, the node starts
//! from the checkpoint and answers exactly as a full rebuild from the store
//! would; a damaged checkpoint is never trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gyro::inventory::seed;
use gyro::inventory::stock::{StockBy, StockLine};
use gyro::inventory::store::SledStore;
use gyro::inventory::{Inventory, StartedFrom};

pub(super) fn open(dir: &Path, checkpoint: Option<PathBuf>) -> Inventory {
    let store = Arc::new(SledStore::open(&dir.join("inventory")).unwrap());
    Inventory::open_with_checkpoint(store, checkpoint).unwrap()
}

/// Everything a user sees of the index: what it holds, stock both ways, and
/// how each given IMSI resolves.
pub(super) type Answers = (
    (usize, usize, usize),
    Vec<StockLine>,
    Vec<StockLine>,
    Vec<String>,
);

pub(super) fn answers(inv: &Inventory, imsis: &[String]) -> Answers {
    let idx = inv.index();
    (
        idx.counts(),
        inv.stock(StockBy::Sponsor, 0).unwrap(),
        inv.stock(StockBy::Product, 0).unwrap(),
        imsis
            .iter()
            .map(|i| format!("{:?}", idx.resolve_imsi(i, None, 0)))
            .collect(),
    )
}

#[test]
fn checkpoint_plus_feed_answers_as_a_full_rebuild() {
    let dir = std::env::temp_dir().join(format!("gyro-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ckpt = dir.join("index.checkpoint");
    {
        let inv = open(&dir, Some(ckpt.clone()));
        let s = seed::parse(seed::EMBEDDED, "config/seed.toml").unwrap();
        assert!(inv.apply_seed(&s, "config/seed.toml").unwrap());
        inv.write_checkpoint().unwrap();
    }
    // Changes after the checkpoint, then an end without one.
    let mut imsis = Vec::new();
    let live = {
        let inv = open(&dir, Some(ckpt.clone()));
        assert_eq!(inv.started_from(), StartedFrom::Checkpoint { replayed: 0 });
        for _ in 0..3 {
            let (_, p) = inv
                .onboard("test", "Balkan Traveller 10-Day Pass", None)
                .unwrap();
            imsis.extend(p.imsis);
        }
        answers(&inv, &imsis)
    };
    let from_checkpoint = {
        let inv = open(&dir, Some(ckpt.clone()));
        assert_eq!(inv.started_from(), StartedFrom::Checkpoint { replayed: 3 });
        let a = answers(&inv, &imsis);
        assert!(a.3.iter().all(|r| r.starts_with("Ok(")), "{:?}", a.3);
        // The replay left a checkpoint due, as a node writes it once serving.
        assert!(inv.changed_since_checkpoint());
        inv.write_checkpoint().unwrap();
        assert!(!inv.changed_since_checkpoint());
        a
    };
    let rebuilt = {
        let inv = open(&dir, None);
        assert_eq!(inv.started_from(), StartedFrom::Rebuild);
        answers(&inv, &imsis)
    };
    assert_eq!(from_checkpoint, rebuilt);
    // And as the running node saw it before it stopped.
    assert_eq!(rebuilt, live);

    // The checkpoint written after the replay: nothing left to replay.
    let inv = open(&dir, Some(ckpt.clone()));
    assert_eq!(inv.started_from(), StartedFrom::Checkpoint { replayed: 0 });
    drop(inv);

    // A damaged checkpoint is rebuilt around, with the same answers.
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&ckpt, bytes).unwrap();
    let inv = open(&dir, Some(ckpt.clone()));
    assert_eq!(inv.started_from(), StartedFrom::Rebuild);
    assert_eq!(answers(&inv, &imsis), rebuilt);
    drop(inv);
    let _ = std::fs::remove_dir_all(&dir);
}
