//! Durability by group commit. A request's usage, xDRs and events are
//! queued with a sequence number taken in the same step (under the queue's
//! lock, which the caller takes while it holds the account): so the queue is
//! in sequence order, and per account in the order its state changed.
//!
//! The commit thread writes a prefix of the queue as one group: its xDR
//! lines (which carry each account's usage after the request) appended and
//! fsynced, the one durable write per group, then one store batch that the
//! store flushes on its own schedule (`stored`: a failing disk is retried,
//! an item the store can never take is parked). Only then does it raise the
//! watermark to the group's last sequence: the watermark only ever covers a
//! contiguous run, so no answer leaves before its usage is on disk. Each
//! request's answer rides on its first xDR line, durable with its usage.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::sync::watch;

use super::stored::{replay, store_until_done, Unstored, MAX_BACKOFF};
use super::xdr::{day, Xdr, XdrWriter};
use crate::inventory::usage::{FupEvent, UsageGroup};
use crate::inventory::Inventory;
use crate::model::Used;

/// Most commits one group takes.
const MAX_GROUP: usize = 4096;
/// A group smaller than this waits up to `GROUP_LINGER` for more commits.
const GROUP_TARGET: usize = 128;
const GROUP_LINGER: Duration = Duration::from_micros(250);

/// What must be durable before an answer goes out.
#[derive(Debug, Clone)]
pub struct Commit {
    pub account: u64,
    /// The account's usage after this request; None when gyro keeps no
    /// balance for it (proxy mode: the upstream OCS does).
    pub used: Option<Used>,
    pub xdrs: Vec<Xdr>,
    pub fup: Option<FupEvent>,
    /// A new bundle period cleared a crossed fair-usage threshold: the
    /// restore event goes in this commit, in sequence after any throttle.
    pub fup_restore: bool,
}

/// Backpressure: past either bound, new charging is refused with 3004
/// instead of growing memory while the disk stalls.
#[derive(Debug, Clone, Copy)]
pub struct CommitLimits {
    /// Most commits waiting to be written.
    pub max_queue: usize,
    /// Longest a group may take to write before new requests are refused.
    pub stall: Duration,
}

impl Default for CommitLimits {
    fn default() -> Self {
        CommitLimits {
            max_queue: 65_536,
            stall: Duration::from_secs(2),
        }
    }
}

struct Job {
    seq: u64,
    commit: Commit,
}

struct Queue {
    next: u64,
    jobs: VecDeque<Job>,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    queued: AtomicUsize,
    /// When the group being written started, in µs since `epoch`; 0: idle.
    writing_since: AtomicU64,
    epoch: Instant,
    limits: CommitLimits,
    /// Set by `finish`: apply what the store lacks, flush, and stop.
    closing: std::sync::atomic::AtomicBool,
    closed: Condvar,
}

#[derive(Clone)]
pub struct Committer {
    inner: Arc<Inner>,
    durable: watch::Receiver<u64>,
}

