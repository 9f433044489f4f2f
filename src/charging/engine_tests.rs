//! The engine without sockets or clocks: grants, final units, exhaustion,
//! coverage, Tcc with a virtual `now`, and sponsor costs.

use std::sync::Arc;

use super::ccr::{Ccr, RequestType, ServiceUnits, Units};
use super::engine::*;
use crate::inventory::model::*;
use crate::rating::Rating;
use crate::resolver::fixtures::{product, profile, sponsor};
use crate::resolver::{Catalog, Index};

const IMSI: &str = "262019000000001";

fn engine() -> Engine {
    let idx = Index::new();
    // xDRs carry the sponsors' display names.
    let sponsors = vec![
        Sponsor {
            name: "Own".into(),
            ..sponsor("own", "26201", None, None)
        },
        Sponsor {
            name: "Partner X".into(),
            ..sponsor(
                "partner-x",
                "21377",
                Some("gy.partner-x.example"),
                Some(("213779", "262019")),
            )
        },
    ];
    let product = product(
        "EU Neighbour - Andorra 30-Day Pass",
        &["E212-262-01", "E212-213-77"],
    );
    idx.set_catalog(Catalog::new(sponsors, vec![product]));
    let profile = profile(
        "894910262010000012345",
        &[IMSI, "213779000000001"],
        ProfileState::Assigned { account: 1 },
    );
    let account = Account {
        id: 1,
        msisdn: "491700000001".into(),
        product: "EU Neighbour - Andorra 30-Day Pass".into(),
        profile: Some(profile.iccid.clone()),
        status: AccountStatus::Active,
        created_at: 0,
    };
    idx.put_account(&account, None);
    idx.put_profile(&profile);
    for (slot, (i, s)) in [(IMSI, "own"), ("213779000000001", "partner-x")]
        .into_iter()
        .enumerate()
    {
        idx.put_imsi(&Imsi {
            imsi: i.into(),
            batch: "b".into(),
            sponsor: s.into(),
            state: ImsiState::Embedded {
                profile: profile.iccid.clone(),
                slot: slot as u8 + 1,
            },
        });
    }
    // A 1000-octet bundle, 400-octet grants, FUP at 700, Validity-Time 10 s.
    let text = crate::rating::EMBEDDED
        .replace("data_octets = 10000000\n", "data_octets = 400\n")
        .replace("validity_time = \"10m\"", "validity_time = \"10s\"")
        .replace(
            "data_octets = 100000000000\nfup_octets = 50000000000",
            "data_octets = 1000\nfup_octets = 700",
        );
    let rating = Rating::parse(&text, "test").unwrap();
    Engine::new(idx, Arc::new(rating), EngineConfig::default())
}

fn ccr<'a>(
    sid: &'a str,
    rt: RequestType,
    n: u32,
    requested: Option<u64>,
    used: u64,
    plmn: &'a str,
    origin: &'a str,
) -> Ccr<'a> {
    Ccr {
        session_id: sid,
        origin_host: origin,
        request_type: Some(rt),
        request_number: n,
        service_context: "32251@3gpp.org",
        imsi: Some(IMSI),
        sgsn_mcc_mnc: Some(plmn),
        services: vec![ServiceUnits {
            rating_group: Some(10),
            requested: requested.map(|r| Units {
                total_octets: Some(r),
                ..Units::default()
            }),
            used: Units {
                total_octets: (used > 0).then_some(used),
                ..Units::default()
            },
            ..ServiceUnits::default()
        }],
        ..Ccr::default()
    }
}

