//! The request forms real nodes send, rated without sockets: time quota on
//! Gy, Ro by number, SMS on its own allowance, the four Requested-Actions,
//! and how a bundle treats each rating group.

use super::{ccr, charge, engine};
use crate::charging::ccr::{Ccr, RequestType, ServiceUnits, Units, UsedUnits};
use crate::charging::rate::Granted;
use crate::diameter::codes::{result::*, value};
use crate::rating::Rating;

fn units(octets: Option<u64>, time: Option<u32>, specific: Option<u64>) -> Units {
    Units {
        total_octets: octets,
        time,
        specific,
        ..Units::default()
    }
}

fn with_rg(mut c: Ccr<'_>, rg: u32) -> Ccr<'_> {
    c.services[0].rating_group = Some(rg);
    c
}

/// An SMS node's event: one service asking for `n` messages.
fn sms<'a>(sid: &'a str, action: Option<i32>, n: u64) -> Ccr<'a> {
    Ccr {
        service_context: "32274@3gpp.org",
        requested_action: action,
        services: vec![ServiceUnits {
            requested: Some(units(None, None, Some(n))),
            ..ServiceUnits::default()
        }],
        single_service: true,
        ..ccr(sid, RequestType::Event, 0, None, 0, "26201", "smsc")
    }
}

#[test]
fn a_time_only_rsu_on_gy_is_granted_time() {
    let e = engine();
    let mut c = ccr("t", RequestType::Initial, 0, None, 0, "26201", "pgw");
    c.services[0].requested = Some(units(None, Some(5000), None));
    let d = charge(&e, &c, 0);
    assert_eq!(d.d.services[0].result_code, SUCCESS);
    let want = Granted {
        time: Some(600),
        ..Granted::default()
    };
    assert_eq!(
        d.d.services[0].granted,
        Some(want),
        "capped at grant.data_seconds"
    );
    // Volume and time together: both, each capped.
    c.session_id = "t2";
    c.services[0].requested = Some(units(Some(100), Some(30), None));
    let d = charge(&e, &c, 0);
    let want = Granted {
        octets: Some(100),
        time: Some(30),
        specific: None,
    };
    assert_eq!(d.d.services[0].granted, Some(want));
}

