//! Debian's `webhook` daemon (adnanh/webhook 2.8) as the receiver of gyro's
//! signed event POSTs: one hook, `gyro`, accepts a request only when
//! `X-Gyro-Signature-256` is the HMAC-SHA256 of the raw body under the secret,
//! and appends it to `received.jsonl` before the 200 goes back, with whether
//! its Standard Webhooks `Webhook-Signature` (over id, timestamp and body)
//! verified with openssl.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The `webhook` binary. Missing, it fails the test; only GYRO_SKIP_PEERS=1
/// skips it (None).
pub fn webhook_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("webhook"))
        .find(|p| p.is_file());
    if found.is_none() && std::env::var("GYRO_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("GYRO_SKIP_PEERS=1: skipping a test that needs Debian's webhook daemon");
        return None;
    }
    Some(found.expect(
        "Debian's webhook package is not installed (apt-get install webhook; \
         .ci/run installs it); GYRO_SKIP_PEERS=1 skips",
    ))
}

/// One accepted request, as the hook recorded it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `Webhook-Id` header ("" when absent).
    pub webhook_id: String,
    /// The `Webhook-Timestamp` header ("" when absent).
    pub timestamp: String,
    /// The request body, parsed.
    pub body: serde_json::Value,
    /// "ok" when a `v1,` signature of `Webhook-Signature` is openssl's
    /// HMAC-SHA256 of `id.timestamp.body` under the secret, else "bad".
    pub v1: String,
}

pub struct Receiver {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// Appends one accepted request to received.jsonl (in the working directory):
/// $1 the Webhook-Id header, $2 Webhook-Timestamp, $3 the raw body, $4
/// Webhook-Signature, checked against openssl's HMAC under the `secret`
/// file. The line goes out in one printf under an exclusive flock, so
/// concurrent requests never interleave; a failure exits non-zero and
/// webhook answers 500.
const APPEND_SH: &str = r#"#!/bin/sh
set -e
q() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
want=$(printf '%s.%s.%s' "$1" "$2" "$3" | openssl dgst -sha256 -hmac "$(cat secret)" -binary | base64 -w0)
case " $4 " in *" v1,$want "*) v1=ok ;; *) v1=bad ;; esac
id=$(q "$1")
ts=$(q "$2")
# CR/LF are whitespace between JSON tokens (never raw inside strings): as
# spaces they keep a pretty-printed body on one line.
body=$(printf '%s' "$3" | tr '\r\n' '  ')
[ -n "$body" ] || body=null
exec 9>>received.jsonl
flock -x 9
printf '{"webhook_id":"%s","timestamp":"%s","v1":"%s","body":%s}\n' "$id" "$ts" "$v1" "$body" >&9
"#;

impl Receiver {
    /// Starts webhook on a free loopback port with the `gyro` hook for
    /// `secret`; panics with its log if it is not up within 10 s.
    pub fn start(tag: &str, secret: &str) -> Receiver {
        let bin = webhook_bin().expect("Receiver::start needs webhook (check webhook_bin() first)");
        let dir = super::temp_dir(&format!("{tag}-webhook"));
        let script = dir.join("append.sh");
        std::fs::write(&script, APPEND_SH).unwrap();
        std::fs::write(dir.join("secret"), secret).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(
            dir.join("hooks.json"),
            serde_json::to_string_pretty(&hooks(&dir, &script, secret)).unwrap(),
        )
        .unwrap();
        let mut r = Receiver {
            child: None,
            port: 0,
            dir,
            bin,
        };
        // A port free a moment ago can be taken before webhook binds it:
        // then try another.
        for _attempt in 0..5 {
            let port = super::free_port();
            if r.spawn(port) {
                return r;
            }
        }
        panic!("webhook did not start; log:\n{}", r.log_text());
    }

    /// http://127.0.0.1:P/hooks/gyro
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/gyro", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// webhook's log over every start.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("webhook.log")).unwrap_or_default()
    }

    /// Kills webhook and waits for it; a no-op when it is not running.
    pub fn stop(&mut self) {
        super::daemon::kill(&mut self.child);
    }

    /// Starts webhook again on the same port and directory (what was
    /// received stays); retries a few times while the port is taken.
    pub fn restart(&mut self) {
        self.stop();
        let log = self.dir.join("webhook.log");
        super::daemon::respawn("webhook", self.port, &log, |port| self.spawn(port));
    }

    /// Every recorded request, in the order the hook accepted them.
    pub fn received(&self) -> Vec<Received> {
        let path = self.dir.join("received.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
            Err(e) => panic!("reading {}: {e}", path.display()),
        };
        // Only whole lines: a line still being written is not yet received.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!(
                        "{} line {} is not JSON (was the POSTed body JSON?): {e}\n{line}",
                        path.display(),
                        i + 1
                    )
                });
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Received {
                    webhook_id: s("webhook_id"),
                    timestamp: s("timestamp"),
                    body: v["body"].clone(),
                    v1: s("v1"),
                }
            })
            .collect()
    }

    /// Polls until at least `n` requests are recorded or `secs` pass;
    /// returns what there is.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One try at running webhook on `port`: true once it serves there,
    /// false when it exited (port taken); panics after 10 s.
    fn spawn(&mut self, port: u16) -> bool {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-hooks")
            .arg(self.dir.join("hooks.json"))
            .args(["-ip", "127.0.0.1", "-port", &port.to_string(), "-verbose"])
            .current_dir(&self.dir);
        // webhook 2.8 binds before it logs "serving hooks on".
        let serving = format!("serving hooks on http://127.0.0.1:{port}/");
        let log = self.dir.join("webhook.log");
        match super::daemon::spawn_logged("webhook", &mut cmd, &log, &serving, port) {
            Some(child) => {
                self.child = Some(child);
                self.port = port;
                true
            }
            None => false,
        }
    }
}

/// The hooks file: the one `gyro` hook.
fn hooks(dir: &Path, script: &Path, secret: &str) -> serde_json::Value {
    serde_json::json!([{
        "id": "gyro",
        "execute-command": script,
        "command-working-directory": dir,
        "http-methods": ["POST"],
        // Wait for append.sh before answering: a 200 means recorded.
        "include-command-output-in-response": true,
        "include-command-output-in-response-on-error": true,
        // "raw-request-body" is the body as sent; "entire-payload" would be
        // webhook's re-encoding of its parse (keys sorted, <>& escaped, a
        // top-level array wrapped in {"root": ...}).
        "pass-arguments-to-command": [
            {"source": "header", "name": "Webhook-Id"},
            {"source": "header", "name": "Webhook-Timestamp"},
            {"source": "raw-request-body"},
            {"source": "header", "name": "Webhook-Signature"}
        ],
        // A wrong signature is an error: 500 "Error occurred while
        // evaluating hook rules.". No signature header at all does not
        // satisfy the rule, which webhook answers 200 by default: 400 here,
        // so an unsigned event does not count as delivered.
        "trigger-rule-mismatch-http-response-code": 400,
        "trigger-rule": {
            "match": {
                "type": "payload-hmac-sha256",
                "secret": secret,
                "parameter": {"source": "header", "name": "X-Gyro-Signature-256"}
            }
        }
    }])
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}
