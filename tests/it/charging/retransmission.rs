//! Retransmissions answered once, through real sockets and real crashes: a
//! request whose usage was made durable but whose answer never left (the
//! process killed in between by the commit thread's test hook) is resent
//! with the T flag after the restart and gets its original answer, charged
//! once; a CCR-T resent after its session's linger, too; and the xDR log a
//! crash leaves is replayed by commit sequence across a day boundary.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use base64::Engine as _;
use gyro::diameter::Message;

use crate::support::*;

const TEST_CLOCK: (&str, &str) = ("test_clock = false", "test_clock = true");
/// The commit thread's test hook (docs/testing.md), by name.
const KILL_AFTER_DURABLE: &str = "GYRO_TEST_KILL_AFTER_DURABLE";
const DAY: i64 = 86_400;

fn used(g: &Gyro) -> u64 {
    data_balance(g, GyCcr::BASE.imsi).0
}

fn result(b: &[u8]) -> Option<u32> {
    Message::new(b).and_then(|m| m.result_code())
}

/// `b` with its Hop-by-Hop Identifier set to `hbh`.
fn with_hbh(b: &[u8], hbh: u32) -> Vec<u8> {
    let mut b = b.to_vec();
    b[12..16].copy_from_slice(&hbh.to_be_bytes());
    b
}

/// `c` as a gateway resends it: the T flag, and a Hop-by-Hop id of its own.
fn resent(c: &GyCcr<'_>, hbh: u32) -> Vec<u8> {
    with_hbh(
        &gy_ccr(&GyCcr {
            retransmit: true,
            ..*c
        }),
        hbh,
    )
}

/// The answer the xDR log kept with request `number` of `session`.
fn logged_answer(g: &Gyro, session: &str, number: u64) -> Vec<u8> {
    let x = xdrs(g);
    let line = x
        .iter()
        .find(|x| x["session_id"] == session && x["request_number"] == number)
        .expect("an xDR line for the request");
    let b64 = line["answer"]
        .as_str()
        .expect("the answer on its first line");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The request numbers the xDR log charged for `session`, in order.
fn charged_numbers(g: &Gyro, session: &str) -> Vec<u64> {
    let mut n: Vec<u64> = xdrs(g)
        .iter()
        .filter(|x| x["session_id"] == session)
        .map(|x| x["request_number"].as_u64().unwrap())
        .collect();
    n.sort_unstable();
    n
}

/// Starts (or restarts on `dir`) gyro with the commit thread's test hook
/// armed for `session`: it dies right after that session's usage is durable.
fn start_hooked(tag: &str, session: &str, dir: Option<&std::path::Path>) -> Gyro {
    // Each test runs in its own process under nextest; the child inherits
    // the variable, and no other test charges this Session-Id.
    std::env::set_var(KILL_AFTER_DURABLE, session);
    let g = match dir {
        None => Gyro::start_replacing(tag, &[TEST_CLOCK], ""),
        Some(d) => Gyro::restart_replacing(tag, d, &[TEST_CLOCK], ""),
    };
    std::env::remove_var(KILL_AFTER_DURABLE);
    g
}

/// Sends `c`, which the hook answers by killing gyro: no answer comes, and
/// the process ends on SIGKILL.
fn killed_after_commit(g: &mut Gyro, p: &mut RawPeer, c: &GyCcr<'_>) {
    p.send(&gy_ccr(c));
    assert!(p.recv().is_none(), "an answer left: the hook did not fire");
    let status = g.child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "gyro ended by the hook's SIGKILL");
}

#[test]
fn a_retransmission_after_a_kill_between_commit_and_answer_is_answered_once() {
    let mut g = start_hooked("rtx-crash", "crash", None);
    let dir = g.dir.clone();
    let before = used(&g);
    let mut p = open_peer(&g, "pgw.test.local");
    let i = GyCcr {
        session: "crash",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(result(&ask(&mut p, &gy_ccr(&i))), Some(2001));
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 2,
        used: 400,
        ..i
    };
    killed_after_commit(&mut g, &mut p, &u);
    drop(g);

    let g = Gyro::restart_replacing("rtx-crash-2", &dir, &[TEST_CLOCK], "");
    let mut p = open_peer(&g, "pgw.test.local");
    let a = ask(&mut p, &resent(&u, 0x7777));
    assert_eq!(
        a,
        with_hbh(&logged_answer(&g, "crash", 1), 0x7777),
        "the original answer, under the retransmission's Hop-by-Hop id"
    );
    assert_eq!(result(&a), Some(2001));
    assert_eq!(used(&g) - before, 400, "charged once");

    // The session goes on from there.
    let next = GyCcr {
        number: 2,
        e2e: 3,
        used: 100,
        ..u
    };
    assert_eq!(result(&ask(&mut p, &gy_ccr(&next))), Some(2001));
    assert_eq!(used(&g) - before, 500);
    assert_eq!(charged_numbers(&g, "crash"), [1, 2], "one xDR per request");
}

