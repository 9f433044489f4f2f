//! Commits: backpressure from a stalled disk, and one account charged from
//! many threads in sequence order.

use super::*;

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
