//! The xDR log's files on disk, read back in commit order. A file is named
//! after the UTC day it was started and its number that day, but names do
//! not give the order: a node restarted on an earlier clock (a test clock
//! resumes where it was saved) starts a file under an earlier day, and
//! a log written by an earlier release may hold one day's file after the
//! next day's. So every reader orders files and lines by commit sequence.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Deserialize;

use crate::model::UnixTime;

/// An xDR line read back by its commit sequence.
pub trait Sequenced: serde::de::DeserializeOwned {
    fn seq(&self) -> u64;
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// A file of the log and the commit sequences of its first and last whole
/// lines.
#[derive(Debug, Clone)]
pub(super) struct LogFile {
    pub path: PathBuf,
    pub first: u64,
    pub last: u64,
}

/// The log's file names (`xdr-YYYYMMDD-NNNN.jsonl`), unordered.
fn names(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("xdr-") && n.ends_with(".jsonl"))
        })
        .collect())
}

fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<SeqOnly>(line).ok().map(|s| s.seq)
}

/// How much of a file's end is read to find its last line; a longer last
/// line makes the whole file be read.
const TAIL: u64 = 8 * 1024;

/// The sequences of the first and last whole lines of `path`; None when
/// it holds no whole line.
fn bounds(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = vec![];
    BufReader::new(&mut f).read_until(b'\n', &mut head)?;
    // Only a line that ends with a newline was written whole.
    let first = head.strip_suffix(b"\n").and_then(seq_of);
    let Some(first) = first else {
        return Ok(None);
    };
    let from = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::with_capacity((len - from) as usize);
    f.read_to_end(&mut tail)?;
    // Whole lines end with a newline: a torn last one is not counted.
    let whole = tail.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let last = tail[..whole]
        .rsplit(|&b| b == b'\n')
        .take(if from == 0 { usize::MAX } else { 1 })
        .find_map(seq_of);
    match last {
        Some(last) => Ok(Some((first, last.max(first)))),
        None => {
            // A last line longer than the tail read: read it all.
            let mut last = first;
            for line in BufReader::new(File::open(path)?).split(b'\n') {
                last = seq_of(&line?).unwrap_or(last).max(last);
            }
            Ok(Some((first, last)))
        }
    }
}

/// A file's size and modification time, and its bounds then.
type Known = (u64, Option<SystemTime>, Option<(u64, u64)>);

/// Bounds already read, by file: only the file being written changes, so
/// a reader that comes back (the proxy's journal, every second while it
/// has local answers to send) reads only that one again.
fn known() -> &'static Mutex<HashMap<PathBuf, Known>> {
    static KNOWN: OnceLock<Mutex<HashMap<PathBuf, Known>>> = OnceLock::new();
    KNOWN.get_or_init(Mutex::default)
}

fn cached_bounds(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    let m = std::fs::metadata(path)?;
    let stamp = (m.len(), m.modified().ok());
    let cache = known();
    if let Some(k) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
        if (k.0, k.1) == stamp {
            return Ok(k.2);
        }
    }
    let b = bounds(path)?;
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.insert(path.to_path_buf(), (stamp.0, stamp.1, b));
    Ok(b)
}

/// The log's files that hold whole lines, oldest commit first, and the
/// files that hold none (empty, or only a line a crash tore).
pub(super) fn files(dir: &Path) -> std::io::Result<(Vec<LogFile>, Vec<PathBuf>)> {
    let mut out = vec![];
    let mut empty = vec![];
    let names = names(dir)?;
    let present: HashSet<&PathBuf> = names.iter().collect();
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p, _| p.parent() != Some(dir) || present.contains(p));
    for path in names {
        match cached_bounds(&path)? {
            Some((first, last)) => out.push(LogFile { path, first, last }),
            None => empty.push(path),
        }
    }
    out.sort_by(|a, b| (a.first, &a.path).cmp(&(b.first, &b.path)));
    Ok((out, empty))
}

/// Cuts a last line that has no newline: its write never completed.
pub(super) fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    if data.last().is_some_and(|&b| b != b'\n') {
        let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    Ok(())
}

/// The lines of `path` with `seq > after`, in file order.
fn lines_after<T: Sequenced>(path: &Path, after: u64, out: &mut Vec<T>) -> std::io::Result<()> {
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        // A line still being written (no newline yet) does not parse.
        let Ok(r) = serde_json::from_slice::<T>(&line) else {
            continue;
        };
        if r.seq() > after {
            out.push(r);
        }
    }
    Ok(())
}

/// Every line of the xDR files in `dir` past commit `after`, in commit
/// order (a commit's lines in the order they were written), read while
/// the node writes (nothing is cut).
pub fn read_after<T: Sequenced>(dir: &Path, after: u64) -> std::io::Result<Vec<T>> {
    let (files, _) = files(dir)?;
    let mut out: Vec<T> = vec![];
    for f in files.iter().filter(|f| f.last > after) {
        lines_after(&f.path, after, &mut out)?;
    }
    // Stable: the lines of one commit keep their order.
    out.sort_by_key(|r| r.seq());
    Ok(out)
}

/// An answer the log kept with its request's first xDR line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub seq: u64,
    pub time: UnixTime,
    pub session_id: String,
    pub request_number: u32,
    pub end_to_end: u32,
    pub answer: Bytes,
}

#[derive(Deserialize)]
struct AnsweredLine<'a> {
    seq: u64,
    time: UnixTime,
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    request_number: u32,
    end_to_end: u32,
    #[serde(default, borrow)]
    answer: Option<&'a str>,
}

/// The answers of the requests committed at or after `since` (node time),
/// oldest commit first. Files are read newest first, and reading stops at
/// a file that starts before `since`: commits are in time order but for a
/// request or two rated across a clock tick.
pub fn answered_since(dir: &Path, since: UnixTime) -> std::io::Result<Vec<Answered>> {
    use base64::Engine as _;
    let (files, _) = files(dir)?;
    let mut out = vec![];
    for f in files.iter().rev() {
        let mut started_before = false;
        for (i, line) in BufReader::new(File::open(&f.path)?)
            .split(b'\n')
            .enumerate()
        {
            let line = line?;
            let Ok(l) = serde_json::from_slice::<AnsweredLine<'_>>(&line) else {
                continue;
            };
            if i == 0 && l.time < since {
                started_before = true;
            }
            let Some(a) = l.answer.filter(|_| l.time >= since) else {
                continue;
            };
            let Ok(answer) = base64::engine::general_purpose::STANDARD.decode(a) else {
                tracing::warn!(seq = l.seq, file = %f.path.display(), "xDR line with an answer that is not base64; passed over");
                continue;
            };
            out.push(Answered {
                seq: l.seq,
                time: l.time,
                session_id: l.session_id.into_owned(),
                request_number: l.request_number,
                end_to_end: l.end_to_end,
                answer: answer.into(),
            });
        }
        if started_before {
            break;
        }
    }
    out.sort_by_key(|a| a.seq);
    Ok(out)
}
