//! xDRs: one JSON line per rated Used-Service-Unit, in files rotated by
//! size and by UTC day. Every line carries the charging commit sequence it
//! belongs to, so that a start after a crash can cut off lines whose usage
//! never reached the store: xDRs and balances always agree.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::UnixTime;

/// One record per rated Used-Service-Unit (or direct debit).
#[derive(Debug, Clone, Serialize)]
pub struct Xdr {
    /// The charging commit this usage is part of; stamped by the committer.
    pub seq: u64,
    pub time: UnixTime,
    pub session_id: String,
    pub request_type: &'static str,
    /// With `session_id`, the request key: unique per charged request.
    pub request_number: u32,
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
    pub allowance: &'static str,
    pub cost: Option<Decimal>,
    pub cost_currency: Option<String>,
    pub cost_reporting: Option<Decimal>,
    pub reporting_currency: String,
}

/// `YYYYMMDD` of a Unix time, UTC.
pub fn day(unix: i64) -> String {
    crate::diameter::dump::rfc3339(unix)[..10].replace('-', "")
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

    /// Cuts off, in the newest files, every line whose `seq` is past
    /// `durable`: its usage was written here but not to the store before a
    /// crash, and will not be acknowledged. Returns the lines removed.
    pub fn recover(&self, durable: u64) -> std::io::Result<usize> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("xdr-") && n.ends_with(".jsonl"))
            })
            .collect();
        files.sort();
        let mut removed = 0;
        // One group may span a day boundary, so two files at most hold it.
        for path in files.iter().rev().take(2) {
            removed += cut_after(path, durable)?;
        }
        Ok(removed)
    }
}

/// Truncates `path` after its last line with `seq <= durable` (lines are in
/// sequence order). A torn last line counts as undurable.
fn cut_after(path: &Path, durable: u64) -> std::io::Result<usize> {
    let mut keep = 0u64;
    let mut pos = 0u64;
    let mut cut = 0;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        pos += line.len() as u64 + 1;
        match line_seq(&line) {
            Some(s) if s <= durable => {
                keep = pos;
                cut = 0;
            }
            _ => cut += 1,
        }
    }
    let len = std::fs::metadata(path)?.len();
    if keep < len {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(keep)?;
        f.sync_all()?;
    }
    Ok(cut)
}

fn line_seq(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_cuts_lines_past_the_durable_sequence_and_torn_lines() {
        let dir = std::env::temp_dir().join(format!("gyro-xdr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = XdrWriter::new(dir.clone(), 1 << 20).unwrap();
        let lines = b"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n{\"seq\":4,\"ti";
        w.write("20261201", lines).unwrap();
        assert_eq!(w.recover(2).unwrap(), 2);
        let text = std::fs::read_to_string(dir.join("xdr-20261201-0000.jsonl")).unwrap();
        assert_eq!(text, "{\"seq\":1}\n{\"seq\":2}\n");
        assert_eq!(w.recover(2).unwrap(), 0, "nothing more to cut");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
