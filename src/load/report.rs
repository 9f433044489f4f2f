//! What the load measured: answers by result code, timeouts and latencies,
//! printed as two lines and written as a JSON summary.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context};

use super::session::Run;

#[derive(Default)]
pub(super) struct Tally {
    latencies_us: Vec<u32>,
    results: HashMap<u32, u64>,
    pub timeouts: u64,
}

impl Tally {
    pub fn answer(&mut self, rc: u32, latency: Duration) {
        self.latencies_us
            .push(latency.as_micros().min(u32::MAX as u128) as u32);
        *self.results.entry(rc).or_default() += 1;
    }

    pub fn add(&mut self, t: Tally) {
        self.latencies_us.extend(t.latencies_us);
        for (k, v) in t.results {
            *self.results.entry(k).or_default() += v;
        }
        self.timeouts += t.timeouts;
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Prints the run's figures, writes `--json`, and fails the run unless every
/// request was answered with 2001.
pub(super) fn report(run: &Run, mut all: Tally) -> anyhow::Result<()> {
    let args = &run.args;
    let elapsed = run.started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let n = all.latencies_us.len() as u64;
    let l = &all.latencies_us;
    let summary = serde_json::json!({
        "target": args.target.to_string(),
        "connections": args.connections,
        "concurrency": args.concurrency,
        "sessions": run.next_session.load(Ordering::Relaxed).min(if args.sessions > 0 { args.sessions } else { u64::MAX }),
        "updates_per_session": args.updates,
        "rate_limit": args.rate,
        "elapsed_s": elapsed,
        "answers": n,
        "throughput_per_s": n as f64 / elapsed,
        "timeouts": all.timeouts,
        "result_codes": all.results.iter().map(|(k, v)| (k.to_string(), *v)).collect::<HashMap<_, _>>(),
        "latency_ms": { "p50": percentile(l, 0.50), "p90": percentile(l, 0.90), "p99": percentile(l, 0.99), "p99.9": percentile(l, 0.999), "max": l.last().map_or(0.0, |v| *v as f64 / 1000.0) },
    });
    println!(
        "load: {n} CCR/CCA in {elapsed:.2} s = {:.0} req/s; result codes {:?}; timeouts {}",
        n as f64 / elapsed,
        all.results,
        all.timeouts
    );
    println!(
        "load: latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3}",
        percentile(l, 0.5),
        percentile(l, 0.9),
        percentile(l, 0.99),
        percentile(l, 0.999)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("--json: cannot write {}", path.display()))?;
    }
    if all.timeouts > 0 || all.results.keys().any(|k| *k != 2001) {
        bail!("not every request was answered with 2001");
    }
    Ok(())
}
