//! xDRs: one JSON line per rated Used-Service-Unit (or direct debit), in
//! files rotated by size and by UTC day. They are charging's durable log:
//! each line carries its commit sequence and the account's usage after it,
//! and is fsynced before any answer it covers leaves. The store is updated
//! from them and flushed on its own schedule; a start after a crash replays
//! the lines the store had not yet made durable, so xDRs and balances agree.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rust_decimal::Decimal;
use serde::Serialize;

use super::xdr_files;
pub use super::xdr_files::{answered_since, read_after, Answered, Sequenced};
use crate::inventory::usage::FupEvent;
use crate::model::{UnixTime, Used};

/// The `mode` of xDRs written while a proxy answers locally (no upstream
/// answers); the journal replays these to the upstream OCS later.
pub const LOCAL: &str = "local";

/// One record per rated Used-Service-Unit (or direct debit).
#[derive(Debug, Clone, Serialize)]
pub struct Xdr {
    /// The charging commit this usage is part of; stamped by the committer.
    pub seq: u64,
    pub time: UnixTime,
    pub session_id: String,
    pub request_type: &'static str,
    /// An EVENT's Requested-Action: DIRECT_DEBITING or REFUND_ACCOUNT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_action: Option<&'static str>,
    /// With `session_id`, the request key: unique per charged request.
    pub request_number: u32,
    /// The request's End-to-End Identifier, for mediation to de-duplicate.
    pub end_to_end: u32,
    pub account: u64,
    pub iccid: String,
    pub imsi: String,
    pub sponsor: String,
    pub rate_code: String,
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_reason: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tariff_change_usage: Option<i32>,
    pub octets_up: u64,
    pub octets_down: u64,
    pub seconds: u64,
    pub allowance_consumed: u64,
    /// Units a REFUND_ACCOUNT gave back to the bundle.
    pub allowance_refunded: u64,
    pub allowance: &'static str,
    pub cost: Option<Decimal>,
    pub cost_currency: Option<String>,
    pub cost_reporting: Option<Decimal>,
    pub reporting_currency: String,
    /// The account's usage after this request; stamped by the committer.
    /// None in proxy mode, where the upstream OCS keeps the balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_after: Option<Used>,
    /// On the line of the request that crossed the fair-usage threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fup: Option<FupEvent>,
    /// "proxy" when an upstream OCS rated the request (absent: gyro did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// The upstream that answered, and its Result-Code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_result: Option<u32>,
    /// On a request's first line: the answer it got, as sent (base64 of
    /// the Diameter message), so that a retransmission after a restart
    /// gets it again instead of a second charge.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "answer_base64"
    )]
    pub answer: Option<Bytes>,
}

fn answer_base64<S: serde::Serializer>(a: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    match a {
        Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        None => s.serialize_none(),
    }
}

/// What a start replays from an xDR line the store may not have.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Replay {
    pub seq: u64,
    pub account: u64,
    #[serde(default)]
    pub used_after: Option<Used>,
    #[serde(default)]
    pub fup: Option<FupEvent>,
}

impl Sequenced for Replay {
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// `YYYYMMDD` of a Unix time, UTC.
pub fn day(unix: i64) -> String {
    crate::model::rfc3339(unix)[..10].replace('-', "")
}

/// Appends to the xDR log: a new file each UTC day and when one reaches
/// `max_bytes`. A file and the directory entry that names it are made
/// durable before any line in it is acknowledged. Lines only ever go to
/// the newest file, so each file holds a run of commits: a line rated just
/// before midnight and committed after the next day's file started joins
/// that file, and a restart on an earlier clock starts a new file rather
/// than append to an old one.
pub struct XdrWriter {
    dir: PathBuf,
    max_bytes: u64,
    file: Option<Current>,
    /// The file written last (or, at start, the one holding the latest
    /// commit) and its day: where the next lines go when they fit.
    newest: Option<(PathBuf, String)>,
}

struct Current {
    day: String,
    file: File,
    len: u64,
}

/// The day a file of the log was started, from its name.
fn day_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    Some(name.get(4..12)?.to_string())
}

