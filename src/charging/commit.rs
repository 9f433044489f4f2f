//! Durability by group commit. A request's usage, xDRs and events are
//! queued with a sequence number taken in the same step (under the queue's
//! lock, which the caller takes while it holds the account): so the queue is
//! in sequence order, and per account in the order its state changed. The
//! commit thread writes a prefix of the queue as one group (xDRs fsynced,
//! then one store batch), retries a failing group until it is written, and
//! only then raises the durable watermark to the group's last sequence:
//! the watermark only ever covers a contiguous run, so no answer leaves
//! before its usage is on disk.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::xdr::{day, Xdr, XdrWriter};
use crate::inventory::usage::{FupEvent, UsageGroup};
use crate::inventory::Inventory;
use crate::model::Used;

/// Most commits one group takes.
const MAX_GROUP: usize = 4096;
/// Longest wait between two tries of a failing group.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What must be durable before an answer goes out.
#[derive(Debug, Clone)]
pub struct Commit {
    pub account: u64,
    /// The account's usage after this request.
    pub used: Used,
    pub xdrs: Vec<Xdr>,
    pub fup: Option<FupEvent>,
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
}

#[derive(Clone)]
pub struct Committer {
    inner: Arc<Inner>,
    durable: watch::Receiver<u64>,
}

impl Committer {
    /// Starts the commit thread. Sequences continue from the store's last
    /// one, and xDR lines past it (a crash between the xDR fsync and the
    /// store commit) are cut off first.
    pub fn start(
        inventory: Arc<Inventory>,
        xdr: XdrWriter,
        limits: CommitLimits,
    ) -> Result<Committer, crate::inventory::InventoryError> {
        let last = inventory.charging_sequence()?;
        match xdr.recover(last) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(lines = n, "xDR lines of an unfinished commit removed"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the xDR files for an unfinished commit")
            }
        }
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
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("gyro-commit".into())
            .spawn(move || run(&worker, &dtx, &inventory, xdr))
            .map_err(|e| {
                crate::inventory::ops::invalid("charging", format!("commit thread: {e}"))
            })?;
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
    let mut lines: Vec<(String, Vec<u8>)> = vec![];
    let mut latest: HashMap<u64, Used> = HashMap::new();
    let mut usage = UsageGroup::default();
    for mut j in jobs {
        // Jobs are in sequence order: a later one has the later total.
        latest.insert(j.commit.account, j.commit.used);
        for x in &mut j.commit.xdrs {
            x.seq = j.seq;
            let d = day(x.time);
            let buf = match lines.last_mut() {
                Some((ld, buf)) if *ld == d => buf,
                _ => {
                    lines.push((d, Vec::with_capacity(512)));
                    &mut lines.last_mut().expect("just pushed").1
                }
            };
            // Plain data: serialising to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, x);
            buf.push(b'\n');
        }
        usage.fup_events.extend(j.commit.fup.take());
        usage.sequence = j.seq;
    }
    usage.balances = latest.into_iter().collect();
    Group { lines, usage, size }
}

fn next_group(inner: &Inner) -> VecDeque<Job> {
    let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
    while q.jobs.is_empty() {
        q = inner.ready.wait(q).unwrap_or_else(|p| p.into_inner());
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

fn run(inner: &Inner, durable: &watch::Sender<u64>, inv: &Inventory, mut xdr: XdrWriter) {
    loop {
        let jobs = next_group(inner);
        inner.writing_since.store(
            (inner.epoch.elapsed().as_micros() as u64).max(1),
            Ordering::Relaxed,
        );
        let group = build(jobs);
        write_until_done(&group, inv, &mut xdr);
        inner.writing_since.store(0, Ordering::Relaxed);
        durable.send_replace(group.usage.sequence);
        metrics::histogram!("gyro_charging_commit_group_size").record(group.size as f64);
    }
}

/// Writes the group, retrying what failed (never what succeeded) until all
/// of it is durable. Answers wait meanwhile: nothing is acknowledged that
/// was not written, and nothing is dropped.
fn write_until_done(g: &Group, inv: &Inventory, xdr: &mut XdrWriter) {
    let mut written = 0;
    let mut backoff = Duration::from_millis(20);
    loop {
        let failure = loop {
            let Some((d, buf)) = g.lines.get(written) else {
                break None;
            };
            match xdr.write(d, buf) {
                Ok(()) => written += 1,
                Err(e) => break Some(format!("xDR file: {e}")),
            }
        };
        let failure = failure.or_else(|| inv.commit_usage(&g.usage).err().map(|e| e.to_string()));
        let Some(why) = failure else { return };
        metrics::counter!("gyro_charging_commit_failures_total").increment(1);
        tracing::error!(error = %why, seq = g.usage.sequence, "cannot make usage durable; answers wait, retrying");
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
