//! A gateway that behaves as RFC 6733 asks across a server crash: each
//! request waits for its answer; when the connection breaks it dials again
//! (for as long as the server takes to come back) and resends the pending
//! request with the T flag, same Session-Id, CC-Request-Number and
//! End-to-End id. It counts the usage it was acknowledged (2001).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gyro::diameter::Message;

use crate::support::*;

pub struct Tally {
    /// Octets reported in requests answered 2001.
    pub acknowledged: u64,
    pub requests: u64,
    pub resent: u64,
    /// Answers other than 2001, by Result-Code.
    pub refused: Vec<u32>,
}

/// Dials `addr` as `host` until a CER/CEA completes (the server may be
/// restarting), for up to a minute.
fn dial(addr: SocketAddr, host: &str) -> RawPeer {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = std::net::TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut p = RawPeer { stream };
            if p.stream.write_all(&cer(host)).is_ok() {
                let cea = p.recv();
                if cea.as_deref().and_then(|b| Message::new(b)?.result_code()) == Some(2001) {
                    return p;
                }
            }
        }
        assert!(Instant::now() < until, "{host}: the server never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `c` until an answer comes, redialling and resending it with the
/// T flag after a broken connection; the answer's Result-Code.
fn exchange(p: &mut RawPeer, addr: SocketAddr, c: &GyCcr<'_>, t: &mut Tally) -> u32 {
    let mut bytes = gy_ccr(c);
    loop {
        if p.stream.write_all(&bytes).is_ok() {
            if let Some(a) = p.recv() {
                let m = Message::new(&a).expect("a whole answer");
                assert_eq!(
                    m.header.end_to_end, c.e2e,
                    "{}: answer to another request",
                    c.session
                );
                return m.result_code().expect("a Result-Code");
            }
        }
        *p = dial(addr, c.origin);
        bytes = gy_ccr(&GyCcr {
            retransmit: true,
            ..*c
        });
        t.resent += 1;
    }
}

/// One session on `imsi` from gateway `host`: CCR-I, CCR-U reporting
/// `used` octets each until `stop`, then CCR-T.
pub fn run_gateway(
    addr: SocketAddr,
    host: &str,
    session: &str,
    used: u64,
    stop: &Arc<AtomicBool>,
) -> Tally {
    let mut t = Tally {
        acknowledged: 0,
        requests: 0,
        resent: 0,
        refused: vec![],
    };
    let mut p = dial(addr, host);
    let base = GyCcr {
        session,
        origin: host,
        requested: Some(used),
        ..GyCcr::BASE
    };
    let mut n = 0u32;
    loop {
        let last = stop.load(Ordering::Relaxed);
        let c = GyCcr {
            kind: if n == 0 {
                1
            } else if last {
                3
            } else {
                2
            },
            number: n,
            e2e: 1 + n,
            used: if n == 0 { 0 } else { used },
            requested: if last { None } else { Some(used) },
            ..base
        };
        let code = exchange(&mut p, addr, &c, &mut t);
        t.requests += 1;
        if code == 2001 {
            t.acknowledged += c.used;
        } else {
            t.refused.push(code);
        }
        if c.kind == 3 {
            return t;
        }
        n += 1;
    }
}
