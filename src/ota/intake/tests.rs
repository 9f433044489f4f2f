//! The webhook body's checks, and the queue's de-duplication, coalescing,
//! draining and restart with explicit times (no sockets, no tokio).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::inventory::location_updates::{LocationQueue, Offered};
use crate::inventory::store::SledStore;
use crate::inventory::Inventory;

const ICCID: &str = "894910262010000012345";
const IMSI: &str = "262019000000001";
const T0: i64 = 1_796_119_200; // 2026-12-01T10:00:00Z

fn body(v: serde_json::Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn ok_body() -> serde_json::Value {
    serde_json::json!({"event_id": "e1", "imsi": IMSI, "mcc": "297", "mnc": "01",
        "observed_at": "2026-12-01T10:00:00Z"})
}

fn field_of(v: serde_json::Value) -> &'static str {
    parse(&body(v)).unwrap_err().0
}

#[test]
fn ota_parse_takes_a_good_body_and_names_the_field_of_a_bad_one() {
    let b = parse(&body(ok_body())).unwrap();
    assert_eq!(b.subject, Subject::Imsi(IMSI.into()));
    assert_eq!((b.mcc.as_str(), b.mnc.as_str()), ("297", "01"));
    assert_eq!(b.observed_at, T0);
    let with = |k: &str, v: serde_json::Value| {
        let mut o = ok_body();
        o[k] = v;
        o
    };
    let without = |k: &str| {
        let mut o = ok_body();
        o.as_object_mut().unwrap().remove(k);
        o
    };
    let by_iccid = with("iccid", ICCID.into());
    assert_eq!(field_of(by_iccid.clone()), "imsi", "both imsi and iccid");
    let mut only_iccid = by_iccid;
    only_iccid.as_object_mut().unwrap().remove("imsi");
    assert_eq!(
        parse(&body(only_iccid)).unwrap().subject,
        Subject::Iccid(ICCID.into())
    );
    assert_eq!(field_of(without("imsi")), "imsi", "neither");
    assert_eq!(field_of(without("event_id")), "event_id");
    assert_eq!(field_of(with("event_id", "".into())), "event_id");
    assert_eq!(field_of(with("event_id", "a\nb".into())), "event_id");
    assert_eq!(
        field_of(with("event_id", "x".repeat(129).into())),
        "event_id"
    );
    assert_eq!(field_of(with("imsi", "26201x".into())), "imsi");
    assert_eq!(field_of(with("mcc", "29".into())), "mcc");
    assert_eq!(field_of(with("mcc", 297.into())), "mcc");
    assert_eq!(field_of(with("mnc", "1".into())), "mnc");
    assert_eq!(field_of(with("mnc", "0001".into())), "mnc");
    assert!(parse(&body(with("mnc", "001".into()))).is_ok());
    assert_eq!(
        field_of(with("observed_at", "yesterday".into())),
        "observed_at"
    );
    assert_eq!(field_of(without("observed_at")), "observed_at");
    assert_eq!(
        field_of(with("observed_at", "1969-12-31T23:59:59Z".into())),
        "observed_at"
    );
    assert_eq!(parse(b"[1]").unwrap_err().0, "body");
    assert_eq!(parse(b"{").unwrap_err().0, "body");
}

#[test]
fn ota_signature_is_lowercase_hex_hmac_of_the_raw_body() {
    let secret = "a-webhook-secret-of-16";
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, b"{}");
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let good = format!("sha256={hex}");
    assert!(signature_ok(secret, b"{}", &good));
    assert!(!signature_ok(secret, b"{ }", &good));
    assert!(!signature_ok("another-secret-000", b"{}", &good));
    assert!(!signature_ok(secret, b"{}", &good.to_uppercase()));
    assert!(!signature_ok(
        secret,
        b"{}",
        good.trim_start_matches("sha256=")
    ));
}

fn empty_queue(aggregate: u64) -> LocationQueue {
    let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
    LocationQueue::new(Arc::new(inv), Duration::from_secs(aggregate)).unwrap()
}

fn ev(id: &str, iccid: &str, observed_at: i64, received_at: i64) -> Located {
    Located {
        event_id: id.into(),
        iccid: iccid.into(),
        imsi: None,
        mcc: "297".into(),
        mnc: "01".into(),
        observed_at,
        received_at,
    }
}

