//! The engine without sockets or clocks: grants, final units, exhaustion,
//! coverage, Tcc with a virtual `now`, sponsor costs, sessions gyro lost,
//! location changes, backpressure, and one account charged from many threads.

use std::sync::Arc;

use std::cell::RefCell;
use std::sync::Mutex;

use super::ccr::{Ccr, RequestType, ServiceUnits, Units, UsedUnits};
use super::commit::Commit;
use super::engine::*;
use crate::diameter::codes::result::*;
use crate::model::*;
use crate::rating::Rating;
use crate::resolver::fixtures::{product, profile, sponsor};
use crate::resolver::{Catalog, Index};

const IMSI: &str = "262019000000001";

pub(super) fn engine() -> Engine {
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

pub(super) fn ccr<'a>(
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
            used: (used > 0)
                .then(|| UsedUnits {
                    units: Units {
                        total_octets: Some(used),
                        ..Units::default()
                    },
                    ..UsedUnits::default()
                })
                .into_iter()
                .collect(),
            ..ServiceUnits::default()
        }],
        ..Ccr::default()
    }
}

/// Records commits in sequence order, as the committer queues them.
#[derive(Default)]
struct Recorder {
    commits: Mutex<Vec<(u64, Commit)>>,
    busy: bool,
}

impl Sequencer for Recorder {
    fn accepting(&self) -> bool {
        !self.busy
    }
    fn submit(&self, c: Commit) -> u64 {
        let mut v = self.commits.lock().unwrap();
        let seq = v.len() as u64 + 1;
        v.push((seq, c));
        seq
    }
}

pub(super) struct Out {
    pub(super) d: Decision,
    pub(super) commit: Option<Commit>,
    pub(super) duplicate: bool,
}

fn charge_with(e: &Engine, rec: &Recorder, c: &Ccr<'_>, e2e: u32, now: i64) -> Out {
    let seen = RefCell::new(None);
    let ch = e.charge(c, e2e, now, rec, &|d: &Decision| {
        *seen.borrow_mut() = Some(d.clone());
        bytes::Bytes::from_static(b"cca")
    });
    let commits = rec.commits.lock().unwrap();
    let commit = (ch.seq > 0 && !ch.duplicate)
        .then(|| {
            commits
                .iter()
                .find(|(s, _)| *s == ch.seq)
                .map(|(_, c)| c.clone())
        })
        .flatten();
    Out {
        d: seen.into_inner().unwrap_or_default(),
        commit,
        duplicate: ch.duplicate,
    }
}

/// Charges with a fresh End-to-End id: a new request, never a retransmission.
pub(super) fn charge(e: &Engine, c: &Ccr<'_>, now: i64) -> Out {
    thread_local!(static REC: Recorder = Recorder::default());
    static E2E: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let e2e = E2E.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    REC.with(|r| charge_with(e, r, c, e2e, now))
}

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
fn a_stalled_disk_gets_3004_and_changes_nothing() {
    let e = engine();
    charge(
        &e,
        &ccr("bz", RequestType::Initial, 0, Some(100), 0, "26201", "pgw"),
        0,
    );
    let busy = Recorder {
        busy: true,
        ..Recorder::default()
    };
    let d = charge_with(
        &e,
        &busy,
        &ccr("bz", RequestType::Update, 1, Some(100), 60, "26201", "pgw"),
        9,
        1,
    );
    assert_eq!(d.d.result_code, TOO_BUSY);
    let b = e.ledger.balance(1);
    assert_eq!((b.used.data_octets, b.reserved_data), (0, 100));
    // Not kept: the gateway's retry is charged normally.
    let d = charge(
        &e,
        &ccr("bz", RequestType::Update, 1, Some(100), 60, "26201", "pgw"),
        2,
    );
    assert_eq!(d.d.result_code, SUCCESS);
    assert_eq!(e.ledger.balance(1).used.data_octets, 60);
}

/// Eight gateways charge one account at once: every commit carries the
/// account's total as of its own change, so totals rise with the sequence
/// and the last one is the sum of all usage.
#[test]
fn many_threads_on_one_account_commit_rising_totals_in_sequence_order() {
    let e = engine();
    let rec = Recorder::default();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let (e, rec) = (&e, &rec);
            s.spawn(move || {
                let sid = format!("mt{t}");
                for n in 0..200u32 {
                    let rt = if n == 0 {
                        RequestType::Initial
                    } else {
                        RequestType::Update
                    };
                    let c = ccr(&sid, rt, n, Some(1), (n > 0) as u64, "26201", "pgw");
                    charge_with(e, rec, &c, t * 1000 + n, 0);
                }
            });
        }
    });
    let commits = rec.commits.lock().unwrap();
    let totals: Vec<u64> = commits
        .iter()
        .map(|(_, c)| c.used.unwrap().data_octets)
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] < w[1]),
        "totals rise with the sequence"
    );
    assert_eq!(*totals.last().unwrap(), 8 * 199);
    assert_eq!(e.ledger.balance(1).used.data_octets, 8 * 199);
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
