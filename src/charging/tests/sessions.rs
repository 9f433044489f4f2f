//! Sessions: Tcc with a virtual `now`, sessions gyro lost or ended,
//! open sessions by gateway, a CCR-I on an open session id, and
//! retransmissions answered from the kept answer.

use super::*;

#[test]
fn tcc_ends_sessions_holding_quota_and_their_next_update_re_creates_them() {
    let e = engine();
    charge(
        &e,
        &ccr("t", RequestType::Initial, 0, Some(300), 0, "26201", "pgw"),
        100,
    );
    assert_eq!(e.ledger.balance(1).reserved_data, 300);
    assert_eq!(e.expire(119).expired, 0);
    assert_eq!(e.expire(120).expired, 1);
    assert_eq!(e.ledger.balance(1).reserved_data, 0);
    assert_eq!(e.ledger.owner("t"), None);
    // The gateway was only slow: its usage is charged and it goes on.
    let d = charge(
        &e,
        &ccr("t", RequestType::Update, 1, Some(100), 250, "26201", "pgw"),
        121,
    );
    assert_eq!(d.d.result_code, SUCCESS);
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(100));
    assert_eq!(d.commit.unwrap().xdrs[0].allowance_consumed, 250);
    let b = e.ledger.balance(1);
    assert_eq!((b.used.data_octets, b.reserved_data), (250, 100));
}

