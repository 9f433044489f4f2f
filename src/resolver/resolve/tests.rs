use super::super::index::{iccid_key, Catalog};
use super::*;
use crate::inventory::model::*;

fn sponsor(id: &str, plmn: &str, host: &str, translation: Option<(&str, &str)>) -> Sponsor {
    Sponsor {
        id: id.into(),
        name: id.into(),
        plmns: vec![plmn.into()],
        translation: translation.map(|(s, o)| Translation {
            sponsor_prefix: s.into(),
            operator_prefix: o.into(),
        }),
        proxy_origin_hosts: vec![host.into()],
        currency: "EUR".into(),
        provision_in_home_hss: translation.is_none(),
    }
}

fn setup() -> std::sync::Arc<Index> {
    let idx = Index::new();
    idx.set_catalog(Catalog::new(
        vec![
            sponsor("own", "26201", "pgw.operator.example", None),
            sponsor(
                "partner-x",
                "21377",
                "gy.partner-x.example",
                Some(("213779", "262019")),
            ),
        ],
        vec![Product {
            name: "EU".into(),
            rate_codes: vec![],
            rate_code_groups: vec![],
        }],
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
    Profile {
        iccid: "8949102620100000126".into(),
        pool: "p".into(),
        imsis: vec!["262019000000001".into(), "213779000000001".into()],
        transport_key_label: String::new(),
        ki: Secret::default(),
        opc: Secret::default(),
        pin1: Secret::default(),
        puk1: Secret::default(),
        pin2: Secret::default(),
        puk2: Secret::default(),
        state: ProfileState::Assigned { account: 7 },
    }
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
    assert_eq!(idx.resolve_msisdn("491700000001", 0).unwrap(), (7, 0));
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
    assert_eq!(idx.resolve_msisdn("4900", 0), Err(Miss::UnknownMsisdn));
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
        idx.resolve_msisdn("491700000001", 0),
        Err(Miss::UnknownMsisdn)
    );
}
