//! A raw Diameter peer over a plain socket, for hand-made bytes: the CER/CEA
//! handshake, a request and its answer, and the gateway's side of the
//! requests gyro sends (RAR, ASR).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::Gyro;

/// A raw Diameter client over a plain socket, for hand-made bytes.
pub struct RawPeer {
    pub stream: TcpStream,
}

impl RawPeer {
    pub fn connect(addr: SocketAddr) -> RawPeer {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RawPeer { stream }
    }
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }
    /// Reads one whole message; None on EOF, reset or timeout.
    pub fn recv(&mut self) -> Option<Vec<u8>> {
        let mut hdr = [0u8; 4];
        self.stream.read_exact(&mut hdr).ok()?;
        let len = u32::from_be_bytes([0, hdr[1], hdr[2], hdr[3]]) as usize;
        let mut rest = vec![0u8; len.checked_sub(4)?];
        self.stream.read_exact(&mut rest).ok()?;
        let mut v = hdr.to_vec();
        v.extend(rest);
        Some(v)
    }
    /// True when the server closed the connection (EOF or reset) within the timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 64];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    )
                }
            }
        }
    }
}

/// A CER from `host` offering credit control.
pub fn cer(host: &str) -> Vec<u8> {
    use gyro::diameter::{codes, MessageBuilder};
    let mut buf = bytes::BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 257, 0, false, 1, 1);
    b.utf8(codes::ORIGIN_HOST, host)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .address(codes::HOST_IP_ADDRESS, "127.0.0.1".parse().unwrap())
        .u32(codes::VENDOR_ID, 0)
        .utf8(codes::PRODUCT_NAME, "gyro-test")
        .u32(codes::AUTH_APPLICATION_ID, 4);
    b.finish();
    buf.to_vec()
}

/// Connects to `g` as `host` and completes CER/CEA (2001).
pub fn open_peer(g: &Gyro, host: &str) -> RawPeer {
    let mut p = RawPeer::connect(g.addr());
    p.send(&cer(host));
    let cea = p.recv().expect("CEA");
    assert_eq!(
        gyro::diameter::Message::new(&cea).and_then(|m| m.result_code()),
        Some(2001)
    );
    p
}

/// Sends a request and waits for its answer.
pub fn ask(p: &mut RawPeer, bytes: &[u8]) -> Vec<u8> {
    p.send(bytes);
    p.recv().expect("an answer")
}

/// A gateway's answer (RAA, ASA) from `host` to a request gyro sent,
/// under `hbh` (the request's own, or a wrong one).
pub fn gateway_answer(req: &[u8], result_code: u32, hbh: u32, host: &str) -> Vec<u8> {
    use gyro::diameter::{codes, Message, MessageBuilder};
    let m = Message::new(req).unwrap();
    let mut h = m.header;
    h.hop_by_hop = hbh;
    let mut buf = bytes::BytesMut::new();
    let mut b = MessageBuilder::answer(&mut buf, &h, false);
    b.utf8(codes::SESSION_ID, m.session_id().unwrap())
        .u32(codes::RESULT_CODE, result_code)
        .utf8(codes::ORIGIN_HOST, host)
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    buf.to_vec()
}

/// Reads the next request gyro sends (`command`: RAR 258, ASR 274) and
/// answers it 2001 as the gateway `host`; returns it.
pub fn answer_next(p: &mut RawPeer, command: u32, host: &str) -> Vec<u8> {
    let req = p.recv().expect("a request from gyro");
    let m = gyro::diameter::Message::new(&req).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (command, true));
    p.send(&gateway_answer(&req, 2001, m.header.hop_by_hop, host));
    req
}