#[test]
fn tcc_keeps_a_session_that_holds_no_quota() {
    let e = engine();
    // Granted nothing: the bundle is used up.
    charge(
        &e,
        &ccr("q0", RequestType::Initial, 0, Some(1000), 0, "26201", "pgw"),
        0,
    );
    charge(
        &e,
        &ccr(
            "q0",
            RequestType::Termination,
            1,
            None,
            1000,
            "26201",
            "pgw",
        ),
        1,
    );
    let d = charge(
        &e,
        &ccr("q", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        10,
    );
    assert_eq!(d.d.services[0].result_code, CREDIT_LIMIT_REACHED);
    assert_eq!(e.expire(10_000).expired, 0);
    assert_eq!(e.ledger.owner("q"), Some(1), "the bearer is not cut");
    let d = charge(
        &e,
        &ccr("q", RequestType::Termination, 1, None, 0, "26201", "pgw"),
        10_001,
    );
    assert_eq!(d.d.result_code, SUCCESS);
}

#[test]
fn an_update_for_a_session_gyro_lost_is_charged_and_answered() {
    let e = engine();
    // As after a restart: gyro has never seen "lost".
    let d = charge(
        &e,
        &ccr(
            "lost",
            RequestType::Update,
            7,
            Some(100),
            321,
            "21377",
            "gy.partner-x.example",
        ),
        50,
    );
    assert_eq!(d.d.result_code, SUCCESS);
    let x = &d.commit.unwrap().xdrs[0];
    assert_eq!(
        (x.allowance_consumed, x.rate_code.as_str()),
        (321, "E212-213-77")
    );
    assert_eq!(e.ledger.owner("lost"), Some(1), "the session is re-created");
    let d = charge(
        &e,
        &ccr(
            "lost",
            RequestType::Termination,
            8,
            None,
            9,
            "21377",
            "gy.partner-x.example",
        ),
        51,
    );
    assert_eq!(d.d.result_code, SUCCESS);
    assert_eq!(e.ledger.balance(1).used.data_octets, 330);
    assert_eq!(e.ledger.balance(1).reserved_data, 0);
}

#[test]
fn an_unknown_session_with_no_identity_gets_5002() {
    let e = engine();
    let mut c = ccr(
        "anon",
        RequestType::Update,
        3,
        Some(100),
        10,
        "26201",
        "pgw",
    );
    c.imsi = None;
    assert_eq!(charge(&e, &c, 0).d.result_code, UNKNOWN_SESSION_ID);
    assert_eq!(e.ledger.owner("anon"), None);
}

#[test]
fn an_update_after_the_termination_gets_5002_but_its_usage_is_charged() {
    let e = engine();
    charge(
        &e,
        &ccr("z", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        0,
    );
    charge(
        &e,
        &ccr("z", RequestType::Termination, 1, None, 40, "26201", "pgw"),
        1,
    );
    let d = charge(
        &e,
        &ccr("z", RequestType::Update, 2, Some(100), 60, "26201", "pgw"),
        2,
    );
    assert_eq!(d.d.result_code, UNKNOWN_SESSION_ID);
    assert!(d.d.services[0].granted.is_none());
    assert_eq!(d.commit.unwrap().xdrs[0].allowance_consumed, 60);
    assert_eq!(e.ledger.balance(1).used.data_octets, 100);
}

#[test]
fn open_sessions_name_their_gateway_and_an_ended_one_is_not_listed() {
    let e = engine();
    let via_dra = Ccr {
        origin_realm: "gw.realm",
        via_peer: "dra",
        ..ccr("b", RequestType::Initial, 0, Some(100), 0, "26201", "pgw")
    };
    charge(&e, &via_dra, 0);
    charge(
        &e,
        &ccr("a", RequestType::Initial, 0, Some(100), 0, "26201", "pgw2"),
        0,
    );
    charge(
        &e,
        &ccr("c", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        0,
    );
    charge(
        &e,
        &ccr("c", RequestType::Termination, 1, None, 0, "26201", "pgw"),
        1,
    );
    let open = e.open_sessions(1);
    let seen: Vec<_> = open
        .iter()
        .map(|s| {
            let g = s.gateway.as_deref().unwrap();
            (&*s.session_id, &*g.host, &*g.realm, &*g.peer)
        })
        .collect();
    assert_eq!(
        seen,
        [("a", "pgw2", "", "pgw2"), ("b", "pgw", "gw.realm", "dra")],
        "sorted, the terminated one left out"
    );
    assert!(
        e.open_sessions(99).is_empty(),
        "an account gyro never charged"
    );
    // An ASA 2001 ends the session as a CCR-T would: quota back, then 5002.
    assert_eq!(e.ledger.balance(1).reserved_data, 200);
    assert!(e.end_session("b", 2));
    assert_eq!(e.ledger.balance(1).reserved_data, 100);
    let u = charge(
        &e,
        &ccr("b", RequestType::Update, 1, Some(100), 10, "26201", "pgw"),
        3,
    );
    assert_eq!(u.d.result_code, UNKNOWN_SESSION_ID);
}

#[test]
fn a_ccr_i_on_an_open_session_id_releases_the_old_reservations() {
    let e = engine();
    charge(
        &e,
        &ccr("re", RequestType::Initial, 0, Some(300), 0, "26201", "pgw"),
        0,
    );
    assert_eq!(e.ledger.balance(1).reserved_data, 300);
    let d = charge(
        &e,
        &ccr("re", RequestType::Initial, 0, Some(200), 0, "26201", "pgw2"),
        1,
    );
    assert_eq!(d.d.services[0].granted.and_then(|g| g.octets), Some(200));
    assert_eq!(e.ledger.balance(1).reserved_data, 200, "not 500");
}

#[test]
fn a_retransmission_gets_the_kept_answer_and_is_charged_once() {
    let e = engine();
    let rec = Recorder::default();
    let c = ccr("d", RequestType::Initial, 0, Some(100), 0, "26201", "pgw");
    charge_with(&e, &rec, &c, 5, 0);
    let u = ccr("d", RequestType::Update, 1, Some(100), 70, "26201", "pgw");
    assert!(!charge_with(&e, &rec, &u, 6, 1).duplicate);
    let again = charge_with(&e, &rec, &u, 6, 2);
    assert!(again.duplicate && again.commit.is_none());
    assert_eq!(e.ledger.balance(1).used.data_octets, 70);
    // Same number, new End-to-End id: a new request.
    assert!(!charge_with(&e, &rec, &u, 7, 3).duplicate);
    assert_eq!(e.ledger.balance(1).used.data_octets, 140);
}

#[test]
fn a_ccr_t_resent_after_the_linger_gets_its_answer_and_is_charged_once() {
    let e = engine();
    let rec = Recorder::default();
    let i = ccr("end", RequestType::Initial, 0, Some(100), 0, "26201", "pgw");
    charge_with(&e, &rec, &i, 1, 0);
    let t = ccr("end", RequestType::Termination, 1, None, 60, "26201", "pgw");
    let first = charge_with(&e, &rec, &t, 2, 10);
    let answer = first.commit.as_ref().and_then(|c| c.xdrs[0].answer.clone());
    assert_eq!(
        answer.as_deref(),
        Some(&b"cca"[..]),
        "durable with its usage"
    );
    // Past the 60 s linger: the ledger forgets the session.
    e.expire(100);
    assert_eq!(e.ledger.owner("end"), None);
    let again = charge_with(&e, &rec, &t, 2, 100);
    assert!(again.duplicate && again.commit.is_none());
    assert_eq!(e.ledger.balance(1).used.data_octets, 60);
    // Past the retransmission window, it is a new request.
    e.expire(10 + e.cfg.retransmission_window);
    assert!(!charge_with(&e, &rec, &t, 2, 10 + e.cfg.retransmission_window).duplicate);
}

#[test]
fn an_answer_restored_after_a_restart_answers_its_retransmission() {
    let e = engine();
    let rec = Recorder::default();
    let restored = crate::charging::xdr::Answered {
        seq: 9,
        time: 50,
        session_id: "lost".into(),
        request_number: 3,
        end_to_end: 33,
        answer: bytes::Bytes::from_static(b"first"),
    };
    assert_eq!(e.retained.restore(vec![restored], 60), 1);
    let u = ccr(
        "lost",
        RequestType::Update,
        3,
        Some(100),
        70,
        "26201",
        "pgw",
    );
    let ch = e.charge(&u, 33, 61, &rec, &|_: &Decision| {
        bytes::Bytes::from_static(b"new")
    });
    assert!(ch.duplicate);
    assert_eq!(&ch.answer[..], b"first");
    assert_eq!(e.ledger.balance(1).used.data_octets, 0, "not charged again");
    // The next request re-creates the session, which keeps the old answer.
    let next = ccr(
        "lost",
        RequestType::Update,
        4,
        Some(100),
        70,
        "26201",
        "pgw",
    );
    assert!(!charge_with(&e, &rec, &next, 34, 62).duplicate);
    assert!(charge_with(&e, &rec, &u, 33, 63).duplicate);
    assert_eq!(e.ledger.balance(1).used.data_octets, 70);
}

#[test]
fn an_old_copy_arriving_after_its_answer_left_the_kept_ones_is_not_charged() {
    let e = engine();
    let rec = Recorder::default();
    let i = ccr(
        "late",
        RequestType::Initial,
        0,
        Some(100),
        0,
        "26201",
        "pgw",
    );
    charge_with(&e, &rec, &i, 1, 0);
    let old = ccr(
        "late",
        RequestType::Update,
        1,
        Some(100),
        50,
        "26201",
        "pgw",
    );
    charge_with(&e, &rec, &old, 2, 1);
    for n in 2..=20 {
        let u = ccr(
            "late",
            RequestType::Update,
            n,
            Some(100),
            10,
            "26201",
            "pgw",
        );
        charge_with(&e, &rec, &u, 100 + n, 1);
    }
    let t = ccr(
        "late",
        RequestType::Termination,
        21,
        None,
        0,
        "26201",
        "pgw",
    );
    charge_with(&e, &rec, &t, 200, 2);
    let used = e.ledger.balance(1).used.data_octets;
    assert_eq!(used, 50 + 19 * 10);
    // The first copy of request 1, delayed in the network, arrives last.
    let late = charge_with(&e, &rec, &old, 2, 3);
    assert_eq!(late.d.result_code, UNABLE_TO_COMPLY);
    assert!(late.commit.is_none(), "nothing to make durable");
    assert_eq!(
        e.ledger.balance(1).used.data_octets,
        used,
        "not charged twice"
    );
}
