//! `gyro load`: a Gy load generator. N connections, M concurrent sessions of
//! CCR-I, K CCR-U and CCR-T with realistic AVPs and the seed's subscribers
//! (home, roaming on a sponsor's IMSI, translated through a sponsor's proxy),
//! at a fixed rate or as fast as the server answers; prints throughput,
//! result codes and latency percentiles, and writes a JSON summary.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

mod args;
mod conn;
mod messages;
mod report;
mod session;

pub use args::LoadArgs;
use conn::{connect, Conn};
use report::Tally;
use session::Run;

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    args.check()?;
    let conns = connect_all(&args).await?;
    // Some stacks (OTP diameter) drop requests that arrive while they are
    // still bringing the peer up after the CEA: give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seed = crate::model::clock::wall_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let run = Arc::new(Run {
        id: std::process::id(),
        started: Instant::now(),
        next_session: AtomicU64::new(0),
        next_e2e: AtomicU32::new((seed & 0xfff) << 20),
        answered: AtomicU64::new(0),
        pacer: (args.rate > 0).then(|| Arc::new(Semaphore::new(0))),
        args,
    });
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(sem) = run.pacer.clone() {
        tokio::spawn(pace(sem, run.args.rate, stop.clone()));
    }
    tokio::spawn(progress(run.clone(), stop.clone()));
    let workers: Vec<_> = (0..run.args.concurrency)
        .map(|w| tokio::spawn(session::worker(run.clone(), conns[w % conns.len()].clone())))
        .collect();
    let mut all = Tally::default();
    for w in workers {
        all.add(w.await?);
    }
    stop.store(true, Ordering::Relaxed);
    report::report(&run, all)
}

/// Each connection is its own peer (servers such as freeDiameter refuse a
/// second connection from one Diameter identity); the third poses as
/// Partner X's proxy, which the resolver knows by name.
async fn connect_all(args: &LoadArgs) -> anyhow::Result<Vec<Arc<Conn>>> {
    let mut conns = vec![];
    for n in 0..args.connections {
        let (origin, role) = if n == 2 {
            ("gy.partner-x.example".to_string(), "gy.partner-x.example")
        } else if n == 0 {
            ("pgw.test.local".to_string(), "pgw.test.local")
        } else {
            (format!("pgw{n}.test.local"), "pgw.test.local")
        };
        conns.push(connect(args.target, origin, role, n).await?);
    }
    Ok(conns)
}

/// Adds `rate` permits a second, a millisecond at a time, until stopped.
async fn pace(sem: Arc<Semaphore>, rate: u64, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut credit = 0f64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        credit += rate as f64 / 1000.0;
        let whole = credit.floor();
        credit -= whole;
        // Cap the backlog at 100 ms of requests so a stall is not followed by a burst.
        if sem.available_permits() < (rate as usize / 10).max(1) {
            sem.add_permits(whole as usize);
        }
    }
}

/// Prints the answers of every second on stderr until stopped.
async fn progress(run: Arc<Run>, stop: Arc<AtomicBool>) {
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let now = run.answered.load(Ordering::Relaxed);
        eprintln!(
            "load: {:>6.1} s  {now:>10} answers  {:>8} req/s",
            run.started.elapsed().as_secs_f64(),
            now - last
        );
        last = now;
    }
}