#[test]
fn grants_shrink_to_what_remains_then_final_unit_then_4012() {
    let e = engine();
    let d = e.charge(
        &ccr("s", RequestType::Initial, 0, Some(500), 0, "26201", "pgw"),
        0,
    );
    assert_eq!(d.services[0].granted.map(|g| g.1), Some(400));
    assert!(!d.services[0].final_unit);
    assert_eq!(d.services[0].validity_time, Some(10));
    let d = e.charge(
        &ccr("s", RequestType::Update, 1, Some(500), 400, "26201", "pgw"),
        1,
    );
    assert_eq!(d.services[0].granted.map(|g| g.1), Some(400));
    let d = e.charge(
        &ccr("s", RequestType::Update, 2, Some(500), 400, "26201", "pgw"),
        2,
    );
    assert_eq!(d.services[0].granted.map(|g| g.1), Some(200));
    assert!(d.services[0].final_unit, "the last 200 octets");
    // 800 used: the FUP threshold (700) was crossed on this request, once.
    assert!(d.commit.as_ref().unwrap().fup.is_some());
    let d = e.charge(
        &ccr("s", RequestType::Update, 3, Some(500), 200, "26201", "pgw"),
        3,
    );
    assert_eq!(d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert!(
        d.commit.as_ref().unwrap().fup.is_none(),
        "the FUP event fires once"
    );
    assert_eq!(d.result_code, 2001);
    let d = e.charge(
        &ccr("s", RequestType::Termination, 4, None, 50, "26201", "pgw"),
        4,
    );
    assert_eq!(d.result_code, 2001);
    let b = e.balances.get(1);
    assert_eq!((b.used.data_octets, b.reserved_data), (1050, 0));
}

#[test]
fn an_uncovered_network_refuses_the_session() {
    let e = engine();
    let d = e.charge(
        &ccr("j", RequestType::Initial, 0, Some(100), 0, "44000", "pgw"),
        0,
    );
    assert_eq!(d.result_code, END_USER_SERVICE_DENIED);
    assert_eq!(d.services[0].result_code, END_USER_SERVICE_DENIED);
    assert_eq!(e.balances.get(1).reserved_data, 0);
    let d = e.charge(
        &ccr("j", RequestType::Termination, 1, None, 10, "44000", "pgw"),
        1,
    );
    assert_eq!(d.result_code, 5002, "the refused session does not exist");
}

#[test]
fn tcc_releases_reservations_at_twice_the_validity_time() {
    let e = engine();
    e.charge(
        &ccr("t", RequestType::Initial, 0, Some(300), 0, "26201", "pgw"),
        100,
    );
    assert_eq!(e.balances.get(1).reserved_data, 300);
    assert_eq!(e.expire(119), 0);
    assert_eq!(e.expire(120), 1);
    assert_eq!(e.balances.get(1).reserved_data, 0);
    let d = e.charge(
        &ccr("t", RequestType::Update, 1, Some(1), 1, "26201", "pgw"),
        121,
    );
    assert_eq!(d.result_code, 5002);
}

#[test]
fn translated_imsi_through_the_proxy_costs_the_sponsor_price() {
    let e = engine();
    e.charge(
        &ccr(
            "x",
            RequestType::Initial,
            0,
            Some(100),
            0,
            "21377",
            "gy.partner-x.example",
        ),
        0,
    );
    let d = e.charge(
        &ccr(
            "x",
            RequestType::Termination,
            1,
            None,
            5000,
            "21377",
            "gy.partner-x.example",
        ),
        1,
    );
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!(
        (x.sponsor.as_str(), x.imsi.as_str(), x.rate_code.as_str()),
        ("Partner X", "213779000000001", "E212-213-77")
    );
    // 5000 octets at 1.01/GB = 0.00000505, rounded half-to-even at 6 places.
    assert_eq!(x.cost, Some(rust_decimal::Decimal::new(5, 6)));
    assert_eq!(x.cost_currency.as_deref(), Some("EUR"));
    assert_eq!(x.iccid, "894910262010000012345");
}

#[test]
fn raise_mscc_result_puts_4012_at_command_level() {
    let mut e = engine();
    e.cfg.raise_mscc_result = true;
    e.charge(
        &ccr("r", RequestType::Initial, 0, Some(400), 0, "26201", "pgw"),
        0,
    );
    e.charge(
        &ccr("r", RequestType::Update, 1, Some(400), 1000, "26201", "pgw"),
        1,
    );
    let d = e.charge(
        &ccr("r", RequestType::Update, 2, Some(400), 0, "26201", "pgw"),
        2,
    );
    assert_eq!(d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert_eq!(d.result_code, CREDIT_LIMIT_REACHED);
}