/// Makes `dir`'s entries (a file created in it) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl XdrWriter {
    pub fn new(dir: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let newest = xdr_files::files(&dir)?
            .0
            .into_iter()
            .max_by_key(|f| f.last)
            .and_then(|f| Some((f.path.clone(), day_of(&f.path)?)));
        Ok(XdrWriter {
            dir,
            max_bytes,
            file: None,
            newest,
        })
    }

    /// Opens where `need` more octets of `day` go: the newest file when it
    /// is of that day and has room, else the next file of that day that
    /// is new (or empty).
    fn open(&mut self, day: &str, need: u64) -> std::io::Result<Current> {
        for n in 0u32.. {
            let path = self.dir.join(format!("xdr-{day}-{n:04}.jsonl"));
            let newest = self.newest.as_ref().is_some_and(|(p, _)| *p == path);
            let len = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            if len > 0 && !(newest && len + need <= self.max_bytes) {
                continue;
            }
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            if len == 0 {
                // A crash must not lose the file its acknowledged lines are in.
                file.sync_all()?;
                sync_dir(&self.dir)?;
            }
            self.newest = Some((path, day.to_string()));
            return Ok(Current {
                day: day.to_string(),
                file,
                len,
            });
        }
        unreachable!("a day has a free file number")
    }

    /// Appends the lines and makes them durable. On failure the file is cut
    /// back to where it was, so that a retry writes each line once.
    pub fn write(&mut self, day: &str, lines: &[u8]) -> std::io::Result<()> {
        // Never back to an earlier day's file: see the type.
        let day = match &self.newest {
            Some((_, d)) if d.as_str() > day => d.clone(),
            _ => day.to_string(),
        };
        let need = lines.len() as u64;
        let fits = |c: &Current| c.day == day && (c.len == 0 || c.len + need <= self.max_bytes);
        if !self.file.as_ref().is_some_and(fits) {
            self.file = None;
            self.file = Some(self.open(&day, need)?);
        }
        let Some(c) = self.file.as_mut() else {
            return Ok(());
        };
        let res = c.file.write_all(lines).and_then(|()| c.file.sync_data());
        match res {
            Ok(()) => {
                c.len += need;
                Ok(())
            }
            Err(e) => {
                let _ = c.file.set_len(c.len);
                // Reopen on the next write: the handle may be unusable.
                self.file = None;
                Err(e)
            }
        }
    }

    /// The lines past `durable` (the store's last applied sequence), in
    /// commit order, to replay into the store. A torn last line (a crash
    /// mid-write, never acknowledged) is cut off first.
    pub fn replay_after(&self, durable: u64) -> std::io::Result<Vec<Replay>> {
        let (files, empty) = xdr_files::files(&self.dir)?;
        let latest = [
            files.iter().max_by_key(|f| f.first),
            files.iter().max_by_key(|f| f.last),
        ];
        for p in empty
            .iter()
            .chain(latest.into_iter().flatten().map(|f| &f.path))
        {
            xdr_files::cut_torn_tail(p)?;
        }
        read_after(&self.dir, durable)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_takes_the_lines_past_the_store_and_cuts_a_torn_one() {
        let dir = std::env::temp_dir().join(format!("gyro-xdr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
        let line = |seq: u64, used: u64| {
            format!("{{\"seq\":{seq},\"account\":7,\"used_after\":{{\"data_octets\":{used},\"voice_seconds\":0,\"sms\":0,\"fup_crossed\":false}}}}\n")
        };
        let text = [line(1, 10), line(2, 30), line(3, 60)].concat();
        w.write("20261130", text.as_bytes()).unwrap();
        w.write(
            "20261201",
            format!("{}{{\"seq\":5,\"acc", line(4, 100)).as_bytes(),
        )
        .unwrap();
        let r = w.replay_after(2).unwrap();
        let seen: Vec<(u64, u64)> = r
            .iter()
            .map(|r| (r.seq, r.used_after.map_or(0, |u| u.data_octets)))
            .collect();
        assert_eq!(seen, [(3, 60), (4, 100)]);
        let tail = std::fs::read_to_string(dir.join("xdr-20261201-0000.jsonl")).unwrap();
        assert_eq!(tail, line(4, 100), "the torn line is gone");
        assert!(w.replay_after(4).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn line(seq: u64, used: u64) -> String {
        format!("{{\"seq\":{seq},\"account\":7,\"used_after\":{{\"data_octets\":{used},\"voice_seconds\":0,\"sms\":0,\"fup_crossed\":false}}}}\n")
    }

    fn replayed(w: &XdrWriter, after: u64) -> Vec<(u64, u64)> {
        w.replay_after(after)
            .unwrap()
            .iter()
            .map(|r| (r.seq, r.used_after.map_or(0, |u| u.data_octets)))
            .collect()
    }

    /// A log where one day's file got a commit after the next day's file
    /// started (an earlier release, a clock that went back) is replayed
    /// in commit order, not in name order.
    #[test]
    fn replay_goes_by_sequence_across_files() {
        let dir = std::env::temp_dir().join(format!("gyro-xdr-seq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("xdr-20261231-0000.jsonl", line(1, 10) + &line(3, 30));
        write("xdr-20270101-0000.jsonl", line(2, 20));
        let w = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
        assert_eq!(replayed(&w, 0), [(1, 10), (2, 20), (3, 30)]);
        assert_eq!(replayed(&w, 2), [(3, 30)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Lines never go back to an earlier day's file: a late line joins the
    /// newest file, and a writer restarted on an earlier clock starts a
    /// new file after the newest one.
    #[test]
    fn lines_only_go_to_the_newest_file() {
        let dir = std::env::temp_dir().join(format!("gyro-xdr-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
        w.write("20261231", line(1, 10).as_bytes()).unwrap();
        w.write("20270101", line(2, 20).as_bytes()).unwrap();
        w.write("20261231", line(3, 30).as_bytes()).unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("xdr-20261231-0000.jsonl"), line(1, 10));
        assert_eq!(read("xdr-20270101-0000.jsonl"), line(2, 20) + &line(3, 30));
        drop(w);
        let mut w = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
        w.write("20261231", line(4, 40).as_bytes()).unwrap();
        assert_eq!(
            read("xdr-20270101-0000.jsonl"),
            line(2, 20) + &line(3, 30) + &line(4, 40)
        );
        let mut w = XdrWriter::new(dir.clone(), 1).unwrap();
        w.write("20261231", line(5, 50).as_bytes()).unwrap();
        assert_eq!(
            read("xdr-20270101-0001.jsonl"),
            line(5, 50),
            "a full file is not reopened"
        );
        assert_eq!(replayed(&w, 3), [(4, 40), (5, 50)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
