//! Resolver benchmarks on synthetic inventories: IMSI lookup latency with 1 M
//! (or GYRO_BENCH_PROFILES) two-IMSI profiles loaded, index memory per
//! profile, and the time to rebuild the indexes from a sled store.
//!
//! Run: `cargo bench --bench resolver`; `GYRO_BENCH_PROFILES=10000000` for 10 M.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

use gyro::inventory::store::{SledStore, Storage, StorageExt, WriteBatch};
use gyro::inventory::Inventory;
use gyro::model::*;
use gyro::resolver::{Catalog, Index};

// The allocator `gyro` runs with, so that figures are the node's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn sponsors() -> Vec<Sponsor> {
    let s = |id: &str, plmn: &str, t: Option<Translation>| Sponsor {
        id: id.into(),
        name: id.into(),
        plmns: vec![plmn.into()],
        translation: t,
        proxy_origin_hosts: vec![format!("gy.{id}.example")],
        currency: "EUR".into(),
        provision_in_home_hss: true,
    };
    vec![
        s("own", "26201", None),
        s(
            "partner-x",
            "21377",
            Some(Translation {
                sponsor_prefix: "21377".into(),
                operator_prefix: "26201".into(),
            }),
        ),
    ]
}

fn iccid(i: u64) -> String {
    let p = format!("89491026{i:011}");
    format!("{p}{}", luhn_digit(&p))
}

fn profile(i: u64, account: u64) -> Profile {
    Profile {
        iccid: iccid(i),
        pool: "pool".into(),
        imsis: vec![format!("26201{i:010}"), format!("21377{i:010}")],
        transport_key_label: "K".into(),
        ki: Secret("00".repeat(16)),
        opc: Secret("00".repeat(16)),
        pin1: Secret("1111".into()),
        puk1: Secret("11111111".into()),
        pin2: Secret("2222".into()),
        puk2: Secret("22222222".into()),
        state: ProfileState::Assigned { account },
    }
}

fn account(i: u64) -> Account {
    Account {
        id: i + 1,
        msisdn: format!("4917{i:08}"),
        product: "P".into(),
        profile: Some(iccid(i)),
        status: AccountStatus::Active,
        created_at: 0,
    }
}

fn imsi(p: &Profile, slot: usize) -> Imsi {
    Imsi {
        imsi: p.imsis[slot].clone(),
        batch: "b".into(),
        sponsor: if slot == 0 { "own" } else { "partner-x" }.into(),
        state: ImsiState::Embedded {
            profile: p.iccid.clone(),
            slot: slot as u8 + 1,
        },
    }
}

fn build_index(n: u64) -> Arc<Index> {
    let idx = Index::new();
    idx.set_catalog(Catalog::new(
        sponsors(),
        vec![Product {
            name: "P".into(),
            rate_codes: vec![],
            rate_code_groups: vec![],
        }],
    ));
    // The order a rebuild uses: account, profile, then its IMSIs.
    for i in 0..n {
        let p = profile(i, i + 1);
        idx.put_account(&account(i), None);
        idx.put_profile(&p);
        idx.put_imsi(&imsi(&p, 0));
        idx.put_imsi(&imsi(&p, 1));
    }
    idx
}

/// `cargo test --all-targets` runs benches once as a smoke test: keep it small.
fn default_size(full: u64) -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        10_000
    }
}

