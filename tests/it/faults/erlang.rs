//! Erlang/OTP PGWs: the peers' `gy_peer.escript client`, one session of
//! CCR-I, `--updates` CCR-U and CCR-T per process, run again and again
//! through the harness's proxy until the run stops. OTP does not resend a
//! request whose connection went down (no other peer to fail over to): such
//! a request is in doubt. Each CCA or error line the client prints becomes
//! a `Request` in the same log format as the raw clients'.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::checker::{Fate, Request};
use super::control::Control;

/// One Erlang PGW loop: who it is, whom it charges, where it sends.
pub struct ErlSpec {
    pub n: u32,
    pub imsi: String,
    pub account: u64,
    pub server: SocketAddr,
    /// Octets each CCR-U and CCR-T reports.
    pub used: u64,
    pub updates: u32,
    pub peers: PathBuf,
    /// Where its outputs and its log of requests go.
    pub dir: PathBuf,
}

/// Runs one client after another until the run stops; then writes the log
/// of every request they printed.
pub fn run(spec: &ErlSpec, ctl: &Control) {
    let mut lines = vec![];
    let mut i = 0;
    while !ctl.stopping() {
        let out = spec.dir.join(format!("erl{}-{i:04}.out", spec.n));
        let mut child = client(spec, i, &out);
        // A session takes a few seconds; one that hangs is stopped, and so
        // is one still running when the run gives up.
        let limit = Duration::from_secs(30 + 5 * u64::from(spec.updates));
        let finished = wait(&mut child, limit, ctl);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        lines.extend(requests(&text, spec, finished));
        i += 1;
    }
    let log = spec.dir.join(format!("erl{}.jsonl", spec.n));
    let text: String = lines
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(log, text).unwrap();
}

/// The `i`th client of the loop. Its Origin-Host is its own: the client's
/// Session-Ids are the host, the second and a counter that starts again in
/// every process, so two processes of one host in one second would share
/// them.
fn client(spec: &ErlSpec, i: u32, out: &Path) -> Child {
    Command::new(spec.peers.join("erlang/gy_peer.escript"))
        .arg("client")
        .args(["--server", &spec.server.to_string()])
        .args([
            "--origin-host",
            &format!("pgw-erl{}-{i}.test.local", spec.n),
        ])
        .args(["--imsi", &spec.imsi, "--mcc-mnc", "26201"])
        .args(["--request-octets", "100000"])
        .args(["--used-octets", &spec.used.to_string()])
        .args(["--updates", &spec.updates.to_string()])
        .args(["--timeout-ms", "3000"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for the client to exit; kills it after `limit` or once the run
/// gives up. True when it exited by itself.
fn wait(child: &mut Child, limit: Duration, ctl: &Control) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until && !ctl.given_up() {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// The requests one client's output tells of. A client that had to be
/// killed may have had one more request in flight: it is in doubt.
fn requests(text: &str, spec: &ErlSpec, finished: bool) -> Vec<Request> {
    let mut out: Vec<Request> = text.lines().filter_map(|l| parse(l, spec)).collect();
    let last = spec.updates + 1;
    if let (false, Some(r)) = (finished, out.last()) {
        if r.number < last {
            let next = Request {
                number: r.number + 1,
                used: spec.used,
                fate: Fate::InDoubt,
                ..r.clone()
            };
            out.push(next);
        }
    }
    out
}

/// One line of the client's output:
/// `CCR-U #3 -> 'CCA' Session-Id=S Result-Code=2001 …` or
/// `CCR-U #3 Session-Id=S -> ERROR {error,failover}`.
fn parse(line: &str, spec: &ErlSpec) -> Option<Request> {
    let kind = line.strip_prefix("CCR-")?.chars().next()?;
    let number: u32 = line.split('#').nth(1)?.split(' ').next()?.parse().ok()?;
    let field = |name: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_string)
    };
    let session = field("Session-Id=")?;
    let fate = if line.contains("-> ERROR") {
        // Refused before it was sent: no connection was up.
        if line.contains("no_connection") {
            Fate::NotSent
        } else {
            Fate::InDoubt
        }
    } else {
        match field("Result-Code=")?.parse::<u32>() {
            Ok(2001) => Fate::Acknowledged,
            // A proxy's 3002 may come after its OCS charged the request.
            Ok(3002) => Fate::InDoubt,
            Ok(code) => Fate::Refused(code),
            Err(_) => Fate::Refused(0),
        }
    };
    Some(Request {
        session,
        number,
        account: spec.account,
        used: if kind == 'I' { 0 } else { spec.used },
        fate,
        attempts: 1,
    })
}
