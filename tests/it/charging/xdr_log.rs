//! The xDR log's files are durable by name too: a `gyro serve` run under
//! strace (Debian's) rotates its xDR file by size while a real socket
//! charges, and every file it creates is followed by an fsync of the
//! directory that names it (without it, a power cut can lose a whole file
//! of acknowledged usage even though its lines were fsynced).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gyro::diameter::Message;

use crate::support::*;

/// Debian's strace; None (skip) only with GYRO_SKIP_PEERS=1.
fn strace() -> Option<PathBuf> {
    let found = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() && std::env::var("GYRO_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("GYRO_SKIP_PEERS=1: skipping a test that needs strace");
        return None;
    }
    Some(found.expect("strace is not installed (apt-get install strace; .ci/run installs it)"))
}

/// The trace's syscalls, one per entry, an unfinished call joined with its
/// resumption (threads interleave).
fn calls(trace: &str) -> Vec<String> {
    let mut pending: HashMap<&str, String> = HashMap::new();
    let mut out = vec![];
    for line in trace.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(tid, head.to_string());
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let tail = tail.split_once("resumed>").map_or("", |(_, t)| t);
            out.push(pending.remove(tid).unwrap_or_default() + tail);
        } else {
            out.push(rest.to_string());
        }
    }
    out
}

/// The fd an `openat` of `path` returned (None: not that path, or failed).
fn opened(call: &str, path: &str) -> Option<i64> {
    if !call.starts_with("openat(") || !call.contains(&format!("\"{path}\"")) {
        return None;
    }
    call.rsplit_once("= ")?
        .1
        .trim()
        .parse()
        .ok()
        .filter(|fd| *fd >= 0)
}

/// The xDR files created, and whether the directory was fsynced after each.
fn creations(calls: &[String], xdr_dir: &Path) -> Vec<(String, bool)> {
    let dir = xdr_dir.display().to_string();
    let mut out: Vec<(String, bool)> = vec![];
    let mut dir_fds = vec![];
    for c in calls {
        if c.starts_with("openat(") && c.contains("O_CREAT") && c.contains(".jsonl\"") {
            let name = c.split('"').nth(1).unwrap_or_default().to_string();
            out.push((name, false));
            dir_fds.clear();
        } else if let Some(fd) = opened(c, &dir) {
            dir_fds.push(fd);
        } else if let Some(last) = out.last_mut() {
            let synced = dir_fds
                .iter()
                .any(|fd| c.starts_with(&format!("fsync({fd})")) && c.ends_with("= 0"));
            last.1 |= synced;
        }
    }
    out
}

fn result(b: &[u8]) -> Option<u32> {
    Message::new(b).and_then(|m| m.result_code())
}

#[test]
fn every_new_xdr_file_is_followed_by_an_fsync_of_its_directory() {
    let Some(strace) = strace() else { return };
    let dir = temp_dir("xdr-dirsync");
    let (port, metrics, api) = (free_port(), free_port(), free_port());
    let more = Sections::default();
    let text = node_config(
        &dir,
        (port, metrics, api),
        "gyro.test.local",
        "",
        "xdr_max_bytes = 1500",
        more,
    );
    std::fs::write(dir.join("gyro.toml"), text).unwrap();
    let trace = dir.join("trace");
    let mut child = Command::new(strace)
        .args(["-f", "-qq", "-e", "trace=openat,fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(dir.join("gyro.toml"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("gyro.log")).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_listening(port, 60), "gyro under strace did not listen");
    let mut p = RawPeer::connect(([127, 0, 0, 1], port).into());
    p.send(&cer("pgw.test.local"));
    assert_eq!(result(&p.recv().unwrap()), Some(2001));
    let i = GyCcr {
        session: "dirsync",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(result(&ask(&mut p, &gy_ccr(&i))), Some(2001));
    for n in 1..=6u32 {
        let u = GyCcr {
            kind: 2,
            number: n,
            e2e: 1 + n,
            used: 100,
            ..i
        };
        assert_eq!(result(&ask(&mut p, &gy_ccr(&u))), Some(2001));
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    // strace's first line is gyro's own pid: stop gyro, strace then ends.
    let gyro_pid = text.split_whitespace().next().unwrap_or_default();
    let _ = Command::new("kill").args(["-9", gyro_pid]).status();
    let _ = child.wait();
    let made = creations(&calls(&text), &dir.join("data/xdr"));
    assert!(made.len() >= 2, "the xDR file rotated: {made:?}");
    for (file, synced) in &made {
        assert!(synced, "{file} created without an fsync of its directory");
    }
}
