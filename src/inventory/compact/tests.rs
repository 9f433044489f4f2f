//! The compact encoding: every record state survives it, the JSON that
//! earlier releases wrote decodes to the same records, and a damaged
//! record names its key.

use super::*;
use crate::inventory::store::WriteBatch;

fn stored<T: Record>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![JSON];
    serde_json::to_writer(&mut out, v).unwrap();
    out
}

/// Every state survives the compact form, and the JSON form an earlier
/// release wrote decodes to the same record.
fn both_ways<T: Record + PartialEq + std::fmt::Debug>(v: T) {
    let c = stored(&v);
    assert_eq!(c[0], COMPACT);
    assert_eq!(T::decode(b"k", &c).unwrap(), v);
    let j = json(&v);
    assert_eq!(T::decode(b"k", &j).unwrap(), v);
    assert!(c.len() < j.len(), "{} ≥ {}", c.len(), j.len());
}

fn imsi(state: ImsiState) -> Imsi {
    Imsi {
        imsi: "213779000000001".into(),
        batch: "X-2026-01".into(),
        sponsor: "partner-x".into(),
        state,
    }
}

#[test]
fn imsis_in_every_state() {
    for state in [
        ImsiState::Available,
        ImsiState::Embedded {
            profile: "8949102620100000126".into(),
            slot: 2,
        },
        ImsiState::InDynamicPool {
            pool: "dyn-y".into(),
        },
        ImsiState::Hold {
            until: 1_800_000_000,
            reserved_for: Some(7),
        },
        ImsiState::Hold {
            until: -1,
            reserved_for: None,
        },
        ImsiState::EndOfLife,
    ] {
        both_ways(imsi(state));
    }
}

#[test]
fn profiles_keep_slots_and_secrets() {
    for state in [
        ProfileState::Available,
        ProfileState::Assigned { account: u64::MAX },
        ProfileState::Disposed,
    ] {
        both_ways(Profile {
            iccid: "894910262010000012345".into(),
            pool: "own-y".into(),
            imsis: vec!["262019000000001".into(), "2222".into(), "".into()],
            transport_key_label: "MNO.PROD.SM.TRK.AES".into(),
            ki: Secret("D07F9224CB230F5EDE645CA0D98C9CDB".into()),
            opc: Secret("F94DEB6986F99DEC02374C58E1B1547D".into()),
            pin1: Secret("1111".into()),
            puk1: Secret("11111111".into()),
            pin2: Secret("2222".into()),
            puk2: Secret("22222222".into()),
            state,
        });
    }
}

#[test]
fn accounts_in_every_status() {
    for (status, profile) in [
        (
            AccountStatus::Active,
            Some("8949102620100000126".to_string()),
        ),
        (AccountStatus::Grace { until: 5 }, None),
        (AccountStatus::Closed, Some(String::new())),
    ] {
        both_ways(Account {
            id: 42,
            msisdn: "491700000001".into(),
            product: "EU Travel 10GB".into(),
            profile,
            status,
            created_at: 1_764_000_000,
        });
    }
}

#[test]
fn a_batch_writes_compact_records_and_damage_names_the_key() {
    let mut b = WriteBatch::default();
    b.put("imsi/1", &imsi(ImsiState::Available));
    assert_eq!(b.len(), 1);
    let mut v = stored(&imsi(ImsiState::EndOfLife));
    v.truncate(v.len() - 3);
    let e = Imsi::decode(b"imsi/213779000000001", &v).unwrap_err();
    assert!(e.to_string().contains("imsi/213779000000001"), "{e}");
    let e = Account::decode(b"account/1", &[9, 1, 2]).unwrap_err();
    assert!(e.to_string().contains("unknown format version 9"), "{e}");
}
