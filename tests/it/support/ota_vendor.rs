//! A test double of gyro's OTA vendor contract (docs/guide/ota.md, "The OTA vendor
//! contract"): `POST /gsma/rsp2/es2plus/imsiSwap` in the GSMA ES2+ style.
//! No open-source SM-DP+ or OTA server with this interface can be installed
//! here (ES2+ has no IMSI swap; each vendor exposes its own), so this is a
//! double of gyro's documented contract, kept small: std `TcpListener`, a
//! thread per connection, one request per connection (`Connection: close`).
//!
//! It records every call, de-duplicates by `functionCallIdentifier` (a call
//! whose id was answered before gets that answer again and counts as a
//! duplicate, not as a second swap), and its behaviour is set at run time:
//! succeed, refuse with `Failed`, answer slowly (the swap is done, the
//! answer comes too late: a lost answer), and glitches for the first N calls
//! (503 or a dropped connection, nothing swapped).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

pub const PATH: &str = "/gsma/rsp2/es2plus/imsiSwap";

/// How a call that is not glitched is answered.
#[derive(Debug, Clone)]
pub enum Mode {
    Succeed,
    Fail {
        subject_code: String,
        reason_code: String,
        message: String,
    },
    /// Swaps, then waits this long before answering.
    Slow(Duration),
}

/// What the first calls meet before `Mode` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glitch {
    /// HTTP 503 with a plain-text body.
    Unavailable,
    /// The request is read, then the connection closed without an answer.
    Drop,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// `header.functionCallIdentifier` ("" when absent).
    pub call_id: String,
    /// "swap", "duplicate", "glitch", "refused" or "bad-request".
    pub handled_as: &'static str,
}

/// A swap the double carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub call_id: String,
    pub iccid: String,
    pub slot: u64,
    pub old_imsi: String,
    pub new_imsi: String,
}

struct State {
    mode: Mode,
    glitch: Option<(Glitch, u32)>,
    calls: Vec<Call>,
    swaps: Vec<Swap>,
    /// The answer (status, body) given to each call id.
    answered: HashMap<String, (u16, Value)>,
}

#[derive(Clone)]
pub struct OtaDouble {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl OtaDouble {
    /// Listens on a free loopback port, succeeding until told otherwise.
    pub fn start() -> OtaDouble {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Succeed,
            glitch: None,
            calls: vec![],
            swaps: vec![],
            answered: HashMap::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        OtaDouble { port, state }
    }

    /// What `[ota] url` is set to (the contract's path is gyro's to add).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// The next `n` calls meet `glitch`.
    pub fn glitch_first(&self, n: u32, glitch: Glitch) {
        self.lock().glitch = Some((glitch, n));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn swaps(&self) -> Vec<Swap> {
        self.lock().swaps.clone()
    }

    pub fn duplicates(&self) -> usize {
        let s = self.lock();
        s.calls
            .iter()
            .filter(|c| c.handled_as == "duplicate")
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What to do with one request, decided under the lock.
enum Reply {
    Answer(u16, Value, Duration),
    Unavailable,
    Drop,
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some((path, headers, raw)) = read_request(&stream) else {
        return;
    };
    let reply = decide(state, path, headers, &raw);
    let (status, body, delay) = match reply {
        Reply::Drop => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Reply::Unavailable => (503, json!("vendor maintenance"), Duration::ZERO),
        Reply::Answer(status, body, delay) => (status, body, delay),
    };
    std::thread::sleep(delay);
    let (kind, text) = match body {
        Value::String(s) => ("text/plain", s),
        v => ("application/json", v.to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nX-Admin-Protocol: gsma/rsp/v2.5.0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    // The client may be gone (a slow answer after its timeout): that is the point.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

fn decide(
    state: &Mutex<State>,
    path: String,
    headers: HashMap<String, String>,
    raw: &[u8],
) -> Reply {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let call_id = body["header"]["functionCallIdentifier"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut call = Call {
        path,
        headers,
        body,
        call_id: call_id.clone(),
        handled_as: "bad-request",
    };
    let reply = if call.path != PATH || call_id.is_empty() || !well_formed(&call.body) {
        Reply::Answer(400, json!("not an imsiSwap request"), Duration::ZERO)
    } else if let Some((status, answer)) = s.answered.get(&call_id) {
        call.handled_as = "duplicate";
        Reply::Answer(*status, answer.clone(), Duration::ZERO)
    } else if let Some((glitch, n)) = s.glitch.filter(|(_, n)| *n > 0) {
        s.glitch = Some((glitch, n - 1));
        call.handled_as = "glitch";
        match glitch {
            Glitch::Unavailable => Reply::Unavailable,
            Glitch::Drop => Reply::Drop,
        }
    } else {
        let (status, answer, delay) = execute(&mut s, &call);
        call.handled_as = if status == 200 && answer_ok(&answer) {
            "swap"
        } else {
            "refused"
        };
        s.answered.insert(call_id, (status, answer.clone()));
        Reply::Answer(status, answer, delay)
    };
    s.calls.push(call);
    reply
}

/// Carries out (or refuses) a first call under the current mode.
fn execute(s: &mut State, call: &Call) -> (u16, Value, Duration) {
    let b = &call.body;
    let field = |k: &str| b[k].as_str().unwrap_or_default().to_string();
    let mode = s.mode.clone();
    if let Mode::Fail {
        subject_code,
        reason_code,
        message,
    } = mode
    {
        let data = json!({"subjectCode": subject_code, "reasonCode": reason_code,
                          "subjectIdentifier": field("iccid"), "message": message});
        return (200, status_json("Failed", Some(data)), Duration::ZERO);
    }
    s.swaps.push(Swap {
        call_id: call.call_id.clone(),
        iccid: field("iccid"),
        slot: b["slot"].as_u64().unwrap_or_default(),
        old_imsi: field("oldImsi"),
        new_imsi: field("newImsi"),
    });
    let delay = match mode {
        Mode::Slow(d) => d,
        _ => Duration::ZERO,
    };
    (200, status_json("Executed-Success", None), delay)
}

fn status_json(status: &str, data: Option<Value>) -> Value {
    let mut fes = json!({ "status": status });
    if let Some(d) = data {
        fes["statusCodeData"] = d;
    }
    json!({ "header": { "functionExecutionStatus": fes } })
}

fn answer_ok(v: &Value) -> bool {
    v["header"]["functionExecutionStatus"]["status"] == "Executed-Success"
}

/// The contract's fields, with the types it gives them.
fn well_formed(b: &Value) -> bool {
    let text = |k: &str| b[k].as_str().is_some_and(|s| !s.is_empty());
    b["header"]["functionRequesterIdentifier"].is_string()
        && text("iccid")
        && text("oldImsi")
        && text("newImsi")
        && b["slot"].is_u64()
}

/// Request line, headers and a Content-Length body; None on a short read.
fn read_request(stream: &TcpStream) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((path, headers, body))
}
