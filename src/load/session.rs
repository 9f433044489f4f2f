//! What one worker of the load does: sessions one after the other, each a
//! CCR-I, `--updates` CCR-U and a CCR-T for one of the seed's subscribers,
//! one request outstanding at a time, paced when `--rate` is given.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};

use super::args::LoadArgs;
use super::conn::Conn;
use super::messages::{ccr, Req, INITIAL, TERMINATION, UPDATE};
use super::report::Tally;

/// Who the load pretends to be: (Origin-Host, IMSI, visited MCC+MNC).
const PROFILES: &[(&str, &str, &str)] = &[
    // Truck driver at home on the own IMSI.
    ("pgw.test.local", "262019000000001", "26201"),
    // In Andorra through Partner X's proxy, which shows the own IMSI.
    ("gy.partner-x.example", "262019000000001", "21377"),
    // Transfer driver in Montenegro on Partner Y's IMSI.
    ("pgw.test.local", "213550000000001", "29701"),
    // Transfer driver at home.
    ("pgw.test.local", "262018000000001", "26201"),
];

/// What every worker of a run shares.
pub(super) struct Run {
    pub args: LoadArgs,
    pub id: u32,
    pub started: Instant,
    pub next_session: AtomicU64,
    pub next_e2e: AtomicU32,
    pub answered: AtomicU64,
    /// Permits to send, one per request, when the rate is limited.
    pub pacer: Option<Arc<Semaphore>>,
}

/// How a request ended for its session.
enum Sent {
    /// 2001: the session goes on.
    Success,
    /// Another result code or no answer: the session ends here.
    Ended,
    /// The connection or the pacer is gone: the worker stops.
    Stopped,
}

/// Runs sessions on `conn` until the run is over, tallying the answers.
pub(super) async fn worker(run: Arc<Run>, conn: Arc<Conn>) -> Tally {
    let mut t = Tally::default();
    loop {
        let s = run.next_session.fetch_add(1, Ordering::Relaxed);
        if run.args.done(s, run.started.elapsed()) {
            return t;
        }
        let candidates: Vec<&(&str, &str, &str)> =
            PROFILES.iter().filter(|p| p.0 == conn.role).collect();
        let (_, imsi, plmn) = candidates[(s as usize) % candidates.len()];
        let session = format!("{};{};{s}", conn.origin, run.id);
        let last = run.args.updates + 1;
        for number in 0..=last {
            let kind = match number {
                0 => INITIAL,
                n if n == last => TERMINATION,
                _ => UPDATE,
            };
            let req = Req {
                origin: &conn.origin,
                realm: &run.args.realm,
                session: &session,
                kind,
                number,
                hbh: 0,
                e2e: 0,
                imsi,
                plmn,
                used: run.args.used_octets,
            };
            match send(&run, &conn, req, &mut t).await {
                Sent::Success => {}
                Sent::Ended => break,
                Sent::Stopped => return t,
            }
        }
    }
}

/// Sends one request (numbered here) when the pacer allows, and waits up to
/// 10 s for its answer.
async fn send(run: &Run, conn: &Conn, mut req: Req<'_>, t: &mut Tally) -> Sent {
    if let Some(p) = &run.pacer {
        match p.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Sent::Stopped,
        }
    }
    let hbh = conn.next_hbh.fetch_add(1, Ordering::Relaxed) as u32;
    req.hbh = hbh;
    req.e2e = run.next_e2e.fetch_add(1, Ordering::Relaxed);
    let bytes = ccr(&req);
    let (tx, rx) = oneshot::channel();
    if let Ok(mut p) = conn.pending.lock() {
        p.insert(hbh, tx);
    }
    let sent = Instant::now();
    if conn.tx.send(bytes).await.is_err() {
        return Sent::Stopped;
    }
    match tokio::time::timeout(Duration::from_secs(10), rx).await {
        Ok(Ok(rc)) => {
            t.answer(rc, sent.elapsed());
            run.answered.fetch_add(1, Ordering::Relaxed);
            if rc == 2001 {
                Sent::Success
            } else {
                Sent::Ended
            }
        }
        _ => {
            t.timeouts += 1;
            if let Ok(mut p) = conn.pending.lock() {
                p.remove(&hbh);
            }
            Sent::Ended
        }
    }
}
