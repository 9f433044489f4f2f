//! xDRs: one JSON line per rated Used-Service-Unit (or direct debit), in
//! files rotated by size and by UTC day. They are charging's durable log:
//! each line carries its commit sequence and the account's usage after it,
//! and is fsynced before any answer it covers leaves. The store is updated
//! from them and flushed on its own schedule; a start after a crash replays
//! the lines the store had not yet made durable, so xDRs and balances agree.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Serialize;

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

/// `YYYYMMDD` of a Unix time, UTC.
pub fn day(unix: i64) -> String {
    crate::model::rfc3339(unix)[..10].replace('-', "")
}

/// Rotates xDR files by size and by UTC day.
pub struct XdrWriter {
    dir: PathBuf,
    max_bytes: u64,
    file: Option<Current>,
}

struct Current {
    day: String,
    n: u32,
    file: File,
    len: u64,
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

    fn open(&self, day: &str, mut n: u32) -> std::io::Result<Current> {
        loop {
            let path = self.dir.join(format!("xdr-{day}-{n:04}.jsonl"));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            let len = file.metadata()?.len();
            if len < self.max_bytes {
                return Ok(Current {
                    day: day.to_string(),
                    n,
                    file,
                    len,
                });
            }
            n += 1;
        }
    }

    /// Appends the lines and makes them durable. On failure the file is cut
    /// back to where it was, so that a retry writes each line once.
    pub fn write(&mut self, day: &str, lines: &[u8]) -> std::io::Result<()> {
        let rotate = match &self.file {
            Some(c) => c.day != day || c.len + lines.len() as u64 > self.max_bytes,
            None => true,
        };
        if rotate {
            let next = match &self.file {
                Some(c) if c.day == day => c.n + 1,
                _ => 0,
            };
            self.file = Some(self.open(day, next)?);
        }
        let Some(c) = self.file.as_mut() else {
            return Ok(());
        };
        let res = c.file.write_all(lines).and_then(|()| c.file.sync_data());
        match res {
            Ok(()) => {
                c.len += lines.len() as u64;
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

    /// The lines past `durable` (the store's last applied sequence), oldest
    /// first, to replay into the store. A torn last line (a crash mid-write,
    /// never acknowledged) is cut off first.
    pub fn replay_after(&self, durable: u64) -> std::io::Result<Vec<Replay>> {
        if let Some(newest) = xdr_files(&self.dir)?.last() {
            cut_torn_tail(newest)?;
        }
        // Newest first, until a file starts at or before `durable`.
        read_after(&self.dir, durable)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Cuts a last line that has no newline: its write never completed.
fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    if data.last().is_some_and(|&b| b != b'\n') {
        let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    Ok(())
}

/// The lines of `path` with `seq > durable`, and whether its first line is
/// at or before `durable` (then older files hold nothing newer).
fn lines_after<T: Sequenced>(path: &Path, durable: u64) -> std::io::Result<(Vec<T>, bool)> {
    let mut out = vec![];
    let mut first = None;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        // A line still being written (no newline yet) does not parse.
        let Ok(r) = serde_json::from_slice::<T>(&line) else {
            continue;
        };
        first.get_or_insert(r.seq());
        if r.seq() > durable {
            out.push(r);
        }
    }
    Ok((out, first.is_some_and(|s| s <= durable)))
}

/// An xDR line read back by its commit sequence.
pub trait Sequenced: serde::de::DeserializeOwned {
    fn seq(&self) -> u64;
}

impl Sequenced for Replay {
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// The xDR files of `dir`, oldest first.
fn xdr_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xdr-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Every line of the xDR files in `dir` past commit `after`, oldest first,
/// read while the node writes (nothing is cut).
pub fn read_after<T: Sequenced>(dir: &Path, after: u64) -> std::io::Result<Vec<T>> {
    let mut out = vec![];
    for path in xdr_files(dir)?.iter().rev() {
        let (lines, starts_before) = lines_after::<T>(path, after)?;
        out.splice(0..0, lines);
        if starts_before {
            break;
        }
    }
    Ok(out)
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
}
