//! Raw Rust gateways: sessions of CCR-I, CCR-U and CCR-T carrying
//! Used-Service-Unit, sent through the harness's proxy. A request is sent
//! until it gets a final answer: after a timeout or a lost connection it is
//! sent again on a new connection with the T flag (same Session-Id,
//! CC-Request-Number and End-to-End id); after 3004 (too busy) or 3002
//! (a proxy that could not reach its OCS) it is sent again a moment later,
//! with the T flag as well. Each request's fate goes to the client's log, one JSON
//! line, for the checker.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checker::{Fate, Request};
use super::control::Control;
use crate::support::*;
use gyro::diameter::Message;

/// How long a client waits for an answer before it resends.
const TIMEOUT: Duration = Duration::from_secs(2);
const REQUESTED: u64 = 100_000;
const MAX_USED: u64 = 20_000;
const MAX_UPDATES: u32 = 12;
const TOO_BUSY: u32 = 3004;
const UNABLE_TO_DELIVER: u32 = 3002;

/// One raw client: who it is, whom it charges, where it sends.
pub struct RawSpec {
    pub n: u32,
    pub imsi: String,
    pub account: u64,
    pub server: SocketAddr,
    pub seed: u64,
    /// Its log of requests (JSON lines).
    pub log: PathBuf,
}

struct Client<'a> {
    spec: &'a RawSpec,
    host: String,
    ctl: &'a Control,
    rng: StdRng,
    conn: Option<Conn>,
    e2e: u32,
    out: std::io::BufWriter<std::fs::File>,
}

/// Runs sessions until the run stops, then ends the open one with its
/// CCR-T.
pub fn run(spec: &RawSpec, ctl: &Control) {
    let mut c = Client {
        spec,
        host: format!("pgw-raw{}.test.local", spec.n),
        ctl,
        rng: StdRng::seed_from_u64(spec.seed),
        conn: None,
        e2e: spec.n << 24,
        out: std::io::BufWriter::new(std::fs::File::create(&spec.log).unwrap()),
    };
    let mut k = 0;
    while !ctl.stopping() {
        k += 1;
        c.session(k);
    }
    c.out.flush().unwrap();
}

impl Client<'_> {
    /// CCR-I, up to `MAX_UPDATES` CCR-U, CCR-T; cut short (with its CCR-T)
    /// when the run stops, abandoned after a refusal.
    fn session(&mut self, k: u64) {
        let session = format!("{};{};{k}", self.host, self.spec.seed);
        let updates = self.rng.random_range(1..=MAX_UPDATES);
        let mut number = 0;
        loop {
            let last = number == updates + 1 || (number > 0 && self.ctl.stopping());
            let kind = match (number, last) {
                (0, _) => 1,
                (_, true) => 3,
                _ => 2,
            };
            let used = if kind == 1 {
                0
            } else {
                self.rng.random_range(1..=MAX_USED)
            };
            let fate = self.request(&session, kind, number, used);
            if last || !matches!(fate, Fate::Acknowledged) {
                return;
            }
            number += 1;
        }
    }

    fn request(&mut self, session: &str, kind: u32, number: u32, used: u64) -> Fate {
        self.e2e += 1;
        let bytes = gy_ccr(&GyCcr {
            session,
            kind,
            number,
            e2e: self.e2e,
            imsi: &self.spec.imsi,
            requested: (kind != 3).then_some(REQUESTED),
            used,
            origin: &self.host,
            ..GyCcr::BASE
        });
        let (fate, attempts) = self.settle(bytes);
        let r = Request {
            session: session.to_string(),
            number,
            account: self.spec.account,
            used,
            fate,
            attempts,
        };
        serde_json::to_writer(&mut self.out, &r).unwrap();
        self.out.write_all(b"\n").unwrap();
        fate
    }

    /// Sends `req` until a final answer comes, or the run gives up.
    fn settle(&mut self, mut req: Vec<u8>) -> (Fate, u32) {
        let e2e = Message::new(&req).unwrap().header.end_to_end;
        let (mut attempts, mut sent) = (0, false);
        loop {
            if self.ctl.given_up() {
                return (if sent { Fate::InDoubt } else { Fate::NotSent }, attempts);
            }
            let Some(conn) = self.connected() else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            if attempts > 0 {
                req[4] |= 0x10;
            }
            attempts += 1;
            if conn.stream.write_all(&req).is_err() {
                self.conn = None;
                continue;
            }
            sent = true;
            let answer = conn.recv(Instant::now() + TIMEOUT, |m| {
                !m.header.is_request() && m.header.end_to_end == e2e
            });
            let Some(answer) = answer else {
                self.conn = None;
                continue;
            };
            match Message::new(&answer).and_then(|m| m.result_code()) {
                Some(2001) => return (Fate::Acknowledged, attempts),
                Some(TOO_BUSY | UNABLE_TO_DELIVER) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return (Fate::Refused(other.unwrap_or(0)), attempts),
            }
        }
    }

    /// The open connection, or a new one through the proxy with CER/CEA
    /// done; None when gyro does not answer now.
    fn connected(&mut self) -> Option<&mut Conn> {
        if self.conn.is_none() {
            self.conn = Conn::open(self.spec.server, &self.host);
        }
        self.conn.as_mut()
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(server: SocketAddr, host: &str) -> Option<Conn> {
        let stream = TcpStream::connect_timeout(&server, Duration::from_secs(1)).ok()?;
        let _ = stream.set_nodelay(true);
        let mut c = Conn {
            stream,
            buf: vec![],
        };
        c.stream.write_all(&cer(host)).ok()?;
        let cea = c.recv(Instant::now() + TIMEOUT, |m| m.header.command == 257)?;
        let ok = Message::new(&cea).and_then(|m| m.result_code()) == Some(2001);
        ok.then_some(c)
    }

    /// The next message `want` accepts (others are skipped); None on a
    /// timeout, a closed connection or a broken frame.
    fn recv(&mut self, deadline: Instant, want: impl Fn(&Message) -> bool) -> Option<Vec<u8>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
                if len < 20 {
                    return None;
                }
                if self.buf.len() >= len {
                    let msg: Vec<u8> = self.buf.drain(..len).collect();
                    if Message::new(&msg).is_some_and(|m| want(&m)) {
                        return Some(msg);
                    }
                    continue;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).ok()?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