/// Moves the test clock to `t` (Unix seconds).
fn clock_to(g: &Gyro, t: i64) {
    let body = serde_json::json!({ "now": gyro::model::rfc3339(t) });
    let (s, v) = api_send(g, "POST", "/api/v1/clock", Some(&body));
    assert_eq!(s, 200, "{v}");
}

fn node_now(g: &Gyro) -> i64 {
    let now = api_get(g, "/api/v1/clock")["now"]
        .as_str()
        .unwrap()
        .to_string();
    gyro::model::parse_rfc3339(&now).unwrap()
}

fn sessions_gauge(g: &Gyro) -> String {
    let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    text.lines()
        .find(|l| l.starts_with("gyro_charging_sessions "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_ccr_t_resent_after_the_linger_is_answered_not_charged() {
    let g = Gyro::start_replacing("rtx-linger", &[TEST_CLOCK], "");
    let before = used(&g);
    let mut p = open_peer(&g, "pgw.test.local");
    let i = GyCcr {
        session: "linger",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(result(&ask(&mut p, &gy_ccr(&i))), Some(2001));
    let t = GyCcr {
        kind: 3,
        number: 1,
        e2e: 2,
        used: 300,
        requested: None,
        ..i
    };
    let first = ask(&mut p, &gy_ccr(&t));
    assert_eq!(result(&first), Some(2001));
    assert_eq!(used(&g) - before, 300);

    // Two minutes on: past the ended session's linger (60 s), so the
    // ledger forgets it; still inside the retransmission window.
    clock_to(&g, node_now(&g) + 120);
    wait_until(10, "the ended session forgotten", || {
        sessions_gauge(&g) == "gyro_charging_sessions 0"
    });
    let again = ask(&mut p, &resent(&t, 0x5151));
    assert_eq!(again, with_hbh(&first, 0x5151), "the CCR-T's own answer");
    assert_eq!(used(&g) - before, 300, "charged once");
    assert_eq!(charged_numbers(&g, "linger"), [1]);
}

#[test]
fn a_crash_across_midnight_replays_the_log_by_sequence() {
    let mut g = Gyro::start_replacing("rtx-midnight", &[TEST_CLOCK], "");
    let dir = g.dir.clone();
    let before = used(&g);
    // Seconds before a UTC midnight ahead of now; a restart resumes the
    // test clock there, so after the crash it is the day before again.
    let midnight = (node_now(&g) / DAY + 2) * DAY;
    clock_to(&g, midnight - 6);
    let mut p = open_peer(&g, "pgw.test.local");
    let i = GyCcr {
        session: "midnight",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let u = |n: u32| GyCcr {
        kind: 2,
        number: n,
        e2e: 10 + n,
        used: 100,
        ..i
    };
    assert_eq!(result(&ask(&mut p, &gy_ccr(&i))), Some(2001));
    assert_eq!(result(&ask(&mut p, &gy_ccr(&u(1)))), Some(2001));
    std::thread::sleep(Duration::from_millis(7000));
    assert!(node_now(&g) >= midnight, "the node's day has turned");
    assert_eq!(result(&ask(&mut p, &gy_ccr(&u(2)))), Some(2001));
    let _ = g.child.kill();
    let _ = g.child.wait();
    drop(g);

    // Back before midnight: the third update is durable, the process dies
    // before the store takes it.
    let mut g = start_hooked("rtx-midnight-2", "midnight", Some(&dir));
    assert!(node_now(&g) < midnight, "the clock resumed before midnight");
    let mut p = open_peer(&g, "pgw.test.local");
    killed_after_commit(&mut g, &mut p, &u(3));
    drop(g);

    let g = Gyro::restart_replacing("rtx-midnight-3", &dir, &[TEST_CLOCK], "");
    assert_eq!(
        used(&g) - before,
        300,
        "every update, the last one from the log"
    );
    let mut p = open_peer(&g, "pgw.test.local");
    assert_eq!(result(&ask(&mut p, &resent(&u(3), 9))), Some(2001));
    assert_eq!(
        used(&g) - before,
        300,
        "its retransmission is not charged again"
    );
    let mut seqs: Vec<u64> = xdrs(&g)
        .iter()
        .map(|x| x["seq"].as_u64().unwrap())
        .collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no commit sequence used twice");
    assert_eq!(charged_numbers(&g, "midnight"), [1, 2, 3]);
}
