//! The Diameter node in-process with a test application: concurrent requests
//! on one connection (no head-of-line blocking), graceful shutdown that answers
//! what is in flight before DPR; and the CLI's decode and start-up errors.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use gyro::diameter::answer::begin_answer;
use gyro::diameter::codes;
use gyro::diameter::transport::{AppContext, Application, Node, Reply, Request};
use gyro::diameter::{Message, MessageBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers CCRs; a request whose Session-Id ends in "slow" waits 300 ms first.
struct Echo;
impl Application for Echo {
    fn application_id(&self) -> u32 {
        4
    }
    fn handle(&self, req: Request, ctx: &AppContext, _now: SystemTime) -> Reply {
        let origin = ctx.origin.clone();
        let build = move |req: &Request| {
            let mut buf = BytesMut::new();
            let m = req.message();
            let mut b = begin_answer(&mut buf, &origin, &m, 2001);
            b.u32(codes::AUTH_APPLICATION_ID, 4);
            for code in [416, 415] {
                if let Some(a) = m.find(code, 0) {
                    b.raw_avp(a.raw());
                }
            }
            b.finish();
            buf.freeze()
        };
        if req
            .message()
            .session_id()
            .is_some_and(|s| s.ends_with("slow"))
        {
            Reply::Later(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Some(build(&req))
            }))
        } else {
            Reply::Ready(Some(build(&req)))
        }
    }
}

fn ccr(session: &str, hbh: u32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, hbh, hbh);
    b.utf8(codes::SESSION_ID, session)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(gyro::diameter::AvpDef::base(461), "32251@3gpp.org")
        .u32(gyro::diameter::AvpDef::base(416), 1)
        .u32(gyro::diameter::AvpDef::base(415), 0);
    b.finish();
    buf.to_vec()
}

fn cer() -> Vec<u8> {
    crate::support::cer("pgw.test.local")
}

async fn read_msg(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.unwrap();
    let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
    let mut v = vec![0u8; len];
    v[..4].copy_from_slice(&h);
    s.read_exact(&mut v[4..]).await.unwrap();
    v
}

fn node() -> Node {
    crate::support::in_process_node(vec![Arc::new(Echo)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_does_not_block_later_ones_and_shutdown_drains_before_dpr() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut node = node();
    node.listen(listener);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&cer()).await.unwrap();
    let cea = read_msg(&mut s).await;
    assert_eq!(Message::new(&cea).unwrap().result_code(), Some(2001));

    // Slow first, fast second, in one write: the fast answer must come first.
    let mut both = ccr("pgw;1;slow", 100);
    both.extend(ccr("pgw;2;fast", 200));
    let t0 = Instant::now();
    s.write_all(&both).await.unwrap();
    let first = read_msg(&mut s).await;
    let m = Message::new(&first).unwrap();
    assert_eq!(
        m.header.hop_by_hop, 200,
        "the fast request waited behind the slow one"
    );
    assert!(t0.elapsed() < Duration::from_millis(250));
    let second = read_msg(&mut s).await;
    let m = Message::new(&second).unwrap();
    assert_eq!((m.header.hop_by_hop, m.result_code()), (100, Some(2001)));
    assert!(m.find(415, 0).is_some(), "CC-Request-Number echoed");

    // Shutdown with a slow request in flight: its answer, then DPR.
    s.write_all(&ccr("pgw;3;slow", 300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = tokio::spawn(node.shutdown());
    let a = read_msg(&mut s).await;
    assert_eq!(Message::new(&a).unwrap().header.hop_by_hop, 300);
    let dpr = read_msg(&mut s).await;
    let m = Message::new(&dpr).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (282, true));
    assert_eq!(
        m.find(273, 0).unwrap().enumerated().unwrap(),
        0,
        "Disconnect-Cause REBOOTING"
    );
    // Answer the DPR: gyro then closes and the shutdown completes.
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::answer(&mut buf, &m.header, false);
    b.u32(codes::RESULT_CODE, 2001)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    s.write_all(&buf).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), stopping)
        .await
        .expect("shutdown finished")
        .unwrap();
    let mut rest = vec![];
    assert_eq!(
        s.read_to_end(&mut rest).await.unwrap(),
        0,
        "connection closed after DPA"
    );
}

#[test]
fn decode_prints_named_avps_and_json() {
    let hex: String = cer().iter().map(|b| format!("{b:02x}")).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["decode", &hex])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with("Capabilities-Exchange-Request code=257"),
        "{text}"
    );
    assert!(
        text.contains("Origin-Host(264) -M- = pgw.test.local"),
        "{text}"
    );
    assert!(
        text.contains("Host-IP-Address(257) -M- = 127.0.0.1"),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["decode", "--json", &hex])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 257);
    assert_eq!(v["avps"][0]["name"], "Origin-Host");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["decode", "0100"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn a_bad_dictionary_file_stops_start_up_with_file_and_line() {
    let dir = crate::support::temp_dir("bad-dict");
    std::fs::write(dir.join("vendor.xml"), "<diameter>\n<application id=\"4\">\n<avp name=\"X\" code=\"5\">\n<data type=\"Nonsense\"/>\n</avp></application></diameter>\n").unwrap();
    let port = crate::support::free_port();
    let cfg = crate::support::config_text(
        &dir,
        port,
        crate::support::free_port(),
        crate::support::free_port(),
        "",
    )
    .replace(
        "dictionaries = []",
        &format!("dictionaries = [\"{}\"]", dir.join("vendor.xml").display()),
    );
    std::fs::write(dir.join("gyro.toml"), cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(dir.join("gyro.toml"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vendor.xml:4: unknown data type 'Nonsense'"),
        "{err}"
    );
}