#[test]
fn ota_events_for_one_profile_coalesce_to_the_latest_observed_and_due_stays() {
    let q = empty_queue(60);
    assert_eq!(q.offer(ev("a", "p1", T0, 1000)).unwrap(), Offered::Queued);
    assert_eq!(
        q.offer(ev("b", "p1", T0 + 5, 1030)).unwrap(),
        Offered::Replaced
    );
    assert_eq!(
        q.offer(ev("c", "p1", T0 + 1, 1040)).unwrap(),
        Offered::Superseded
    );
    assert_eq!(q.offer(ev("d", "p2", T0, 1010)).unwrap(), Offered::Queued);
    let p = q.pending().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].event.event_id.as_str(), p[0].due), ("b", 1060));
    assert_eq!(p[0].coalesced, 2);
    assert!(q.due(1059).unwrap().is_empty());
    let due: Vec<String> = q
        .due(1070)
        .unwrap()
        .into_iter()
        .map(|l| l.event_id)
        .collect();
    assert_eq!(due, ["b", "d"], "oldest due first");
    // A later event arrives while "b" is with the sink: "b" done keeps it.
    assert_eq!(
        q.offer(ev("e", "p1", T0 + 9, 1065)).unwrap(),
        Offered::Replaced
    );
    assert!(!q.done("p1", "b").unwrap());
    assert_eq!(q.due(1070).unwrap()[0].event_id, "e");
    assert!(q.done("p1", "e").unwrap());
    assert!(q.done("p2", "d").unwrap());
    assert!(q.pending().unwrap().is_empty());
    assert_eq!(q.drained(), 2);
    // After the drain a new event starts a new window.
    assert_eq!(
        q.offer(ev("f", "p1", T0 + 20, 2000)).unwrap(),
        Offered::Queued
    );
    assert_eq!(q.pending().unwrap()[0].due, 2060);
}

#[test]
fn ota_a_duplicate_event_id_changes_nothing_until_compacted() {
    let q = empty_queue(60);
    assert_eq!(q.offer(ev("a", "p1", T0, 1000)).unwrap(), Offered::Queued);
    assert_eq!(
        q.offer(ev("a", "p1", T0 + 50, 1001)).unwrap(),
        Offered::Duplicate
    );
    assert_eq!(
        q.offer(ev("a", "p9", T0 + 50, 1002)).unwrap(),
        Offered::Duplicate
    );
    let p = q.pending().unwrap();
    assert_eq!(
        (p.len(), p[0].event.observed_at, p[0].coalesced),
        (1, T0, 0)
    );
    assert_eq!(q.seen("a").unwrap().as_deref(), Some("p1"));
    assert_eq!(q.offer(ev("b", "p2", T0, 5000)).unwrap(), Offered::Queued);
    // Only ids taken in before the cut are forgotten.
    assert_eq!(q.compact(1001, 100).unwrap(), 1);
    assert_eq!(q.seen("a").unwrap(), None);
    assert_eq!(q.seen("b").unwrap().as_deref(), Some("p2"));
    assert_eq!(q.offer(ev("a", "p3", T0, 6000)).unwrap(), Offered::Queued);
}

#[test]
fn ota_an_event_observed_before_the_drained_one_is_superseded_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("gyro-ota-late-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || {
        let inv = Inventory::open(Arc::new(SledStore::open(&dir).unwrap())).unwrap();
        LocationQueue::new(Arc::new(inv), Duration::from_secs(60)).unwrap()
    };
    {
        let q = open();
        assert_eq!(q.offer(ev("a", "p1", T0, 1000)).unwrap(), Offered::Queued);
        assert!(q.done("p1", "a").unwrap());
    }
    let q = open();
    // Delivered late by the MVNE: observed before the drained one.
    assert_eq!(
        q.offer(ev("b", "p1", T0 - 30, 1100)).unwrap(),
        Offered::Superseded
    );
    assert_eq!(
        q.offer(ev("c", "p1", T0 - 1, 1101)).unwrap(),
        Offered::Superseded
    );
    assert!(q.pending().unwrap().is_empty(), "nothing for the engine");
    assert_eq!(q.seen("b").unwrap().as_deref(), Some("p1"), "seen");
    assert_eq!(
        q.offer(ev("b", "p1", T0 - 30, 1102)).unwrap(),
        Offered::Duplicate
    );
    // Other profiles, and newer events, queue as before.
    assert_eq!(
        q.offer(ev("d", "p2", T0 - 30, 1103)).unwrap(),
        Offered::Queued
    );
    assert_eq!(
        q.offer(ev("e", "p1", T0, 1104)).unwrap(),
        Offered::Queued,
        "the same instant as the drained one is not older"
    );
    let p = q.pending().unwrap();
    assert_eq!(p.len(), 2);
    assert!(p
        .iter()
        .any(|p| p.event.event_id == "e" && p.coalesced == 0));
    drop(q);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Recorder {
    fail: bool,
    got: Mutex<Vec<String>>,
}

