//! Profile generation files at the size: writing the SM-DP+ input
//! file for 10,000 two-IMSI profiles with the story's rules, and parsing and
//! validating a 10,000-row "Standard" output file against its order.
//!
//! Run: `cargo bench --bench profilegen -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use gyro::model::{luhn_digit, Secret};
use gyro::profilegen::{
    parse_standard, write_input, write_standard, OrderProfile, OrderView, Pref, ProfileRow, Rule,
};

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

criterion_group!(benches, bench);
criterion_main!(benches);
