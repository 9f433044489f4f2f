//! The commit thread: durability across store applies and shutdown.

use super::*;
use crate::inventory::store::SledStore;

fn commit(account: u64, data_octets: u64) -> Commit {
    Commit {
        account,
        used: Some(Used {
            data_octets,
            ..Used::default()
        }),
        xdrs: vec![],
        fup: None,
        fup_restore: false,
    }
}

/// A committer on a temporary store and an xDR directory named `tag`, and
/// a runtime to wait on its watermark.
fn committer(
    tag: &str,
) -> (
    Arc<Inventory>,
    std::path::PathBuf,
    Committer,
    tokio::runtime::Runtime,
) {
    let inv = Arc::new(Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap());
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let xdr = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
    let c = Committer::start(inv.clone(), xdr, CommitLimits::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    (inv, dir, c, rt)
}

/// Traffic that goes on past the store's 100 ms: every commit becomes
/// durable (the watermark never falls back when the store takes a
/// group), and at the end the store has each account's latest total.
#[test]
fn every_commit_becomes_durable_across_store_applies() {
    let (inv, dir, c, rt) = committer("gyro-commit");
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_millis(350) {
        n += 1;
        let seq = c.submit(commit(n % 3, n));
        let done = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), c.durable(seq)).await });
        assert_eq!(done, Ok(true), "commit {seq} never became durable");
    }
    c.finish(Duration::from_secs(5));
    let mut stored = inv.balances().unwrap();
    stored.sort_by_key(|(a, _)| *a);
    let latest: Vec<u64> = stored.iter().map(|(_, u)| u.data_octets).collect();
    let expect: Vec<u64> = (0..3u64)
        .map(|a| (1..=n).filter(|i| i % 3 == a).max().unwrap())
        .collect();
    assert_eq!(latest, expect);
    assert_eq!(inv.charging_sequence().unwrap(), n);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A shutdown after the store took everything keeps the stored
/// sequence: a restart replays the xDR log only after it.
#[test]
fn a_shutdown_with_nothing_left_to_store_keeps_the_sequence() {
    let (inv, dir, c, rt) = committer("gyro-commit-idle");
    let seq = c.submit(commit(7, 1000));
    let done =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), c.durable(seq)).await });
    assert_eq!(done, Ok(true));
    // Past the store's 100 ms: the commit thread applied the group.
    let applied = Instant::now() + Duration::from_secs(5);
    while inv.charging_sequence().unwrap() != seq && Instant::now() < applied {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(inv.charging_sequence().unwrap(), seq);
    c.finish(Duration::from_secs(5));
    assert_eq!(inv.charging_sequence().unwrap(), seq);
    let _ = std::fs::remove_dir_all(&dir);
}
