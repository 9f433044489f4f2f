//! Swap decisions per second (goal ≥ 1 M/s on one core): the story's
//! Balkan Traveller profile (Own + Partner Y, or Own + Partner W after the
//! Albania swap), an IMSI on hold and one IMSI of each dynamic pool, over a
//! mix of countries: home, Montenegro (keep), Albania (swap), Kosovo (swap
//! back), Canada (only W covers) and the USA (nothing covers).
//!
//! Run: `cargo bench --bench ota_decision`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;

use gyro::ota::decision::{decide, Candidate, DecisionInput, PriceBook, Source};
use gyro::rating::source::RatingSource;

// The allocator `gyro` runs with, so that figures are the node's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn cand(imsi: &str, sponsor: &str, source: Source) -> Candidate {
    Candidate {
        imsi: imsi.into(),
        sponsor: sponsor.into(),
        source,
    }
}

/// The profile with `slot2` in its dynamic slot, a held IMSI of the other
/// partner, and the first available IMSI of each dynamic pool.
fn balkan(slot2: (&str, &str), held: (&str, &str)) -> Vec<Candidate> {
    vec![
        cand("262018000000001", "own", Source::Profile { slot: 1 }),
        cand(slot2.0, slot2.1, Source::Profile { slot: 2 }),
        cand(held.0, held.1, Source::Held),
        cand(
            "213550000000777",
            "partner-y",
            Source::Pool {
                pool: "dynamic Y".into(),
            },
        ),
        cand(
            "901280000001001",
            "partner-w",
            Source::Pool {
                pool: "dynamic W".into(),
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let rating = RatingSource::new(None).load().expect("embedded rating");
    let seed = gyro::inventory::seed::parse(gyro::inventory::seed::EMBEDDED, "seed")
        .expect("embedded seed");
    let book = PriceBook::new(&rating, &seed.sponsor);
    let y = ("213550000000001", "partner-y");
    let w = ("901280000000001", "partner-w");
    let before = balkan(y, w);
    let after = balkan(w, y);
    let mix: Vec<(&str, &[Candidate])> = vec![
        ("262", &before),
        ("297", &before),
        ("276", &before),
        ("221", &after),
        ("302", &before),
        ("310", &after),
    ];
    // The Balkan pass's networks, as the engine asks the rating.
    let balkan_networks: Vec<gyro::model::Plmn> = ["26201", "29701", "27602", "27603", "22101"]
        .iter()
        .map(|n| gyro::model::Plmn::parse(n).unwrap())
        .collect();
    let covers = |p: gyro::model::Plmn| balkan_networks.contains(&p);
    let mut g = c.benchmark_group("ota_decision");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("balkan_mix_of_6_countries", |b| {
        b.iter(|| {
            for (mcc, candidates) in &mix {
                let input = DecisionInput {
                    iccid: "8949000000000000001",
                    mcc,
                    candidates,
                    covers: &covers,
                };
                black_box(decide(black_box(&input), &book, Decimal::ZERO));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
