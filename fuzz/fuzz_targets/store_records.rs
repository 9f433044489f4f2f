//! Bytes as a stored inventory record (JSON or compact) and as an index
//! checkpoint: damaged input must give an error, never a panic or a huge
//! allocation, and whatever decodes must survive a round trip.
#![no_main]

use gyro::model::{Account, Imsi, Product, Profile};
use gyro::inventory::store::Record;
use gyro::resolver::{Catalog, Index};
use libfuzzer_sys::fuzz_target;

fn round_trip<T: Record + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = T::decode(b"fuzz", data) {
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(T::decode(b"fuzz", &out).unwrap(), v);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<Imsi>(data);
    round_trip::<Profile>(data);
    round_trip::<Account>(data);
    let idx = Index::new();
    idx.set_catalog(
        Catalog::new(
            vec![],
            vec![Product {
                name: "EU".into(),
                rate_codes: vec![],
                rate_code_groups: vec![],
                ..Product::default()
            }],
        )
        .with_pools(vec!["own-x".into()], vec!["dyn-y".into()]),
    );
    let _ = idx.read_snapshot(data, data.len() as u64);
});
