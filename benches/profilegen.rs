//! Profile generation at the size, 10,000 two-IMSI profiles:
//! - the pure files: writing the SM-DP+ input file with the story's rules,
//!   and parsing and validating a 10,000-row "Standard" output file;
//! - on a store (a fresh seeded sled store per iteration, set up untimed):
//!   the whole `OrderDesk::create` (reserve 20,000 IMSIs, number the
//!   ICCIDs, derive the rules, write the input file, one commit), and
//!   `OrderDesk::ingest` of the order's Standard file (parse, validate, one
//!   commit).
//!
//! Run: `cargo bench --bench profilegen -- --warm-up-time 1 --measurement-time 10`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};

use gyro::config::ProfilesSection;
use gyro::inventory::import::BatchSpec;
use gyro::inventory::orders::OrderRequest;
use gyro::inventory::store::SledStore;
use gyro::inventory::{seed, Inventory};
use gyro::model::{luhn_digit, Secret};
use gyro::profilegen::desk::OrderDesk;
use gyro::profilegen::{
    parse_standard, write_input, write_standard, OrderProfile, OrderView, Pref, ProfileRow, Rule,
};
use gyro::rating::Rating;

const N: usize = 10_000;

fn order() -> OrderView {
    let profiles = (0..N)
        .map(|i| {
            let payload = format!("894910262010{i:07}");
            OrderProfile {
                iccid: format!("{payload}{}", luhn_digit(&payload)),
                imsis: vec![
                    format!("26201{:010}", 9_000_000_001 + i),
                    format!("21377{:010}", 9_000_000_001 + i),
                ],
            }
        })
        .collect();
    OrderView {
        customer: "Local MNO".into(),
        pool: "Own+X for EU Neighbour - Andorra".into(),
        order_id: "17".into(),
        transport_key: "MNO.PROD.SM.TRK.AES".into(),
        imsis_per_profile: 2,
        profiles,
    }
}

fn rules() -> Vec<Rule> {
    [
        ("262", "01", 1, Pref::High),
        ("213", "77", 2, Pref::High),
        ("213", "78", 2, Pref::Med),
    ]
    .into_iter()
    .map(|(mcc, mnc, p, pref)| Rule {
        mcc: mcc.into(),
        mnc: mnc.into(),
        positions: vec![(p, pref)],
    })
    .collect()
}

/// A seeded inventory on a fresh store with two fresh 10,000-IMSI batches
/// (own, partner X), and the desk on it with the embedded rating.
fn seeded_desk() -> OrderDesk {
    let store = SledStore::temporary().expect("a temporary store");
    let inv = Inventory::open(Arc::new(store)).expect("the inventory");
    let s = seed::parse(seed::EMBEDDED, "seed").expect("the seed");
    inv.apply_seed(&s, "seed").expect("seeded");
    for (sponsor, name, first) in [
        ("own", BATCHES[0], 262_015_000_000_001u64),
        ("partner-x", BATCHES[1], 213_775_000_000_001),
    ] {
        let csv: String = (first..first + N as u64)
            .map(|i| format!("{i}\n"))
            .collect();
        let spec = BatchSpec {
            sponsor,
            name,
            recycling: true,
            end_of_life: false,
        };
        inv.import_batch("bench", &spec, "b.csv", csv.as_bytes(), &|_| {})
            .expect("imported");
    }
    let rating = Arc::new(Rating::parse(gyro::rating::EMBEDDED, "rating.toml").expect("rating"));
    let settings = ProfilesSection::default().order_settings();
    OrderDesk::new(
        Arc::new(inv),
        Arc::new(move || Ok(rating.clone())),
        settings,
        None,
    )
}

const BATCHES: [&str; 2] = ["10000-Own-bench", "10000-X-bench"];

fn request() -> OrderRequest {
    OrderRequest {
        pool: "Own+X for EU Neighbour - Andorra".into(),
        count: N as u32,
        imsis_per_profile: 2,
        batches: vec![(1, BATCHES[0].into()), (2, BATCHES[1].into())],
        least_cost: true,
        profit_guarantee: true,
    }
}

/// A desk with the 10,000-profile order created, and its Standard file.
fn ordered_desk() -> (OrderDesk, Vec<u8>) {
    let desk = seeded_desk();
    let order = desk.create("bench", &request()).expect("the order");
    let view = OrderView::from(&order);
    let file = write_standard(&view, &rows(&view)).expect("the Standard file");
    (desk, file)
}

fn store_backed(c: &mut Criterion) {
    let mut g = c.benchmark_group("orders_on_store");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function("create_order_10000x2", |b| {
        b.iter_batched(
            seeded_desk,
            |desk| {
                let o = desk.create("bench", &request()).expect("the order");
                black_box(o.profiles.len());
                desk
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("ingest_standard_10000x2", |b| {
        b.iter_batched(
            ordered_desk,
            |(desk, file)| {
                let t = desk
                    .ingest("bench", "Standard.txt", &file)
                    .expect("ingested");
                black_box(t.profiles);
                desk
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn rows(o: &OrderView) -> Vec<ProfileRow> {
    o.profiles
        .iter()
        .enumerate()
        .map(|(i, p)| ProfileRow {
            iccid: p.iccid.clone(),
            imsis: p.imsis.clone(),
            ki: Secret(format!("D07F9224CB230F5EDE645CA0{i:08X}")),
            opc: Secret(format!("F94DEB6986F99DEC02374C58{i:08X}")),
            pin1: Secret("1111".into()),
            puk1: Secret("11111111".into()),
            pin2: Secret("2222".into()),
            puk2: Secret("22222222".into()),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let o = order();
    let r = rules();
    c.bench_function("write_input_10000", |b| {
        b.iter(|| black_box(write_input(black_box(&o), &r).unwrap()))
    });
    let text = String::from_utf8(write_standard(&o, &rows(&o)).unwrap()).unwrap();
    c.bench_function("parse_standard_10000", |b| {
        b.iter(|| black_box(parse_standard(black_box(&text), &o).unwrap()))
    });
}

criterion_group!(benches, bench, store_backed);
criterion_main!(benches);
