use std::sync::Arc;

use super::*;
use crate::resolver::fixtures::{product, sponsor};
use crate::resolver::index::{iccid_key, Catalog, Place, ProfileStatus};
use crate::resolver::Miss;

fn catalog(sponsors: &[&str], products: &[&str]) -> Catalog {
    Catalog::new(
        sponsors
            .iter()
            .map(|s| sponsor(s, "26201", None, None))
            .collect(),
        products.iter().map(|p| product(p, &[])).collect(),
    )
    .with_pools(vec!["own-x".into(), "own-y".into()], vec!["dyn-y".into()])
}

const A: &str = "8949102620100000126";
const B: &str = "8949102620100000134";

/// Two assigned profiles (one in grace), one available one, a held IMSI,
/// dynamic IMSIs and an account without a profile.
fn populated() -> Arc<Index> {
    let idx = Index::new();
    idx.set_catalog(catalog(&["own", "partner-y"], &["EU", "World"]));
    let a = iccid_key(A).unwrap();
    let b = iccid_key(B).unwrap();
    let c = iccid_key("8949102620100000142").unwrap();
    idx.put_profile_fields(a, ProfileStatus::Assigned, 7, Some(0));
    idx.put_account_fields(
        7,
        Some(491700000001),
        Some(1),
        AccountState::Active,
        Some(a),
    );
    idx.put_profile_fields(b, ProfileStatus::Assigned, 8, Some(1));
    idx.put_account_fields(
        8,
        Some(491700000002),
        Some(0),
        AccountState::Grace(500),
        Some(b),
    );
    idx.put_profile_fields(c, ProfileStatus::Available, 0, Some(1));
    for (imsi, sp, iccid, slot) in [
        (262010000000001, 0, a, 1),
        (260060000000001, 1, a, 2),
        (262010000000002, 0, b, 1),
        (262010000000003, 0, c, 1),
        (260060000000003, 1, c, 2),
    ] {
        idx.put_imsi_fields(
            imsi,
            Some(sp),
            ImsiStatus::Embedded,
            Place::Profile { iccid, slot },
        );
    }
    idx.put_imsi_fields(262010000000009, Some(0), ImsiStatus::Hold, Place::Nowhere);
    for k in 0..3 {
        idx.put_imsi_fields(
            260060000000100 + k,
            Some(1),
            ImsiStatus::InDynamicPool,
            Place::DynamicPool(0),
        );
    }
    idx.put_account_fields(9, Some(491700000009), Some(0), AccountState::Active, None);
    idx
}

fn snapshot(idx: &Index, generation: u64) -> Vec<u8> {
    let mut out = Vec::new();
    idx.write_snapshot(generation, &mut out).unwrap();
    out
}

fn resolved(idx: &Index) -> Vec<Result<(u64, u16, u16, u8), Miss>> {
    [
        "262010000000001",
        "260060000000001",
        "262010000000002",
        "262010000000003",
        "262010000000009",
        "260060000000100",
        "262019999999999",
    ]
    .iter()
    .map(|i| {
        idx.resolve_imsi(i, None, 400)
            .map(|s| (s.account, s.product, s.sponsor, s.slot))
    })
    .collect()
}

#[test]
fn a_restored_index_answers_as_the_original() {
    let idx = populated();
    let bytes = snapshot(&idx, 42);
    let back = Index::new();
    back.set_catalog(catalog(&["own", "partner-y"], &["EU", "World"]));
    assert_eq!(
        back.read_snapshot(&bytes[..], bytes.len() as u64).unwrap(),
        42
    );
    assert_eq!(resolved(&back), resolved(&idx));
    assert_eq!(back.counts(), idx.counts());
    assert_eq!(back.stock(), idx.stock());
    for m in [491700000001, 491700000002, 491700000009, 491700000003] {
        assert_eq!(back.account_by_msisdn(m), idx.account_by_msisdn(m));
    }
    // The restored index keeps taking changes.
    back.put_account_fields(
        8,
        Some(491700000002),
        Some(0),
        AccountState::Closed,
        iccid_key(B),
    );
    assert_eq!(
        back.resolve_imsi("262010000000002", None, 0),
        Err(Miss::ClosedAccount)
    );
}

#[test]
fn a_catalogue_changed_since_is_remapped_by_name() {
    let idx = populated();
    let bytes = snapshot(&idx, 1);
    let back = Index::new();
    // A sponsor and a product defined since, sorting first.
    back.set_catalog(catalog(
        &["aaa", "own", "partner-y"],
        &["Asia", "EU", "World"],
    ));
    back.read_snapshot(&bytes[..], bytes.len() as u64).unwrap();
    let sub = back.resolve_imsi("260060000000001", None, 0).unwrap();
    assert_eq!((sub.sponsor, sub.product), (2, 2));
    let (_, dynamic) = back.stock();
    assert_eq!(dynamic.get(&("dyn-y".into(), "partner-y".into())), Some(&3));
}

#[test]
fn damage_is_detected_not_loaded() {
    let idx = populated();
    let bytes = snapshot(&idx, 1);
    let fresh = || {
        let i = Index::new();
        i.set_catalog(catalog(&["own", "partner-y"], &["EU", "World"]));
        i
    };
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(fresh()
        .read_snapshot(&flipped[..], flipped.len() as u64)
        .is_err());
    let truncated = &bytes[..bytes.len() - 9];
    assert!(fresh()
        .read_snapshot(truncated, truncated.len() as u64)
        .is_err());
    assert!(matches!(
        fresh().read_snapshot(&b"GYROIDX0........"[..], 16),
        Err(SnapshotError::Invalid(_))
    ));
    // Only into an empty index.
    assert!(idx.read_snapshot(&bytes[..], bytes.len() as u64).is_err());
}

#[test]
fn counts_beyond_the_file_fail_before_allocating() {
    let idx = populated();
    let bytes = snapshot(&idx, 1);
    // The sponsor-name count sits right after magic and generation.
    for count in [u64::MAX, 1 << 40, bytes.len() as u64] {
        let mut b = bytes.clone();
        b[16..24].copy_from_slice(&count.to_le_bytes());
        let i = Index::new();
        assert!(matches!(
            i.read_snapshot(&b[..], b.len() as u64),
            Err(SnapshotError::Invalid(_))
        ));
    }
}