impl Committer {
    /// Starts the commit thread, after replaying into the store the xDR
    /// lines it had not made durable before a crash. Sequences continue
    /// from the last one either holds.
    pub fn start(
        inventory: Arc<Inventory>,
        xdr: XdrWriter,
        limits: CommitLimits,
    ) -> Result<Committer, crate::inventory::InventoryError> {
        let last = replay(&inventory, &xdr)?;
        let (dtx, drx) = watch::channel(last);
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue {
                next: last + 1,
                jobs: VecDeque::new(),
            }),
            ready: Condvar::new(),
            queued: AtomicUsize::new(0),
            writing_since: AtomicU64::new(0),
            epoch: Instant::now(),
            limits,
            closing: Default::default(),
            closed: Condvar::new(),
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("gyro-commit".into())
            .spawn(move || run(&worker, &dtx, &inventory, xdr))
            .map_err(|e| crate::inventory::invalid("charging", format!("commit thread: {e}")))?;
        Ok(Committer {
            inner,
            durable: drx,
        })
    }

    /// Whether new usage may be taken on: the queue has room and the disk
    /// is not stalled past the bound.
    pub fn accepting(&self) -> bool {
        let i = &self.inner;
        if i.queued.load(Ordering::Relaxed) >= i.limits.max_queue {
            return false;
        }
        let since = i.writing_since.load(Ordering::Relaxed);
        since == 0
            || (i.epoch.elapsed().as_micros() as u64).saturating_sub(since)
                < i.limits.stall.as_micros() as u64
    }

    /// Queues a commit; returns the sequence number its answer waits for.
    /// Callers hold the account's lock, so per account, sequence order is
    /// the order of its changes.
    pub fn submit(&self, commit: Commit) -> u64 {
        let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
        let seq = q.next;
        q.next += 1;
        q.jobs.push_back(Job { seq, commit });
        self.inner.queued.fetch_add(1, Ordering::Relaxed);
        if q.jobs.len() == 1 {
            self.inner.ready.notify_one();
        }
        seq
    }

    /// Completes once every commit up to `seq` is durable.
    pub async fn durable(&self, seq: u64) -> bool {
        let mut rx = self.durable.clone();
        let ok = rx.wait_for(|d| *d >= seq).await.is_ok();
        ok
    }

    pub fn durable_now(&self) -> u64 {
        *self.durable.borrow()
    }

    /// At shutdown, once no request is in flight: the store takes what
    /// only the xDR log held, durably, so the next start replays nothing.
    pub fn finish(&self, timeout: Duration) {
        let i = &self.inner;
        let q = i.queue.lock().unwrap_or_else(|p| p.into_inner());
        i.closing.store(true, Ordering::Relaxed);
        i.ready.notify_all();
        let _ = i.closed.wait_timeout(q, timeout);
    }

    /// The durable watermark, for drivers that release answers in batches.
    pub fn watermark(&self) -> watch::Receiver<u64> {
        self.durable.clone()
    }
}

/// A group, ready to write: xDR lines per day, and the store's part.
struct Group {
    lines: Vec<(String, Vec<u8>)>,
    usage: UsageGroup,
    size: usize,
}

fn build(jobs: VecDeque<Job>) -> Group {
    let size = jobs.len();
    let mut lines: Vec<(i64, Vec<u8>)> = vec![];
    let mut latest: FxHashMap<u64, Used> = FxHashMap::default();
    let mut usage = UsageGroup::default();
    for mut j in jobs {
        // Jobs are in sequence order: a later one has the later total.
        if let Some(u) = j.commit.used {
            latest.insert(j.commit.account, u);
        }
        if j.commit.fup_restore {
            usage.fup_restores.push(j.commit.account);
        }
        let mut fup = j.commit.fup.take();
        for x in &mut j.commit.xdrs {
            x.seq = j.seq;
            x.used_after = j.commit.used;
            // The log must hold the event too: on the request's first line.
            x.fup = fup.clone();
            usage.fup_events.extend(fup.take());
            // A group's lines nearly always share one UTC day: name the
            // day (a formatted date) only when it changes.
            let n = x.time.div_euclid(86_400);
            let buf = match lines.last_mut() {
                Some((ld, buf)) if *ld == n => buf,
                _ => {
                    lines.push((n, Vec::with_capacity(size * 600)));
                    &mut lines.last_mut().expect("just pushed").1
                }
            };
            super::xdr_json::write(buf, x);
            buf.push(b'\n');
        }
        // Crossing the threshold takes usage, so a line carried it; never
        // drop the event if not.
        usage.fup_events.extend(fup);
        usage.sequence = j.seq;
    }
    usage.balances = latest.into_iter().collect();
    let lines = lines
        .into_iter()
        .map(|(n, b)| (day(n * 86_400), b))
        .collect();
    Group { lines, usage, size }
}