fn resolver(c: &mut Criterion) {
    let n: u64 = std::env::var("GYRO_BENCH_PROFILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_size(1_000_000));
    let before = rss_bytes();
    let t = Instant::now();
    let idx = build_index(n);
    let built = t.elapsed();
    let after = rss_bytes();
    println!(
        "index: {n} two-IMSI profiles (with accounts) built in {:.2} s; {} bytes of memory per profile",
        built.as_secs_f64(),
        (after - before) / n
    );
    // A pseudo-random walk over the loaded IMSIs, so lookups miss the cache.
    let probes: Vec<String> = (0..4096u64)
        .map(|k| format!("26201{:010}", (k * 2_654_435_761) % n))
        .collect();
    let translated: Vec<String> = probes.clone();
    let mut g = c.benchmark_group("resolver");
    let mut i = 0;
    g.bench_function(format!("resolve_imsi_{n}"), |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.resolve_imsi(black_box(&probes[i]), None, 0).ok())
        })
    });
    g.bench_function(format!("resolve_translated_imsi_via_proxy_{n}"), |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(
                idx.resolve_imsi(black_box(&translated[i]), Some("gy.partner-x.example"), 0)
                    .ok(),
            )
        })
    });
    g.finish();
    drop(idx);

    // Rebuild from a sled store of `m` profiles (written once, outside the timing).
    let m: u64 = std::env::var("GYRO_BENCH_REBUILD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_size(200_000));
    // On disk, as a node keeps it (a temporary sled lives in /dev/shm). A
    // complete store is kept for the next run: writing 10 M profiles takes
    // longer than rebuilding from them.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rebuild-{m}-v2"));
    let store = Arc::new(SledStore::open(&dir).unwrap());
    if store.get_raw(b"bench/complete").unwrap().is_none() {
        write_store(&store, m);
    }
    let counts = (2 * m as usize, m as usize, m as usize);
    let ckpt = dir.with_extension("checkpoint");
    let _ = std::fs::remove_file(&ckpt);
    // No checkpoint yet: the full rebuild, record by record, as a node's
    // first start does it (the node then writes its first checkpoint while
    // it serves, timed below).
    let t = Instant::now();
    let inv = Inventory::open_with_checkpoint(store.clone(), Some(ckpt.clone())).unwrap();
    let took = t.elapsed();
    assert_eq!(inv.started_from(), gyro::inventory::StartedFrom::Rebuild);
    println!(
        "rebuild: {m} profiles ({} IMSIs, {m} accounts) from sled in {:.2} s = {:.0} profiles/s",
        2 * m,
        took.as_secs_f64(),
        m as f64 / took.as_secs_f64()
    );
    assert_eq!(inv.index().counts(), counts);
    let t = Instant::now();
    inv.write_checkpoint().unwrap();
    let wrote = t.elapsed();
    drop(inv);
    let t = Instant::now();
    let inv = Inventory::open_with_checkpoint(store, Some(ckpt.clone())).unwrap();
    let loaded = t.elapsed();
    assert_eq!(
        inv.started_from(),
        gyro::inventory::StartedFrom::Checkpoint { replayed: 0 }
    );
    assert_eq!(inv.index().counts(), counts);
    println!(
        "checkpoint: {m} profiles written in {:.2} s ({} MB), start-up from it in {:.2} s = {:.0} profiles/s",
        wrote.as_secs_f64(),
        std::fs::metadata(&ckpt).map_or(0, |md| md.len() >> 20),
        loaded.as_secs_f64(),
        m as f64 / loaded.as_secs_f64()
    );
}

/// Writes `m` profiles in batches of a thousand: sled 0.34's resident size
/// grows with the size of a batch, and a few large ones exhaust the memory of
/// a 10 M run. Resumes where an interrupted run stopped.
fn write_store(store: &SledStore, m: u64) {
    let done: u64 = store.get("bench/written").unwrap().unwrap_or(0);
    if done == 0 {
        let mut b = WriteBatch::default();
        for s in sponsors() {
            b.put(format!("sponsor/{}", s.id), &s);
        }
        b.put(
            "product/P",
            &Product {
                name: "P".into(),
                rate_codes: vec![],
                rate_code_groups: vec![],
            },
        );
        store.commit(b).unwrap();
    }
    let mut start = done;
    while start < m {
        let end = (start + 1000).min(m);
        let mut b = WriteBatch::default();
        for i in start..end {
            let p = profile(i, i + 1);
            b.put(format!("imsi/{}", p.imsis[0]), &imsi(&p, 0));
            b.put(format!("imsi/{}", p.imsis[1]), &imsi(&p, 1));
            b.put(format!("account/{:020}", i + 1), &account(i));
            b.put(format!("profile/{}", p.iccid), &p);
        }
        b.put("bench/written", &end);
        store.commit(b).unwrap();
        start = end;
    }
    let mut b = WriteBatch::default();
    b.put("bench/complete", &m);
    store.commit(b).unwrap();
}

criterion_group!(benches, resolver);
criterion_main!(benches);
