//! Durability by group commit: usage, xDRs and outbox events from many
//! requests are written together, with one store flush and one xDR fsync per
//! group; each request's answer waits until its group is durable.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use tokio::sync::watch;

use super::engine::{Commit, FupEvent};
use crate::inventory::store::WriteBatch;
use crate::inventory::Inventory;

/// Most commits one group takes.
const MAX_GROUP: usize = 4096;

/// Rotates xDR files by size and by UTC day.
pub struct XdrWriter {
    dir: PathBuf,
    max_bytes: u64,
    file: Option<(String, u32, File, u64)>,
}

impl XdrWriter {
    pub fn new(dir: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(XdrWriter {
            dir,
            max_bytes,
            file: None,
        })
    }

    fn open(&self, day: &str, mut n: u32) -> std::io::Result<(u32, File, u64)> {
        loop {
            let path = self.dir.join(format!("xdr-{day}-{n:04}.jsonl"));
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            let len = f.metadata()?.len();
            if len < self.max_bytes {
                return Ok((n, f, len));
            }
            n += 1;
        }
    }

    /// Appends the lines and makes them durable.
    pub fn write(&mut self, day: &str, lines: &[u8]) -> std::io::Result<()> {
        let rotate = match &self.file {
            Some((d, _, _, len)) => d != day || *len + lines.len() as u64 > self.max_bytes,
            None => true,
        };
        if rotate {
            let next = match &self.file {
                Some((d, n, _, _)) if d == day => n + 1,
                _ => 0,
            };
            let (n, f, len) = self.open(day, next)?;
            self.file = Some((day.to_string(), n, f, len));
        }
        if let Some((_, _, f, len)) = self.file.as_mut() {
            f.write_all(lines)?;
            f.sync_data()?;
            *len += lines.len() as u64;
        }
        Ok(())
    }
}

struct Job {
    seq: u64,
    commit: Commit,
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    next: Arc<AtomicU64>,
    durable: watch::Receiver<u64>,
}

impl Committer {
    /// Starts the writer thread.
    pub fn start(inventory: Arc<Inventory>, xdr: XdrWriter) -> Committer {
        let (tx, rx) = mpsc::channel::<Job>();
        let (dtx, drx) = watch::channel(0u64);
        std::thread::Builder::new()
            .name("gyro-commit".into())
            .spawn(move || run(rx, dtx, inventory, xdr))
            .expect("spawn the commit thread");
        Committer {
            tx,
            next: Arc::new(AtomicU64::new(1)),
            durable: drx,
        }
    }

    /// Queues a commit; returns the sequence number to wait for.
    pub fn submit(&self, commit: Commit) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::AcqRel);
        // If the thread is gone, waiting on `seq` never completes: nothing
        // is acknowledged that was not written.
        let _ = self.tx.send(Job { seq, commit });
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
}

fn day(unix: i64) -> String {
    crate::diameter::dump::rfc3339(unix)[..10].replace('-', "")
}

fn run(
    rx: mpsc::Receiver<Job>,
    durable: watch::Sender<u64>,
    inv: Arc<Inventory>,
    mut xdr: XdrWriter,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let top = jobs.iter().map(|j| j.seq).max().unwrap_or(0);
        let mut batch = WriteBatch::default();
        let mut lines: Vec<(String, Vec<u8>)> = vec![];
        // Later jobs carry later totals for the same account: the last one wins.
        let mut last: std::collections::HashMap<u64, &Commit> = std::collections::HashMap::new();
        for j in &jobs {
            last.insert(j.commit.account, &j.commit);
            for x in &j.commit.xdrs {
                let d = day(x.time);
                let mut line = serde_json::to_vec(x).unwrap_or_default();
                line.push(b'\n');
                match lines.last_mut() {
                    Some((ld, buf)) if *ld == d => buf.extend(line),
                    _ => lines.push((d, line)),
                }
            }
            if let Some(e) = &j.commit.fup {
                outbox_event(&inv, &mut batch, e);
            }
        }
        for (account, c) in last {
            batch.put(format!("balance/{account:020}"), &c.used);
        }
        let mut ok = true;
        for (d, buf) in &lines {
            if let Err(e) = xdr.write(d, buf) {
                tracing::error!(error = %e, "cannot write xDRs; answers wait");
                ok = false;
            }
        }
        if let Err(e) = inv.store().commit(batch) {
            tracing::error!(error = %e, "cannot persist usage; answers wait");
            ok = false;
        }
        if ok {
            durable.send_replace(top);
        } else {
            // Retry the same group shortly rather than acknowledge it.
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        metrics::histogram!("gyro_charging_commit_group_size").record(jobs.len() as f64);
    }
}

/// The fair-usage event names every IMSI of the profile, for the
/// provisioning system to throttle them all.
fn outbox_event(inv: &Inventory, b: &mut WriteBatch, e: &FupEvent) {
    let imsis: Vec<serde_json::Value> = inv
        .profile(&e.iccid)
        .ok()
        .flatten()
        .map(|p| {
            p.imsis
                .iter()
                .map(|i| {
                    let sponsor = inv
                        .imsi(i)
                        .ok()
                        .flatten()
                        .map(|r| r.sponsor)
                        .unwrap_or_default();
                    serde_json::json!({"imsi": i, "sponsor": sponsor})
                })
                .collect()
        })
        .unwrap_or_default();
    let id = inv.store().next_id().unwrap_or(0);
    b.put(
        format!("outbox/{id:020}"),
        &serde_json::json!({
            "kind": "fup-threshold-crossed", "action": "throttle", "account": e.account, "iccid": e.iccid,
            "at": e.at, "used_octets": e.used_octets, "threshold_octets": e.threshold_octets, "imsis": imsis,
        }),
    );
}

/// Durable usage of every account, as stored.
pub fn load_balances(inv: &Inventory) -> Vec<(u64, super::balance::Used)> {
    let mut out = vec![];
    for r in inv.store().scan_raw(b"balance/") {
        let Ok((k, v)) = r else { continue };
        let key = String::from_utf8_lossy(&k).to_string();
        let (Some(id), Ok(used)) = (
            key.strip_prefix("balance/").and_then(|s| s.parse().ok()),
            crate::inventory::store::decode(&k, &v),
        ) else {
            continue;
        };
        out.push((id, used));
    }
    out
}