/// The next jobs, or none once `until` passes (or at once when closing).
fn next_group(inner: &Inner, until: Option<Instant>) -> VecDeque<Job> {
    let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
    while q.jobs.is_empty() {
        if inner.closing.load(Ordering::Relaxed) {
            return VecDeque::new();
        }
        match until {
            None => q = inner.ready.wait(q).unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                let left = t.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return VecDeque::new();
                }
                q = inner
                    .ready
                    .wait_timeout(q, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
    // A short wait for company: one fsync then covers more requests, and
    // the disk's cost per request (the dominant one) falls.
    if q.jobs.len() < GROUP_TARGET {
        q = inner
            .ready
            .wait_timeout(q, GROUP_LINGER)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    let n = q.jobs.len().min(MAX_GROUP);
    let jobs: VecDeque<Job> = if n == q.jobs.len() {
        std::mem::take(&mut q.jobs)
    } else {
        q.jobs.drain(..n).collect()
    };
    inner.queued.fetch_sub(n, Ordering::Relaxed);
    jobs
}

impl Inner {
    /// Marks the start (kept if already marked) or the end of a write that
    /// answers wait for, for the stall bound.
    fn busy(&self, on: bool) {
        if !on {
            self.writing_since.store(0, Ordering::Relaxed);
        } else if self.writing_since.load(Ordering::Relaxed) == 0 {
            let now = (self.epoch.elapsed().as_micros() as u64).max(1);
            self.writing_since.store(now, Ordering::Relaxed);
        }
    }
}

/// Test hook: the environment variable naming a Session-Id. The commit
/// thread then kills its process (SIGKILL) right after the xDR log made a
/// group holding that session's usage durable, before the store takes it
/// and before any answer in it leaves: the crash a retransmission after a
/// restart must be answered across, made deterministic for the tests.
pub const KILL_AFTER_DURABLE: &str = "GYRO_TEST_KILL_AFTER_DURABLE";

/// Whether `jobs` hold the session the test hook waits for.
fn hook_hit(hook: Option<&str>, jobs: &VecDeque<Job>) -> bool {
    hook.is_some_and(|sid| {
        jobs.iter()
            .any(|j| j.commit.xdrs.iter().any(|x| x.session_id == sid))
    })
}

fn kill_self() {
    tracing::warn!("{KILL_AFTER_DURABLE}: killing the process after a durable commit");
    // SAFETY: kill(2) on our own pid with a valid signal number.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

fn run(inner: &Inner, durable: &watch::Sender<u64>, inv: &Inventory, mut xdr: XdrWriter) {
    let hook = std::env::var(KILL_AFTER_DURABLE).ok();
    let mut unstored = Unstored::default();
    let failed = || inner.busy(true);
    loop {
        let jobs = next_group(inner, unstored.due());
        if jobs.is_empty() {
            if inner.closing.load(Ordering::Relaxed) {
                store_until_done(&mut unstored, inv, true, &failed);
                inner.closed.notify_all();
                return;
            }
            store_until_done(&mut unstored, inv, false, &failed);
            continue;
        }
        inner.busy(true);
        let die = hook_hit(hook.as_deref(), &jobs);
        let mut group = build(jobs);
        write_until_done(&group, &mut xdr);
        if die {
            kill_self();
        }
        let top = group.usage.sequence;
        unstored.add(std::mem::take(&mut group.usage));
        if unstored.failing || unstored.due().is_some_and(|d| d <= Instant::now()) {
            store_until_done(&mut unstored, inv, false, &failed);
        }
        inner.busy(false);
        // Groups are written in sequence order: `top` only ever rises.
        durable.send_replace(top);
        metrics::histogram!("gyro_charging_commit_group_size").record(group.size as f64);
    }
}

/// Appends the group's xDR lines, retrying what failed (never what
/// succeeded) until all are durable. Answers wait meanwhile: nothing is
/// acknowledged that was not written, and nothing is dropped.
fn write_until_done(g: &Group, xdr: &mut XdrWriter) {
    let mut written = 0;
    let mut backoff = Duration::from_millis(20);
    while let Some((d, buf)) = g.lines.get(written) {
        match xdr.write(d, buf) {
            Ok(()) => written += 1,
            Err(e) => {
                metrics::counter!("gyro_charging_commit_failures_total").increment(1);
                tracing::error!(error = %e, seq = g.usage.sequence, "cannot write xDRs; answers wait, retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests;
