//! Resolver benchmarks on synthetic inventories: IMSI lookup latency with 1 M
//! (or GYRO_BENCH_PROFILES) two-IMSI profiles loaded, alone and with a writer
//! importing new profiles beside it, index memory per profile, and the time to
//! rebuild the indexes from a sled store.
//!
//! Run: `cargo bench --bench resolver`; `GYRO_BENCH_PROFILES=10000000` for 10 M,
//! `GYRO_BENCH_REBUILD=0` to skip the rebuild.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
            ..Product::default()
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
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn default_size(full: u64) -> u64 {
    if full_run() {
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
    let probes = lookups(c, n, &idx);
    drop(idx);
    tail_latency(n, &probes);
    rebuild_and_checkpoint();
}

/// IMSI look-ups alone, through a sponsor's proxy, and beside a writer;
/// returns the IMSIs probed.
fn lookups(c: &mut Criterion, n: u64, idx: &Index) -> Vec<String> {
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
    // The same look-ups while a writer imports new profiles (and their IMSIs)
    // at full speed, growing every table as it goes.
    let next = AtomicU64::new(n);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| import(idx, &next, &stop));
        g.bench_function(format!("resolve_imsi_{n}_with_writer"), |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(idx.resolve_imsi(black_box(&probes[i]), None, 0).ok())
            })
        });
        stop.store(true, Relaxed);
    });
    g.finish();
    probes
}

/// The start-up figures: a full rebuild from a sled store of `m` profiles
/// (written once, outside the timing), then a checkpoint written and read.
fn rebuild_and_checkpoint() {
    let m: u64 = std::env::var("GYRO_BENCH_REBUILD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_size(200_000));
    if m == 0 {
        return;
    }
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

/// Imports profiles `next`, `next + 1`, … (account, profile, two IMSIs: what
/// an import commit puts) until `stop`.
fn import(idx: &Index, next: &AtomicU64, stop: &AtomicBool) {
    while !stop.load(Relaxed) {
        let i = next.fetch_add(1, Relaxed);
        let p = profile(i, i + 1);
        idx.put_account(&account(i), None);
        idx.put_profile(&p);
        idx.put_imsi(&imsi(&p, 0));
        idx.put_imsi(&imsi(&p, 1));
    }
}

/// Batches of look-ups timed one by one, and how often the reading thread
/// left its CPU meanwhile.
#[derive(Default)]
struct Tail {
    /// Nanoseconds per look-up, one figure per batch of `BATCH`.
    batches: Vec<f64>,
    /// Voluntary context switches: the reader blocked (a lock it waited on).
    blocked: u64,
    /// Involuntary ones: the scheduler gave its CPU to another thread.
    preempted: u64,
}

/// Small enough that a batch preempted for a scheduler tick (4 ms) is rare
/// in the p99 of a busy two-CPU machine; ten make the batch of 1000 that
/// the other figures are given for.
const BATCH: usize = 100;

impl Tail {
    fn round(&mut self, idx: &Index, probes: &[String], time: Duration) {
        let (v, n) = context_switches();
        let mut i = 0;
        let t = Instant::now();
        while t.elapsed() < time {
            let b = Instant::now();
            for _ in 0..BATCH {
                i = (i + 1) & 4095;
                black_box(idx.resolve_imsi(black_box(&probes[i]), None, 0).ok());
            }
            self.batches
                .push(b.elapsed().as_nanos() as f64 / BATCH as f64);
        }
        let (v2, n2) = context_switches();
        self.blocked += v2 - v;
        self.preempted += n2 - n;
    }

    fn report(&self, name: &str) {
        let per_1000: Vec<f64> = self
            .batches
            .chunks_exact(10)
            .map(|c| c.iter().sum::<f64>() / 10.0)
            .collect();
        for (size, mut v) in [(BATCH, self.batches.clone()), (10 * BATCH, per_1000)] {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
            println!(
                "resolve_imsi {name}, {} batches of {size}: ns per look-up p50 {:.1}, p99 {:.1}, max {:.1}",
                v.len(),
                at(0.5),
                at(0.99),
                at(1.0),
            );
        }
        println!(
            "resolve_imsi {name}: the reader blocked {} times, was preempted {} times",
            self.blocked, self.preempted
        );
    }
}

/// This thread's voluntary and involuntary context switches so far.
fn context_switches() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// Criterion reports medians; a writer's stalls show in the tail. On a fresh
/// index of `n` profiles, times batches of look-ups alone and with the
/// importing writer, in alternating rounds so that both see the same
/// machine, until the writer has doubled the inventory: every table then
/// grows at least once while the reader looks.
fn tail_latency(n: u64, probes: &[String]) {
    let idx = build_index(n);
    let round = Duration::from_millis(if full_run() { 1000 } else { 20 });
    let (mut alone, mut busy) = (Tail::default(), Tail::default());
    let next = AtomicU64::new(n);
    let t = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || next.load(Relaxed) < 2 * n {
        alone.round(&idx, probes, round);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| import(&idx, &next, &stop));
            busy.round(&idx, probes, round);
            stop.store(true, Relaxed);
        });
        rounds += 1;
    }
    alone.report("alone");
    busy.report("with a writer");
    let imported = next.load(Relaxed) - n;
    let secs = rounds as f64 * round.as_secs_f64();
    println!(
        "the writer imported {imported} profiles in {rounds} rounds of {:.2} s ({:.0} profiles/s; {:.1} s in all)",
        round.as_secs_f64(),
        imported as f64 / secs,
        t.elapsed().as_secs_f64()
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
                ..Product::default()
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
