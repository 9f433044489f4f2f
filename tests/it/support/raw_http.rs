//! Hand-written HTTP/1.1 requests whose body is held back: the request
//! line and headers go out, and the test sees whether an answer comes
//! before a single body byte does (the API's door checks).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An HTTP answer as read off the socket.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// The header block, lower-cased.
    pub headers: String,
    pub body: String,
}

/// Opens a connection and sends `method path` with `headers` and a
/// `Content-Length` of `length`, then `first` bytes of body (maybe none).
pub fn send_head(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
    first: &[u8],
) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(first).unwrap();
    s
}

/// The answer on `s` within `secs`, or None when none came in time.
pub fn read_answer(s: &mut TcpStream, secs: u64) -> Option<RawAnswer> {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    loop {
        if let Some(a) = parse(&got) {
            return Some(a);
        }
        let left = until.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return parse(&got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return parse(&got),
        }
    }
}

/// A whole answer (headers and a body of its Content-Length), if `got`
/// holds one.
fn parse(got: &[u8]) -> Option<RawAnswer> {
    let text = String::from_utf8_lossy(got);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let headers = head.to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (body.len() >= length).then(|| RawAnswer {
        status,
        headers,
        body: body[..length].to_string(),
    })
}

/// One request with its body held back: the answer within `secs`.
pub fn answer_before_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
    secs: u64,
) -> Option<RawAnswer> {
    let mut s = send_head(port, method, path, headers, length, b"");
    read_answer(&mut s, secs)
}
