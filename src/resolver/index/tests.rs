use super::*;
use crate::resolver::fixtures::{product, sponsor};

#[test]
fn iccid_keys_keep_leading_zeros_and_length() {
    for s in [
        "894910262010000012345",
        "0089491026201000001",
        "8949102620100000126",
    ] {
        assert_eq!(iccid_string(iccid_key(s).unwrap()), s);
    }
    assert_ne!(iccid_key("0123"), iccid_key("123"));
    assert!(iccid_key("12a").is_none());
}

#[test]
fn state_word_keeps_each_field_apart() {
    let s = state::with_profile(0, ProfileStatus::Assigned);
    let s = state::with_account(s, AccountState::Grace(1_800_000_000), 513);
    assert_eq!(state::profile(s), ProfileStatus::Assigned);
    assert_eq!(state::account(s), AccountState::Grace(1_800_000_000));
    assert_eq!(state::product(s), 513);
    let s = state::with_profile(s, ProfileStatus::Disposed);
    assert_eq!(state::account(s), AccountState::Grace(1_800_000_000));
    let s = state::with_account(s, AccountState::Grace(-5), 0);
    assert_eq!(state::account(s), AccountState::Grace(0));
    assert_eq!(state::profile(s), ProfileStatus::Disposed);
    let s = state::without_account(s);
    assert_eq!(
        (state::account(s), state::product(s)),
        (AccountState::Unknown, u16::MAX)
    );
}

fn index() -> Arc<Index> {
    let idx = Index::new();
    idx.set_catalog(Catalog::new(
        vec![sponsor("own", "26201", None, None)],
        vec![product("EU", &[])],
    ));
    idx
}

const ICCID: &str = "8949102620100000126";

/// The rebuild feeds records from parallel scans: whatever the order, the
/// result is the same.
#[test]
fn puts_in_any_order_give_the_same_view() {
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let idx = index();
        let k = iccid_key(ICCID).unwrap();
        for step in order {
            match step {
                0 => idx.put_account_fields(
                    7,
                    Some(491700000001),
                    Some(0),
                    AccountState::Active,
                    Some(k),
                ),
                1 => idx.put_profile_fields(k, ProfileStatus::Assigned, 7, None),
                _ => idx.put_imsi_fields(
                    262019000000001,
                    Some(0),
                    ImsiStatus::Embedded,
                    Place::Profile { iccid: k, slot: 1 },
                ),
            }
        }
        let e = idx.imsi(262019000000001).unwrap();
        let p = idx.profile_of(&e).unwrap();
        assert_eq!(
            (p.iccid, p.status),
            (k, ProfileStatus::Assigned),
            "{order:?}"
        );
        assert_eq!(
            p.account,
            AccountEntry {
                id: 7,
                product: 0,
                state: AccountState::Active
            }
        );
        assert_eq!(idx.account_by_msisdn(491700000001), Some(p.account));
        assert_eq!(idx.counts(), (1, 1, 1));
    }
}

#[test]
fn reassigned_profile_forgets_the_previous_account_state() {
    let idx = index();
    let k = iccid_key(ICCID).unwrap();
    idx.put_account_fields(7, Some(4917001), Some(0), AccountState::Active, Some(k));
    idx.put_profile_fields(k, ProfileStatus::Assigned, 8, None);
    idx.put_imsi_fields(
        262019000000001,
        Some(0),
        ImsiStatus::Embedded,
        Place::Profile { iccid: k, slot: 1 },
    );
    let p = idx.profile_of(&idx.imsi(262019000000001).unwrap()).unwrap();
    assert_eq!((p.account.id, p.account.state), (8, AccountState::Unknown));
}

#[test]
fn msisdn_moves_with_the_account_and_closing_frees_it() {
    let idx = index();
    let k = iccid_key(ICCID).unwrap();
    idx.put_account_fields(7, Some(4917001), Some(0), AccountState::Active, Some(k));
    idx.put_account_fields(7, Some(4917002), Some(0), AccountState::Active, Some(k));
    assert!(idx.account_by_msisdn(4917001).is_none());
    assert_eq!(idx.account_by_msisdn(4917002).map(|a| a.id), Some(7));
    idx.put_account_fields(7, Some(4917002), Some(0), AccountState::Closed, Some(k));
    assert!(!idx.msisdn_taken("4917002"));
    // An account without a profile is still found by MSISDN.
    idx.put_account_fields(9, Some(4917003), Some(0), AccountState::Active, None);
    assert_eq!(idx.account_by_msisdn(4917003).map(|a| a.id), Some(9));
    assert_eq!(idx.counts(), (0, 1, 2));
}

#[test]
fn imsi_entries_pack_into_one_word() {
    for status in [
        ImsiStatus::Available,
        ImsiStatus::Embedded,
        ImsiStatus::InDynamicPool,
        ImsiStatus::Hold,
        ImsiStatus::EndOfLife,
    ] {
        let e = ImsiEntry {
            profile: 0xDEAD_BEEF,
            sponsor: 0xFFFE,
            slot: 10,
            status,
        };
        let u = ImsiEntry::unpack(e.pack());
        assert_eq!(
            (u.profile, u.sponsor, u.slot, u.status),
            (0xDEAD_BEEF, 0xFFFE, 10, status)
        );
    }
    let idx = index();
    idx.put_imsi_fields(0, Some(0), ImsiStatus::Available, Place::Nowhere);
    assert!(idx.imsi(0).is_none());
    assert_eq!(idx.counts().0, 0);
}

#[test]
fn row_guesses_are_checked_against_the_iccid() {
    // Two indexes on one thread: each leaves its last row as the other's
    // first guess, which must not be taken for the right row.
    let (a, b) = (index(), index());
    let keys: Vec<u128> = (1..=20u128)
        .map(|i| (89_490_000 + i * 7) << 5 | 19)
        .collect();
    for (n, &k) in keys.iter().enumerate() {
        a.put_profile_fields(k, ProfileStatus::Assigned, n as u64 + 1, None);
        // Index b holds them in the opposite order, so ordinals differ.
        let r = keys[keys.len() - 1 - n];
        b.put_profile_fields(r, ProfileStatus::Assigned, 100 + n as u64, None);
    }
    for (n, &k) in keys.iter().enumerate() {
        let ord_a = a.row(k).map(|(o, _)| o);
        let ord_b = b.row(k).map(|(o, _)| o);
        assert_eq!(ord_a, Some(n as u32));
        assert_eq!(ord_b, Some((keys.len() - 1 - n) as u32));
        let row = a.rows.get(n as u32).unwrap();
        assert_eq!((row.iccid(), row.account.load(Relaxed)), (k, n as u64 + 1));
    }
    assert_eq!((a.rows.len(), b.rows.len()), (20, 20));
}
