use super::super::index::{iccid_key, Catalog};
use super::*;
use crate::model::*;
use crate::resolver::fixtures::{product, sponsor};

fn setup() -> std::sync::Arc<Index> {
    let idx = Index::new();
    idx.set_catalog(Catalog::new(
        vec![
            sponsor("own", "26201", Some("pgw.operator.example"), None),
            sponsor(
                "partner-x",
                "21377",
                Some("gy.partner-x.example"),
                Some(("213779", "262019")),
            ),
        ],
        vec![product("EU", &[])],
    ));
    let iccid = "8949102620100000126";
    for (slot, (imsi, sp)) in [("262019000000001", "own"), ("213779000000001", "partner-x")]
        .iter()
        .enumerate()
    {
        idx.put_imsi(&Imsi {
            imsi: imsi.to_string(),
            batch: "b".into(),
            sponsor: sp.to_string(),
            state: ImsiState::Embedded {
                profile: iccid.into(),
                slot: slot as u8 + 1,
            },
        });
    }
    idx.put_imsi(&Imsi {
        imsi: "262019000000002".into(),
        batch: "b".into(),
        sponsor: "own".into(),
        state: ImsiState::Hold {
            until: 100,
            reserved_for: None,
        },
    });
    idx.put_profile(&profile());
    idx.put_account(
        &Account {
            id: 7,
            msisdn: "491700000001".into(),
            product: "EU".into(),
            profile: Some(iccid.into()),
            status: AccountStatus::Active,
            created_at: 0,
        },
        Some(&profile()),
    );
    idx
}

fn profile() -> Profile {
    crate::resolver::fixtures::profile(
        "8949102620100000126",
        &["262019000000001", "213779000000001"],
        ProfileState::Assigned { account: 7 },
    )
}

#[test]
fn home_and_translated_sponsor_imsis_reach_the_same_account() {
    let idx = setup();
    let home = idx
        .resolve_imsi("262019000000001", Some("pgw.operator.example"), 0)
        .unwrap();
    assert_eq!((home.account, home.slot, home.sponsor), (7, 1, 0));
    // Through Partner X's proxy the own IMSI stands for X's IMSI in slot 2.
    let x = idx
        .resolve_imsi("262019000000001", Some("gy.partner-x.example"), 0)
        .unwrap();
    assert_eq!(
        (x.account, x.slot, x.sponsor, x.imsi),
        (7, 2, 1, 213779000000001)
    );
    assert_eq!(x.iccid, iccid_key("8949102620100000126").unwrap());
    // X's own IMSI, not translated, also resolves.
    let raw = idx.resolve_imsi("213779000000001", None, 0).unwrap();
    assert_eq!((raw.slot, raw.sponsor), (2, 1));
    assert_eq!(
        idx.resolve_msisdn("491700000001", 0)
            .map(|s| (s.account, s.product))
            .unwrap(),
        (7, 0)
    );
}

#[test]
fn every_miss_has_its_reason() {
    let idx = setup();
    assert_eq!(
        idx.resolve_imsi("262019999999999", None, 0),
        Err(Miss::UnknownImsi)
    );
    assert_eq!(idx.resolve_imsi("26201x", None, 0), Err(Miss::Malformed));
    assert_eq!(
        idx.resolve_imsi("262019000000002", None, 0),
        Err(Miss::ImsiOnHold)
    );
    assert_eq!(
        idx.resolve_msisdn("4900", 0).map(|s| s.account),
        Err(Miss::UnknownMsisdn)
    );
    let mut a = Account {
        id: 7,
        msisdn: "491700000001".into(),
        product: "EU".into(),
        profile: None,
        status: AccountStatus::Grace { until: 50 },
        created_at: 0,
    };
    idx.put_account(&a, Some(&profile()));
    assert!(idx.resolve_imsi("262019000000001", None, 49).is_ok());
    assert_eq!(
        idx.resolve_imsi("262019000000001", None, 51),
        Err(Miss::GraceExpired)
    );
    a.status = AccountStatus::Closed;
    idx.put_account(&a, Some(&profile()));
    assert_eq!(
        idx.resolve_imsi("262019000000001", None, 0),
        Err(Miss::ClosedAccount)
    );
    assert_eq!(
        idx.resolve_msisdn("491700000001", 0).map(|s| s.account),
        Err(Miss::UnknownMsisdn)
    );
}
