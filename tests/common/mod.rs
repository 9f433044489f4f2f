//! Shared harness for integration tests: a real `gyro serve` process on a free
//! port, the third-party peers from ../shared/peers and tshark captures.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod daemon;
pub mod failing_store;
pub mod orders;
pub mod ota;
pub mod ota_vendor;
pub mod sshd;
pub mod webhook;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_listening(port: u16, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The installed peers: $GYRO_PEERS_DIR, else target/peers. A missing
/// install fails the test; only GYRO_SKIP_PEERS=1 skips it.
pub fn peers_dir() -> Option<PathBuf> {
    if std::env::var("GYRO_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("GYRO_SKIP_PEERS=1: skipping a test that needs the third-party peers");
        return None;
    }
    let p = match std::env::var("GYRO_PEERS_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers"),
    };
    assert!(
        p.join("erlang/_build").is_dir(),
        "the third-party peers are not installed in {} (run .ci/run or target/peers/install.sh; \
         GYRO_SKIP_PEERS=1 skips these tests)",
        p.display()
    );
    Some(p)
}

/// The embedded config rewritten for a test: its own ports and data dir, debug
/// logs, and `diameter_extra` appended to the [diameter] section.
pub fn config_text(dir: &Path, port: u16, metrics: u16, api: u16, diameter_extra: &str) -> String {
    let mut base =
        without_diameter_defaults(include_str!("../../config/gyro.toml"), diameter_extra);
    let data = dir.join("data");
    let pairs = [
        (
            "listen = \"0.0.0.0:3868\"",
            format!("listen = \"127.0.0.1:{port}\""),
        ),
        (
            "listen = \"127.0.0.1:9464\"",
            format!("listen = \"127.0.0.1:{metrics}\""),
        ),
        (
            "listen = \"127.0.0.1:8080\"",
            format!("listen = \"127.0.0.1:{api}\""),
        ),
        (
            "data_dir = \"./data\"",
            format!("data_dir = \"{}\"", data.display()),
        ),
        ("level = \"info\"", "level = \"debug\"".to_string()),
        (
            "accept_unknown_peers = true",
            format!("accept_unknown_peers = true\n{diameter_extra}"),
        ),
    ];
    for (from, to) in pairs {
        assert!(base.contains(from), "config/gyro.toml no longer has {from}");
        base = base.replace(from, &to);
    }
    base
}

/// `config` with `node_extra` lines at the end of its [node] section.
pub fn with_node_extra(config: &str, node_extra: &str) -> String {
    assert!(
        config.contains("\n[diameter]\n"),
        "config/gyro.toml has no [diameter] after [node]"
    );
    config.replacen(
        "\n[diameter]\n",
        &format!("\n{node_extra}\n[diameter]\n"),
        1,
    )
}

/// The embedded config without the `[diameter]` lines of the keys that
/// `diameter_extra` sets (before any table of its own): the test's value
/// replaces the default instead of repeating the key, which TOML refuses.
fn without_diameter_defaults(base: &str, diameter_extra: &str) -> String {
    let keys: Vec<String> = diameter_extra
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, _)| format!("{} = ", k.trim()))
        .collect();
    let mut section = "";
    let mut out = String::with_capacity(base.len());
    for line in base.lines() {
        if line.starts_with('[') {
            section = line;
        }
        if section == "[diameter]" && keys.iter().any(|k| line.starts_with(k.as_str())) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Config text beyond [diameter] and [charging]: lines at the end of
/// [node], and whole sections at the end of the file.
#[derive(Default, Clone, Copy)]
pub struct Sections<'a> {
    pub node: &'a str,
    pub tail: &'a str,
    /// Whole lines of the embedded config replaced by others.
    pub replace: &'a [(&'a str, &'a str)],
}

