//! Event names against serde, the eSIM swap's rows and secrets, and the
//! variables the admin API may show.

use super::*;
use crate::model::{Account, AccountStatus, Profile, ProfileState, Secret};

#[test]
fn names_round_trip_and_match_serde() {
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.name()), Some(t));
        assert_eq!(serde_json::to_value(t).unwrap(), json!(t.name()));
    }
    assert_eq!(EventType::parse("Account/Nope"), None);
}

fn sponsor(id: &str, translated: bool) -> Sponsor {
    Sponsor {
        id: id.into(),
        name: id.to_uppercase(),
        plmns: vec![],
        translation: translated.then(|| super::super::Translation {
            sponsor_prefix: "213779".into(),
            operator_prefix: "262019".into(),
        }),
        proxy_origin_hosts: vec![],
        currency: "EUR".into(),
        provision_in_home_hss: !translated,
    }
}

#[test]
fn sim_swap_removes_the_old_imsis_creates_the_new_and_hides_secrets() {
    let (own, x, y) = (
        sponsor("own", false),
        sponsor("x", true),
        sponsor("y", false),
    );
    let a = Account {
        id: 7,
        msisdn: "491700000001".into(),
        product: "Balkan".into(),
        profile: Some("8949102620110000001".into()),
        status: AccountStatus::Active,
        created_at: 0,
    };
    let s = |v: &str| Secret(v.into());
    let new = Profile {
        iccid: "8949102620110000001".into(),
        pool: "Own+Y".into(),
        imsis: vec![],
        transport_key_label: "TK".into(),
        ki: s("KI"),
        opc: s("OPC"),
        pin1: s("1111"),
        puk1: s("11111111"),
        pin2: s("2222"),
        puk2: s("22222222"),
        state: ProfileState::Assigned { account: 7 },
    };
    let row = |imsi, sponsor| ProfileImsi { imsi, sponsor };
    let old = [
        row("262019000000001", Some(&own)),
        row("213779000000001", Some(&x)),
    ];
    let fresh = [
        row("262018000000001", Some(&own)),
        row("213550000000001", Some(&y)),
    ];
    let d = sim_swap(&a, Some("894910262010000012345"), &new, &old, &fresh);
    assert_eq!(d.event_type, EventType::SimSwap);
    let v = &d.variables;
    assert_eq!(v["old_iccid_grouped"], "8949 1026 2010 0000 1234 5");
    assert_eq!(v["new_iccid"], "8949102620110000001");
    let rows: Vec<(&str, i64, bool)> = v["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let action = r["action"].as_str().unwrap();
            (
                action,
                r["slot"].as_i64().unwrap(),
                r["provision"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("remove", 1, true),
            ("remove", 2, false),
            ("create", 1, true),
            ("create", 2, true)
        ]
    );
    let e = Event {
        event_id: 1,
        event_type: d.event_type,
        created_at: 0,
        account: d.account,
        variables: d.variables.clone(),
    };
    let public = e.public_variables().to_string();
    for secret in ["KI", "OPC", "1111", "2222"] {
        assert!(!public.contains(&format!("\"{secret}")), "{public}");
    }
    assert_eq!(e.public_variables()["transport_key_label"], "TK");
}

#[test]
fn public_variables_drop_every_secret() {
    let e = Event {
        event_id: 1,
        event_type: EventType::AccountNew,
        created_at: 0,
        account: Some(1),
        variables: json!({"pin1": "1111", "ki": "AB", "iccid": "8949"}),
    };
    assert_eq!(e.public_variables(), json!({"iccid": "8949"}));
    assert!(!format!("{e:?}").contains("1111"));
}