impl LocationSink for Recorder {
    fn located(&self, l: &Located) -> Result<(), String> {
        self.got.lock().unwrap().push(l.event_id.clone());
        if self.fail {
            Err("swap engine down".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn ota_a_refused_location_stays_pending_and_goes_out_on_a_later_pass() {
    let q = empty_queue(60);
    q.offer(ev("a", "p1", T0, 1000)).unwrap();
    q.offer(ev("b", "p2", T0, 990)).unwrap();
    let down = Recorder {
        fail: true,
        got: Mutex::default(),
    };
    let d = drain_once(&q, 1100, &down);
    assert_eq!((d.delivered, d.kept), (0, 2));
    assert_eq!(*down.got.lock().unwrap(), ["b", "a"]);
    assert_eq!(q.pending().unwrap().len(), 2);
    let up = Recorder {
        fail: false,
        got: Mutex::default(),
    };
    assert_eq!(drain_once(&q, 1055, &up).delivered, 1, "only b is due");
    assert_eq!(drain_once(&q, 1100, &up).delivered, 1);
    assert_eq!(*up.got.lock().unwrap(), ["b", "a"]);
    assert!(q.pending().unwrap().is_empty());
    // The drain pass also forgets ids older than SEEN_KEEP.
    assert_eq!(drain_once(&q, 1000 + SEEN_KEEP + 1, &up).forgotten, 2);
}

fn seeded_intake(dir: &std::path::Path, seed: bool) -> Intake {
    let inv = Inventory::open(Arc::new(SledStore::open(dir).unwrap())).unwrap();
    if seed {
        let s = crate::inventory::seed::parse(crate::inventory::seed::EMBEDDED, "seed").unwrap();
        assert!(inv.apply_seed(&s, "seed").unwrap());
    }
    let cfg = OtaSettings::default();
    Intake::new(Arc::new(inv), &cfg).unwrap()
}

fn invalid_field(r: Result<Accepted, IntakeError>) -> &'static str {
    match r {
        Err(IntakeError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    }
}

#[test]
fn ota_intake_resolves_imsis_and_iccids_and_pending_records_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("gyro-ota-intake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let i = seeded_intake(&dir, true);
        let a = i.accept(&body(ok_body())).unwrap();
        assert_eq!((a.iccid.as_str(), a.outcome), (ICCID, Offered::Queued));
        let mut o = ok_body();
        o["event_id"] = "e2".into();
        o["imsi"] = "262019999999999".into();
        assert_eq!(invalid_field(i.accept(&body(o.clone()))), "imsi", "unknown");
        // Left in the W dynamic pool by the seed: in no profile.
        o["imsi"] = "901280000002000".into();
        assert_eq!(invalid_field(i.accept(&body(o.clone()))), "imsi");
        o.as_object_mut().unwrap().remove("imsi");
        o["iccid"] = "894910262010000099999".into();
        assert_eq!(invalid_field(i.accept(&body(o.clone()))), "iccid");
        o["iccid"] = ICCID.into();
        o["observed_at"] = "2026-12-01T10:00:30+00:00".into();
        let a = i.accept(&body(o)).unwrap();
        assert_eq!(a.outcome, Offered::Replaced);
    }
    let i = seeded_intake(&dir, false);
    let p = i.queue().pending().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].event.event_id, "e2");
    assert_eq!(p[0].event.imsi, None, "named by its ICCID");
    assert_eq!(p[0].due, p[0].first_received + 60);
    let again = i.accept(&body(ok_body())).unwrap();
    assert_eq!(
        (again.iccid.as_str(), again.outcome),
        (ICCID, Offered::Duplicate)
    );
    drop(i);
    let _ = std::fs::remove_dir_all(&dir);
}
