//! Running a third-party daemon for a test (tests/it/support/webhook.rs,
//! tests/it/support/sshd.rs): its output appended to a log file, and the wait
//! until it is this daemon, not another process, that listens on the port.

use std::fs::OpenOptions;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with stdout and stderr appended to `log_path` and waits until
/// it has logged `ready` (in this run) and `port` accepts: the child once
/// up, None when it exited first (the port was taken). Panics with the log
/// after 10 s.
pub fn spawn_logged(
    name: &str,
    cmd: &mut Command,
    log_path: &Path,
    ready: &str,
    port: u16,
) -> Option<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let from = log.metadata().unwrap().len() as usize;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        let logged = std::fs::read(log_path)
            .ok()
            .and_then(|b| {
                b.get(from..)
                    .map(|t| String::from_utf8_lossy(t).contains(ready))
            })
            .unwrap_or(false);
        if logged && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "{name} did not come up on port {port} within 10 s; log:\n{}",
        std::fs::read_to_string(log_path).unwrap_or_default()
    );
}

/// Kills the daemon and waits for it; a no-op when none runs.
pub fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Runs `spawn` on the same `port` again, a few times while the port is
/// still taken by the killed daemon's socket; panics with the log after.
pub fn respawn(name: &str, port: u16, log_path: &Path, mut spawn: impl FnMut(u16) -> bool) {
    for attempt in 0..6 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        if spawn(port) {
            return;
        }
    }
    panic!(
        "{name} did not restart on port {port}; log:\n{}",
        std::fs::read_to_string(log_path).unwrap_or_default()
    );
}
