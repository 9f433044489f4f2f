//! Grants and what they cost: shrinking to what remains, the final unit
//! then 4012, coverage, the network the usage happened on, split used
//! units, the sponsor's price through the proxy.

use super::*;

#[test]
fn grants_shrink_to_what_remains_then_final_unit_then_4012() {
    let e = engine();
    let d = charge(
        &e,
        &ccr("s", RequestType::Initial, 0, Some(500), 0, "26201", "pgw"),
        0,
    );
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(400));
    assert!(!d.d.services[0].final_unit);
    assert_eq!(d.d.services[0].validity_time, Some(10));
    let d = charge(
        &e,
        &ccr("s", RequestType::Update, 1, Some(500), 400, "26201", "pgw"),
        1,
    );
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(400));
    let d = charge(
        &e,
        &ccr("s", RequestType::Update, 2, Some(500), 400, "26201", "pgw"),
        2,
    );
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(200));
    assert!(d.d.services[0].final_unit, "the last 200 octets");
    // 800 used: the FUP threshold (700) was crossed on this request, once.
    assert!(d.commit.as_ref().unwrap().fup.is_some());
    let d = charge(
        &e,
        &ccr("s", RequestType::Update, 3, Some(500), 200, "26201", "pgw"),
        3,
    );
    assert_eq!(d.d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert!(
        d.commit.as_ref().unwrap().fup.is_none(),
        "the FUP event fires once"
    );
    assert_eq!(d.d.result_code, 2001);
    let d = charge(
        &e,
        &ccr("s", RequestType::Termination, 4, None, 50, "26201", "pgw"),
        4,
    );
    assert_eq!(d.d.result_code, 2001);
    let b = e.ledger.balance(1);
    assert_eq!((b.used.data_octets, b.reserved_data), (1050, 0));
}

#[test]
fn an_uncovered_network_refuses_the_session() {
    let e = engine();
    let d = charge(
        &e,
        &ccr("j", RequestType::Initial, 0, Some(100), 0, "44000", "pgw"),
        0,
    );
    assert_eq!(d.d.result_code, END_USER_SERVICE_DENIED);
    assert_eq!(d.d.services[0].result_code, END_USER_SERVICE_DENIED);
    assert_eq!(e.ledger.balance(1).reserved_data, 0);
    let d = charge(
        &e,
        &ccr("j", RequestType::Termination, 1, None, 10, "44000", "pgw"),
        1,
    );
    assert_eq!(d.d.result_code, 5002, "gyro ended the refused session");
    assert_eq!(
        e.ledger.balance(1).used.data_octets,
        10,
        "its usage is charged all the same"
    );
}

#[test]
fn usage_is_rated_where_it_happened_and_the_new_network_gets_the_grant() {
    let e = engine();
    let d = charge(
        &e,
        &ccr(
            "b",
            RequestType::Initial,
            0,
            Some(100),
            0,
            "21377",
            "gy.partner-x.example",
        ),
        0,
    );
    assert!(d.d.location_triggers, "the CCA arms the location triggers");
    // Crossing into Germany: the update reports Andorra's usage.
    let d = charge(
        &e,
        &ccr(
            "b",
            RequestType::Update,
            1,
            Some(100),
            90,
            "26201",
            "gy.partner-x.example",
        ),
        1,
    );
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!(x.rate_code, "E212-213-77");
    assert!(x.cost.is_some(), "Andorra costs the sponsor's price");
    let d = charge(
        &e,
        &ccr(
            "b",
            RequestType::Termination,
            2,
            None,
            10,
            "26201",
            "gy.partner-x.example",
        ),
        2,
    );
    assert_eq!(d.commit.unwrap().xdrs[0].rate_code, "E212-262-01");
    // Into Japan, outside the bundle: the earlier usage is still charged.
    charge(
        &e,
        &ccr("j2", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        3,
    );
    let d = charge(
        &e,
        &ccr("j2", RequestType::Update, 1, Some(100), 30, "44010", "pgw"),
        4,
    );
    assert_eq!(d.d.result_code, END_USER_SERVICE_DENIED);
    assert_eq!(d.commit.unwrap().xdrs[0].rate_code, "E212-262-01");
}

#[test]
fn a_split_used_service_unit_stays_split() {
    let e = engine();
    charge(
        &e,
        &ccr("sp", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        0,
    );
    let mut c = ccr("sp", RequestType::Update, 1, Some(100), 0, "26201", "pgw");
    c.services[0].used = [(0, 30u64), (1, 50)]
        .into_iter()
        .map(|(t, n)| UsedUnits {
            units: Units {
                total_octets: Some(n),
                ..Units::default()
            },
            tariff_change: Some(t),
            reporting_reason: Some(6),
        })
        .collect();
    let x = charge(&e, &c, 1).commit.unwrap().xdrs;
    let parts: Vec<_> = x
        .iter()
        .map(|x| (x.tariff_change_usage, x.allowance_consumed))
        .collect();
    assert_eq!(parts, [(Some(0), 30), (Some(1), 50)]);
    assert_eq!(e.ledger.balance(1).used.data_octets, 80);
}

#[test]
fn translated_imsi_through_the_proxy_costs_the_sponsor_price() {
    let e = engine();
    charge(
        &e,
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
    let d = charge(
        &e,
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
    charge(
        &e,
        &ccr("r", RequestType::Initial, 0, Some(400), 0, "26201", "pgw"),
        0,
    );
    charge(
        &e,
        &ccr("r", RequestType::Update, 1, Some(400), 1000, "26201", "pgw"),
        1,
    );
    let d = charge(
        &e,
        &ccr("r", RequestType::Update, 2, Some(400), 0, "26201", "pgw"),
        2,
    );
    assert_eq!(d.d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert_eq!(d.d.result_code, CREDIT_LIMIT_REACHED);
}