pub struct Gyro {
    pub child: Child,
    pub port: u16,
    pub api_port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    pub dir: PathBuf,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gyro-test-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Gyro {
    /// Starts gyro with the embedded defaults plus `extra` TOML appended to the
    /// [diameter] section.
    pub fn start(tag: &str, diameter_extra: &str) -> Gyro {
        Self::start_inner(tag, "gyro.test.local", diameter_extra, "", None, "")
    }

    /// Starts gyro as another Diameter identity (two gyros talking), with
    /// `diameter_extra` after [diameter] (whole sections such as [proxy]
    /// may follow it) and `charging_extra` in [charging].
    pub fn start_as(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
    ) -> Gyro {
        Self::start_inner(tag, origin_host, diameter_extra, charging_extra, None, "")
    }

    /// As `start_as`, with `node_extra` added to the [node] section.
    pub fn start_with_node(
        tag: &str,
        origin_host: &str,
        node_extra: &str,
        diameter_extra: &str,
        charging_extra: &str,
    ) -> Gyro {
        let (d, c) = (diameter_extra, charging_extra);
        Self::start_inner(tag, origin_host, d, c, None, node_extra)
    }

    /// Starts gyro again on the data directory of an earlier run.
    pub fn restart(tag: &str, dir: &Path) -> Gyro {
        Self::start_inner(tag, "gyro.test.local", "", "", Some(dir.to_path_buf()), "")
    }

    fn start_inner(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        reuse: Option<PathBuf>,
        node_extra: &str,
    ) -> Gyro {
        Self::start_full(
            tag,
            origin_host,
            diameter_extra,
            charging_extra,
            reuse,
            None,
            Sections {
                node: node_extra,
                ..Sections::default()
            },
        )
    }

    /// Starts gyro again on an earlier run's data directory, as `start_as`
    /// would, on the Diameter port `port` (peers dial it).
    pub fn restart_as(
        tag: &str,
        dir: &Path,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        port: u16,
    ) -> Gyro {
        let dir = Some(dir.to_path_buf());
        Self::start_full(
            tag,
            origin_host,
            diameter_extra,
            charging_extra,
            dir,
            Some(port),
            Sections::default(),
        )
    }

    /// Starts gyro with `charging_extra` in [charging] and whole sections
    /// (`[events]`, `[[events.webhook]]`, …) in `tail` at the end.
    pub fn start_with_tail(tag: &str, charging_extra: &str, tail: &str) -> Gyro {
        let host = "gyro.test.local";
        let more = Sections {
            tail,
            ..Sections::default()
        };
        Self::start_full(tag, host, "", charging_extra, None, None, more)
    }

    /// Starts gyro with lines of the embedded config replaced, and `tail`.
    pub fn start_replacing(tag: &str, replace: &[(&str, &str)], tail: &str) -> Gyro {
        let more = Sections {
            tail,
            replace,
            ..Sections::default()
        };
        Self::start_full(tag, "gyro.test.local", "", "", None, None, more)
    }

    /// `start_replacing` again on an earlier run's data directory.
    pub fn restart_replacing(tag: &str, dir: &Path, replace: &[(&str, &str)], tail: &str) -> Gyro {
        let more = Sections {
            tail,
            replace,
            ..Sections::default()
        };
        let reuse = Some(dir.to_path_buf());
        Self::start_full(tag, "gyro.test.local", "", "", reuse, None, more)
    }

    /// `start_with_tail` again on an earlier run's data directory.
    pub fn restart_with_tail(tag: &str, dir: &Path, charging_extra: &str, tail: &str) -> Gyro {
        let (host, reuse) = ("gyro.test.local", Some(dir.to_path_buf()));
        let more = Sections {
            tail,
            ..Sections::default()
        };
        Self::start_full(tag, host, "", charging_extra, reuse, None, more)
    }

    fn start_full(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        reuse: Option<PathBuf>,
        fixed_port: Option<u16>,
        more: Sections<'_>,
    ) -> Gyro {
        let (node_extra, tail) = (more.node, more.tail);
        let dir = reuse.unwrap_or_else(|| temp_dir(tag));
        // A port free a moment ago can be taken by another test's outbound
        // connection before gyro binds it: then try other ports.
        let mut last_log = String::new();
        for _attempt in 0..4 {
            let port = fixed_port.unwrap_or_else(free_port);
            let metrics = free_port();
            let api_port = free_port();
            let mut base = with_node_extra(
                &config_text(&dir, port, metrics, api_port, diameter_extra),
                node_extra,
            );
            // A key the test sets replaces the embedded default's line.
            for key in charging_extra.lines().filter_map(|l| l.split_once(" = ")) {
                let line = base
                    .lines()
                    .find(|l| l.starts_with(&format!("{} = ", key.0)))
                    .map(str::to_string);
                if let Some(line) = line {
                    base = base.replace(&format!("{line}\n"), "");
                }
            }
            assert!(
                base.contains("\n[charging]\n"),
                "config/gyro.toml has no [charging]"
            );
            let base = base.replace(
                "\n[charging]\n",
                &format!("\n[charging]\n{charging_extra}\n"),
            );
            let base = base.replace(
                "origin_host = \"gyro.test.local\"",
                &format!("origin_host = \"{origin_host}\""),
            );
            let mut base = base;
            for (from, to) in more.replace {
                assert!(base.contains(from), "config/gyro.toml no longer has {from}");
                base = base.replace(from, to);
            }
            let cfg = dir.join("gyro.toml");
            std::fs::write(&cfg, format!("{base}\n{tail}")).unwrap();
            let log = dir.join(format!("gyro-{tag}.log"));
            let mut child = Command::new(env!("CARGO_BIN_EXE_gyro"))
                .args(["serve", "--config"])
                .arg(&cfg)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let until = Instant::now() + Duration::from_secs(30);
            let mut up = false;
            while Instant::now() < until {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", api_port)).is_ok()
                {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                return Gyro {
                    child,
                    port,
                    api_port,
                    metrics_port: metrics,
                    log,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("gyro did not start; last log:\n{last_log}");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (SIGKILL after 20 s).
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gyro {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tshark capture on loopback for some ports.
pub struct Capture {
    pub pcap: PathBuf,
    script: PathBuf,
    ports: String,
    stopped: bool,
}

impl Capture {
    pub fn start(peers: &Path, dir: &Path, ports: &[u16]) -> Capture {
        let pcap = dir.join("capture.pcap");
        let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        let ports = ports.join(",");
        let script = peers.join("tshark/capture.sh");
        let ok = Command::new(&script)
            .arg("start")
            .arg(&pcap)
            .arg(&ports)
            .status()
            .unwrap();
        assert!(ok.success(), "tshark capture did not start");
        Capture {
            pcap,
            script,
            ports,
            stopped: false,
        }
    }

    /// Stops the capture and runs dissect.sh; returns (passed, output).
    pub fn dissect(&mut self, peers: &Path) -> (bool, String) {
        self.dissect_with(peers, &[])
    }

    /// As `dissect`, with dissect.sh options (`--avps`: every AVP listed).
    pub fn dissect_with(&mut self, peers: &Path, options: &[&str]) -> (bool, String) {
        if !self.stopped {
            let _ = Command::new(&self.script)
                .arg("stop")
                .arg(&self.pcap)
                .status();
            self.stopped = true;
        }
        let out = Command::new(peers.join("tshark/dissect.sh"))
            .arg(&self.pcap)
            .arg(&self.ports)
            .args(options)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = Command::new(&self.script)
                .arg("stop")
                .arg(&self.pcap)
                .status();
        }
    }
}

/// Runs a command with a timeout; returns (exit success, stdout+stderr).
pub fn run(cmd: &mut Command, timeout: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = t1.join().unwrap() + &t2.join().unwrap();
    (status.is_some_and(|s| s.success()), text)
}

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

/// Polls `f` every 50 ms until it holds; panics naming `what` after `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The node's admin API, for tests.
pub fn api_get(g: &Gyro, path: &str) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap()
        .json()
        .unwrap()
}

impl Gyro {
    /// Starts gyro with extra TOML appended to its [charging] section.
    pub fn start_with_charging(tag: &str, diameter_extra: &str, charging_extra: &str) -> Gyro {
        Self::start_inner(
            tag,
            "gyro.test.local",
            diameter_extra,
            charging_extra,
            None,
            "",
        )
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

/// A Gy CCR as a PGW sends it: IMSI and MSISDN, one MSCC of rating group
/// 10, the visited network in 3GPP-SGSN-MCC-MNC.
#[derive(Clone, Copy)]
pub struct GyCcr<'a> {
    pub session: &'a str,
    pub kind: u32,
    pub number: u32,
    pub e2e: u32,
    pub imsi: &'a str,
    pub requested: Option<u64>,
    pub used: u64,
    pub retransmit: bool,
    pub plmn: &'a str,
    pub origin: &'a str,
    /// Destination-Realm.
    pub realm: &'a str,
}

impl GyCcr<'static> {
    pub const BASE: GyCcr<'static> = GyCcr {
        session: "s",
        kind: 1,
        number: 0,
        e2e: 1,
        imsi: "262019000000001",
        requested: None,
        used: 0,
        retransmit: false,
        plmn: "26201",
        origin: "pgw.test.local",
        realm: "test.local",
    };
}

pub fn gy_ccr(c: &GyCcr<'_>) -> Vec<u8> {
    gy_ccr_with(c, |_| {}, |_| {})
}

/// `gy_ccr` plus what `top` adds at top level and `mscc` inside the MSCC.
pub fn gy_ccr_with(
    c: &GyCcr<'_>,
    top: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
    mscc: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, 272, 4, true, c.e2e, c.e2e);
    b.utf8(gyro::diameter::codes::SESSION_ID, c.session)
        .utf8(gyro::diameter::codes::ORIGIN_HOST, c.origin)
        .utf8(gyro::diameter::codes::ORIGIN_REALM, "test.local")
        .utf8(gyro::diameter::codes::DESTINATION_REALM, c.realm)
        .u32(gyro::diameter::codes::AUTH_APPLICATION_ID, 4)
        .utf8(gyro::diameter::builder::AvpDef::base(461), "32251@3gpp.org")
        .i32(gyro::diameter::builder::AvpDef::base(416), c.kind as i32)
        .u32(gyro::diameter::builder::AvpDef::base(415), c.number);
    // An MSISDN first: it must not take the IMSI's place.
    b.group(gyro::diameter::builder::AvpDef::base(443), |b| {
        b.i32(gyro::diameter::builder::AvpDef::base(450), 0)
            .utf8(gyro::diameter::builder::AvpDef::base(444), "491700009999");
    });
    b.group(gyro::diameter::builder::AvpDef::base(443), |b| {
        b.i32(gyro::diameter::builder::AvpDef::base(450), 1)
            .utf8(gyro::diameter::builder::AvpDef::base(444), c.imsi);
    });
    b.i32(gyro::diameter::builder::AvpDef::base(455), 1);
    top(&mut b);
    b.group(gyro::diameter::builder::AvpDef::base(456), |b| {
        if let Some(r) = c.requested {
            b.group(gyro::diameter::builder::AvpDef::base(437), |b| {
                b.u64(gyro::diameter::builder::AvpDef::base(421), r);
            });
        }
        if c.used > 0 {
            b.group(gyro::diameter::builder::AvpDef::base(446), |b| {
                b.u64(gyro::diameter::builder::AvpDef::base(421), c.used);
            });
        }
        b.u32(gyro::diameter::builder::AvpDef::base(432), 10);
        mscc(b);
    });
    b.group(
        gyro::diameter::builder::AvpDef::vendor(873, gyro::diameter::dictionary::VENDOR_3GPP, true),
        |b| {
            b.group(
                gyro::diameter::builder::AvpDef::vendor(
                    874,
                    gyro::diameter::dictionary::VENDOR_3GPP,
                    true,
                ),
                |b| {
                    b.utf8(
                        gyro::diameter::builder::AvpDef::vendor(
                            18,
                            gyro::diameter::dictionary::VENDOR_3GPP,
                            false,
                        ),
                        c.plmn,
                    );
                },
            );
        },
    );
    b.finish();
    if c.retransmit {
        buf[4] |= 0x10;
    }
    buf.to_vec()
}

impl Gyro {
    /// Starts gyro granting with a Validity-Time of 1 s, so Tcc (2 s) passes
    /// within a test.
    pub fn start_with_short_validity(tag: &str) -> Gyro {
        let dir = temp_dir(&format!("{tag}-rating"));
        let rating =
            gyro::rating::EMBEDDED.replace("validity_time = \"10m\"", "validity_time = \"1s\"");
        let path = dir.join("rating.toml");
        std::fs::write(&path, rating).unwrap();
        Self::start_with_charging(tag, "", &format!("rating = \"{}\"", path.display()))
    }
}

/// A Diameter node in-process on the built-in dictionaries, serving `apps`.
pub fn in_process_node(
    apps: Vec<std::sync::Arc<dyn gyro::diameter::transport::Application>>,
) -> gyro::diameter::transport::Node {
    use gyro::diameter::peer::{ConnConfig, LocalNode};
    use gyro::diameter::transport::{Node, NodeSettings};
    let local = std::sync::Arc::new(LocalNode::new(
        gyro::diameter::answer::Origin {
            host: "gyro.test.local".into(),
            realm: "test.local".into(),
            state_id: 1,
        },
        vec!["127.0.0.1".parse().unwrap()],
        vec![4],
        1,
    ));
    Node::new(
        NodeSettings {
            local,
            dictionary: std::sync::Arc::new(gyro::diameter::Dictionary::builtin()),
            conn: ConnConfig::default(),
            max_message_size: 65536,
            allowed_peers: None,
            reconnect_interval: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            relays: false,
            wall_time: gyro::model::clock::wall_time,
        },
        apps,
    )
}

/// A request on the Credit-Control application from pgw.test.local;
/// `extra` adds the command's own AVPs.
pub fn session_request(
    command: u32,
    session: &str,
    e2e: u32,
    extra: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, command, 4, true, e2e, e2e);
    b.utf8(gyro::diameter::codes::SESSION_ID, session)
        .utf8(gyro::diameter::codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(gyro::diameter::codes::ORIGIN_REALM, "test.local")
        .utf8(gyro::diameter::codes::DESTINATION_REALM, "test.local")
        .u32(gyro::diameter::codes::AUTH_APPLICATION_ID, 4);
    extra(&mut b);
    b.finish();
    buf.to_vec()
}

/// Sends a request and waits for its answer.
pub fn ask(p: &mut RawPeer, bytes: &[u8]) -> Vec<u8> {
    p.send(bytes);
    p.recv().expect("an answer")
}

/// Every xDR line the node wrote, parsed.
pub fn xdrs(g: &Gyro) -> Vec<serde_json::Value> {
    let mut out = vec![];
    for e in std::fs::read_dir(g.dir.join("data/xdr")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    out
}

/// Appends AVPs to an encoded request and fixes its length.
pub fn with_avps(
    mut msg: Vec<u8>,
    add: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, 0, 0, false, 0, 0);
    add(&mut b);
    b.finish();
    msg.extend_from_slice(&buf[20..]);
    let len = (msg.len() as u32).to_be_bytes();
    msg[1..4].copy_from_slice(&len[1..]);
    msg
}

/// A Proxy-Info a DRA would add: its host and its state.
pub fn proxy_info(b: &mut gyro::diameter::MessageBuilder<'_>, host: &str, state: &[u8]) {
    use gyro::diameter::builder::AvpDef;
    b.group(gyro::diameter::codes::PROXY_INFO, |b| {
        b.utf8(AvpDef::base(280), host)
            .octets(AvpDef::base(33), state);
    });
}

/// The data balance of the account of `imsi`: (used, reserved) octets.
pub fn data_balance(g: &Gyro, imsi: &str) -> (u64, u64) {
    let id = api_get(g, &format!("/api/v1/imsis/{imsi}"))["account"]["id"]
        .as_u64()
        .unwrap();
    let b = api_get(g, &format!("/api/v1/accounts/{id}/balance"));
    let n = |k: &str| b["data"][k].as_u64().unwrap();
    (n("used_octets"), n("reserved_octets"))
}

/// The octets granted in an answer's (first) MSCC.
pub fn granted_octets(answer: &[u8]) -> Option<u64> {
    let m = gyro::diameter::Message::new(answer).unwrap();
    m.find(456, 0)?.member(431, 0)?.member(421, 0)?.u64().ok()
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

/// A rating file with a 1 MB bundle, a 600 kB fair-usage threshold and
/// 400 kB grants, written under `tag`'s temp dir; its path.
pub fn small_bundle_rating(tag: &str) -> PathBuf {
    let rating = gyro::rating::EMBEDDED
        .replace("data_octets = 10000000\n", "data_octets = 400000\n")
        .replace(
            "data_octets = 100000000000\nfup_octets = 50000000000",
            "data_octets = 1000000\nfup_octets = 600000",
        );
    let path = temp_dir(tag).join("rating.toml");
    std::fs::write(&path, rating).unwrap();
    path
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

/// An admin API call with the development token: its status and JSON body
/// (Null when the body is not JSON).
pub fn api_send(
    g: &Gyro,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c
        .request(m, format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token");
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

/// A CCR-I from the home network's gateway on `imsi`: its Result-Code.
pub fn charge(g: &Gyro, imsi: &str, session: &str) -> Option<u32> {
    let mut p = open_peer(g, "pgw.test.local");
    let ccr = gy_ccr(&GyCcr {
        session,
        imsi,
        requested: Some(100_000),
        ..GyCcr::BASE
    });
    let a = ask(&mut p, &ccr);
    gyro::diameter::Message::new(&a).and_then(|m| m.result_code())
}

/// What a `gyro` command printed.
pub struct Cli {
    pub ok: bool,
    pub out: String,
    pub err: String,
}

/// Runs the `gyro` binary with `args`.
pub fn cli<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Cli {
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .output()
        .unwrap();
    Cli {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