#[test]
fn sms_debits_its_own_allowance_and_writes_an_xdr() {
    let e = engine();
    let d = charge(&e, &sms("m1", None, 3), 0);
    assert_eq!(d.d.services[0].result_code, SUCCESS);
    assert_eq!(d.d.services[0].granted.and_then(|g| g.specific), Some(3));
    let b = e.ledger.balance(1);
    assert_eq!((b.used.sms, b.used.data_octets), (3, 0));
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!((x.allowance, x.allowance_consumed), ("sms", 3));
    assert_eq!(x.requested_action, Some("DIRECT_DEBITING"));
    // 500 in the bundle: 498 more is past it, and an event is all or nothing.
    let d = charge(&e, &sms("m2", None, 498), 1);
    assert_eq!(d.d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert_eq!(e.ledger.balance(1).used.sms, 3);
    assert!(d.commit.is_none());
}

#[test]
fn a_bundle_without_sms_rejects_them() {
    let e = engine();
    let text = crate::rating::EMBEDDED.replace("sms = 500", "sms = 0");
    e.replace_rating(Rating::parse(&text, "t").unwrap());
    let d = charge(&e, &sms("m", None, 1), 0);
    assert_eq!(d.d.services[0].result_code, AUTHORIZATION_REJECTED);
    assert_eq!(
        d.d.error_message.as_deref(),
        Some("the bundle includes no sms")
    );
}

#[test]
fn refund_gives_units_back_and_says_so() {
    let e = engine();
    charge(&e, &sms("m1", None, 3), 0);
    let d = charge(&e, &sms("r1", Some(value::REFUND_ACCOUNT), 2), 1);
    assert_eq!(d.d.result_code, SUCCESS);
    assert_eq!(e.ledger.balance(1).used.sms, 1);
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!((x.allowance_consumed, x.allowance_refunded), (0, 2));
    assert_eq!(x.requested_action, Some("REFUND_ACCOUNT"));
    // Never below nothing used.
    let d = charge(&e, &sms("r2", Some(value::REFUND_ACCOUNT), 9), 2);
    assert_eq!(d.commit.unwrap().xdrs[0].allowance_refunded, 1);
    assert_eq!(e.ledger.balance(1).used.sms, 0);
}

#[test]
fn balance_checks_and_price_enquiries_debit_nothing() {
    let e = engine();
    let d = charge(&e, &sms("c1", Some(value::CHECK_BALANCE), 500), 0);
    assert_eq!(d.d.check_balance, Some(value::ENOUGH_CREDIT));
    assert!(d.commit.is_none());
    let d = charge(&e, &sms("c2", Some(value::CHECK_BALANCE), 501), 0);
    assert_eq!(d.d.check_balance, Some(value::NO_CREDIT));
    let d = charge(&e, &sms("p1", Some(value::PRICE_ENQUIRY), 1), 0);
    assert_eq!(d.d.result_code, SUCCESS);
    let cost = d.d.cost.expect("Cost-Information");
    assert_eq!((cost.digits, cost.currency), (0, 978));
    assert!(d.commit.is_none());
    assert_eq!(e.ledger.balance(1).used.sms, 0);
    let d = charge(&e, &sms("bad", Some(7), 1), 0);
    assert_eq!(d.d.result_code, INVALID_AVP_VALUE);
}

#[test]
fn ro_by_number_finds_the_account() {
    let e = engine();
    for (i, (msisdn, sip)) in [
        (Some("+491700000001"), None),
        (Some("491700000001"), None),
        (
            None,
            Some("sip:+491700000001@ims.mnc001.mcc262.3gppnetwork.org"),
        ),
        (None, Some("tel:+49-170-0000001")),
    ]
    .into_iter()
    .enumerate()
    {
        let sid = format!("v{i}");
        let c = Ccr {
            service_context: "32260@3gpp.org",
            imsi: None,
            msisdn,
            sip_uri: sip,
            role_of_node: Some(value::TERMINATING_ROLE),
            services: vec![ServiceUnits {
                requested: Some(units(None, Some(60), None)),
                ..ServiceUnits::default()
            }],
            ..ccr(&sid, RequestType::Initial, 0, None, 0, "26201", "scscf")
        };
        let d = charge(&e, &c, 0);
        assert_eq!(d.d.result_code, SUCCESS, "{msisdn:?} {sip:?}");
        assert_eq!(d.d.services[0].granted.and_then(|g| g.time), Some(60));
    }
    assert_eq!(e.ledger.balance(1).reserved_voice, 240);
    let c = Ccr {
        imsi: None,
        sip_uri: Some("sip:alice@example.org"),
        ..ccr(
            "alice",
            RequestType::Initial,
            0,
            Some(1),
            0,
            "26201",
            "scscf",
        )
    };
    let d = charge(&e, &c, 0);
    assert_eq!(d.d.result_code, USER_UNKNOWN);
    assert!(d.d.error_message.unwrap().contains("by number"));
}

#[test]
fn each_rating_group_is_rated_as_the_bundle_says() {
    let e = engine();
    // RG 20 is on the allowance, 55 is not listed, 90 is free.
    let d = charge(
        &e,
        &with_rg(
            ccr("a", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
            20,
        ),
        0,
    );
    assert_eq!(d.d.services[0].result_code, SUCCESS);
    let d = charge(
        &e,
        &with_rg(
            ccr("b", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
            55,
        ),
        0,
    );
    assert_eq!(d.d.services[0].result_code, RATING_FAILED);
    assert!(d.d.services[0].granted.is_none());
    let d = charge(
        &e,
        &with_rg(
            ccr("c", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
            90,
        ),
        0,
    );
    assert_eq!(d.d.services[0].result_code, CREDIT_CONTROL_NOT_APPLICABLE);
    assert_eq!(e.ledger.balance(1).reserved_data, 100, "only RG 20's grant");
}

#[test]
fn zero_rated_usage_consumes_nothing_but_costs_the_sponsor() {
    let e = engine();
    // On partner X's IMSI in Andorra: the sponsor charges for the octets.
    let mut c = with_rg(
        ccr(
            "z",
            RequestType::Initial,
            0,
            Some(10_000),
            0,
            "21377",
            "gy.partner-x.example",
        ),
        30,
    );
    c.imsi = Some("262019000000001");
    let d = charge(&e, &c, 0);
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(400));
    assert!(!d.d.services[0].final_unit);
    assert_eq!(e.ledger.balance(1).reserved_data, 0);
    let mut u = with_rg(
        ccr(
            "z",
            RequestType::Update,
            1,
            Some(400),
            0,
            "21377",
            "gy.partner-x.example",
        ),
        30,
    );
    u.services[0].used = vec![UsedUnits {
        units: units(Some(5000), None, None),
        ..UsedUnits::default()
    }];
    let d = charge(&e, &u, 1);
    assert_eq!(e.ledger.balance(1).used.data_octets, 0);
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!(x.allowance_consumed, 0);
    assert!(
        x.cost.is_some_and(|c| !c.is_zero()),
        "wholesale cost: {:?}",
        x.cost
    );
}
