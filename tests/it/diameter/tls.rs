//! Diameter over TLS (RFC 6733 §13, TLS from the first byte) against
//! freeDiameter (GnuTLS) in both roles, client certificates required and
//! refused, and the start-up errors of bad certificate, key and CA files.
//! Certificates are made per test with the openssl CLI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::pki::Pki;
use crate::support::*;

/// `[node]` lines for gyro's own certificate, and a TLS listener when `tls_port`.
pub(super) fn node_tls(pki: &Pki, tls_port: Option<u16>, client_ca: Option<&str>) -> String {
    let mut s = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.path("gyro.pem"),
        pki.path("gyro.key")
    );
    if let Some(p) = tls_port {
        s += &format!("tls_listen = \"127.0.0.1:{p}\"\n");
    }
    if let Some(ca) = client_ca {
        s += &format!("tls_client_ca = \"{}\"\n", pki.path(ca));
    }
    s
}

/// The value of the first /metrics sample starting with `prefix`; 0 when absent.
pub(super) fn metric(g: &Gyro, prefix: &str) -> f64 {
    let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn wait_for(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

const FAILED_IN: &str = "gyro_diameter_tls_handshake_failures_total{direction=\"in\"}";
const FAILED_OUT: &str = "gyro_diameter_tls_handshake_failures_total{direction=\"out\"}";

/// freeDiameter as a PGW over TLS to gyro's TLS port, with `cert`/`key`
/// and trusting `ca`; killed after `secs`. Its output, freeDiameter's log included.
fn fd_client(peers: &Path, pki: &Pki, port: u16, id: (&str, &str, &str), secs: u64) -> String {
    let (cert, key, ca) = id;
    let (_, out) = run(
        Command::new(peers.join("freediameter/fd_peer.sh")).args([
            "client",
            "--server",
            &format!("127.0.0.1:{port}"),
            "--tls",
            "--tls-cert",
            &pki.path(cert),
            "--tls-key",
            &pki.path(key),
            "--tls-ca",
            &pki.path(ca),
            "--peer-identity",
            "gyro.test.local",
            "--sessions",
            "1",
            "--updates",
            "1",
            "--loud",
        ]),
        Duration::from_secs(secs),
    );
    out
}

/// freeDiameter's PGW charges a session over TLS while a plain TCP peer
/// stays connected to the same node.
#[test]
fn freediameter_client_over_tls_is_charged() {
    let Some(peers) = peers_dir() else { return };
    let pki = Pki::new("tls-fd-client");
    let tls_port = free_port();
    let mut gyro = Gyro::start_with_node(
        "tls-fd-client",
        "gyro.test.local",
        &node_tls(&pki, Some(tls_port), None),
        "",
        "",
    );
    let _plain = open_peer(&gyro, "plain.test.local");
    let out = fd_client(&peers, &pki, tls_port, ("pgw.pem", "pgw.key", "ca.pem"), 60);
    assert!(out.contains("all CCA Result-Code 2001"), "{out}");
    assert!(
        out.contains("Connected to 'gyro.test.local' (TCP,TLS"),
        "freeDiameter did not connect over TLS:\n{out}"
    );
    let log = gyro.log_text();
    assert!(
        log.contains("TLS established") && log.contains("TLSv1_3"),
        "{log}"
    );
    assert!(
        log.contains("pgw.test.local") && log.contains("plain.test.local"),
        "{log}"
    );
    assert_eq!(metric(&gyro, FAILED_IN), 0.0);
    assert!(gyro.stop().success());
}

/// freeDiameter's OCS on its TLS port (`--tls-port`), started with output to `log`.
fn fd_tls_server(
    peers: &Path,
    pki: &Pki,
    port: u16,
    tls_port: u16,
    log: &Path,
) -> std::process::Child {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(peers.join("freediameter/fd_peer.sh"))
        .args([
            "server",
            "--port",
            &port.to_string(),
            "--tls-port",
            &tls_port.to_string(),
        ])
        .args([
            "--tls-cert",
            &pki.path("ocs.pem"),
            "--tls-key",
            &pki.path("ocs.key"),
        ])
        .args(["--tls-ca", &pki.path("ca.pem"), "--tw", "6"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // The plain port: probing the TLS one would be a failed handshake there.
    assert!(wait_listening(port, 30), "freeDiameter did not start");
    child
}

fn ocs_peer(tls_port: u16, ca: &str) -> String {
    format!(
        "[[diameter.peers]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{tls_port}\"\ntls = true\nca = \"{ca}\""
    )
}

/// gyro dials freeDiameter's TLS port: CER/CEA and DWR/DWA over TLS, DPR on
/// SIGTERM. Then the same with a CA that did not sign freeDiameter's
/// certificate: the handshake fails and is counted, the peer never comes up.
#[test]
fn gyro_dials_freediameter_over_tls() {
    let Some(peers) = peers_dir() else { return };
    let pki = Pki::new("tls-fd-server");
    let (port, tls_port) = (free_port(), free_port());
    let log = pki.dir.join("fd-server.log");
    let mut server = fd_tls_server(&peers, &pki, port, tls_port, &log);
    let node = node_tls(&pki, None, None);
    let mut gyro = Gyro::start_with_node(
        "tls-dial",
        "gyro.test.local",
        &node,
        &ocs_peer(tls_port, &pki.path("ca.pem")),
        "",
    );
    let up = "gyro_diameter_peer_up{peer=\"ocs.test.local\"}";
    let dwr = "gyro_diameter_messages_total{direction=\"in\",command=\"DW\",kind=\"request\"";
    let watched = wait_for(20, || metric(&gyro, up) == 1.0 && metric(&gyro, dwr) >= 1.0);
    let status = gyro.stop();
    let gyro_log = gyro.log_text();
    assert!(watched, "no TLS peer up with DWR/DWA:\n{gyro_log}");
    assert!(status.success(), "{gyro_log}");
    assert!(gyro_log.contains("TLS established"), "{gyro_log}");
    assert!(
        gyro_log.contains("Disconnected(Rebooting)"),
        "no DPR on SIGTERM:\n{gyro_log}"
    );

    let mut wrong = Gyro::start_with_node(
        "tls-dial-wrong-ca",
        "gyro.test.local",
        &node,
        &ocs_peer(tls_port, &pki.path("impostor-ca.pem")),
        "",
    );
    let refused = wait_for(15, || metric(&wrong, FAILED_OUT) >= 1.0);
    assert_eq!(metric(&wrong, up), 0.0);
    let wrong_log = wrong.log_text();
    assert!(refused, "no failed handshake counted:\n{wrong_log}");
    assert!(
        wrong_log.contains("TLS handshake failed")
            && wrong_log.contains(&format!("127.0.0.1:{tls_port}")),
        "{wrong_log}"
    );
    assert!(wrong.stop().success());
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = server.kill();
    let _ = server.wait();
    let fd = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        fd.contains("Connected to 'gyro.test.local' (TCP,TLS"),
        "{fd}"
    );
}

/// Proxy mode with a TLS upstream: gyro (embedded, as ocs.test.local)
/// serves TLS with client certificates required, and the proxy dials it
/// with `tls = true` on `[[proxy.upstream]]`, presenting its own
/// certificate; a CCR through the proxy is charged upstream.
#[test]
fn proxy_upstream_over_tls() {
    let pki = Pki::new("tls-proxy");
    let tls_port = free_port();
    let ocs_node = format!(
        "tls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_ca = \"{}\"\n",
        pki.path("ocs.pem"),
        pki.path("ocs.key"),
        pki.path("ca.pem")
    );
    let ocs = Gyro::start_with_node("tls-px-ocs", "ocs.test.local", &ocs_node, "", "");
    let upstream = format!(
        "[proxy]\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{tls_port}\"\ntls = true\nca = \"{}\"\n",
        pki.path("ca.pem")
    );
    let node = node_tls(&pki, None, None);
    let proxy = Gyro::start_with_node(
        "tls-px",
        "gyro.test.local",
        &node,
        &upstream,
        "mode = \"proxy\"",
    );
    let up = "gyro_diameter_peer_up{peer=\"ocs.test.local\"}";
    assert!(
        wait_for(20, || metric(&proxy, up) == 1.0),
        "{}",
        proxy.log_text()
    );
    let mut pgw = open_peer(&proxy, "pgw.test.local");
    let cca = ask(
        &mut pgw,
        &gy_ccr(&GyCcr {
            requested: Some(1000),
            ..GyCcr::BASE
        }),
    );
    assert_eq!(result_code(&cca), Some(2001), "{}", proxy.log_text());
    let log = ocs.log_text();
    assert!(
        log.contains("TLS established") && log.contains("gyro.test.local"),
        "{log}"
    );
    assert_eq!(metric(&ocs, FAILED_IN), 0.0);
}

/// A rustls client on gyro's TLS port presenting `identity` (certificate
/// and key files), or none: the CEA to its CER as `host`, or what stopped it.
pub(super) fn rustls_cer(
    pki: &Pki,
    port: u16,
    identity: Option<(&str, &str)>,
    host: &str,
) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = |f: &str| -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(pki.path(f))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(certs("ca.pem"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                certs(cert),
                PrivateKeyDer::from_pem_file(pki.path(key)).unwrap(),
            )
            .unwrap(),
    };
    let name = "gyro.test.local".try_into().unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let e = |e: std::io::Error| e.to_string();
    tls.write_all(&cer(host)).map_err(e)?;
    let mut hdr = [0u8; 4];
    tls.read_exact(&mut hdr).map_err(e)?;
    let len = u32::from_be_bytes([0, hdr[1], hdr[2], hdr[3]]) as usize;
    let mut msg = vec![0u8; len.saturating_sub(4)];
    tls.read_exact(&mut msg).map_err(e)?;
    Ok([hdr.to_vec(), msg].concat())
}

pub(super) fn result_code(msg: &[u8]) -> Option<u32> {
    gyro::diameter::Message::new(msg).and_then(|m| m.result_code())
}

/// With node.tls_client_ca, a client whose certificate is not from that CA
/// (freeDiameter with an impostor CA's, rustls with a self-signed one or
/// none) gets no CEA and is counted; clients with good certificates work.
#[test]
fn client_certificates_are_required_with_a_client_ca() {
    let Some(peers) = peers_dir() else { return };
    let pki = Pki::new("tls-client-ca");
    let tls_port = free_port();
    let node = node_tls(&pki, Some(tls_port), Some("ca.pem"));
    let mut gyro = Gyro::start_with_node("tls-client-ca", "gyro.test.local", &node, "", "");
    let id = (
        "impostor-pgw.pem",
        "impostor-pgw.key",
        "impostor-bundle.pem",
    );
    let out = fd_client(&peers, &pki, tls_port, id, 8);
    assert!(!out.contains("CCA") && !out.contains("STATE_OPEN"), "{out}");
    let counted = metric(&gyro, FAILED_IN);
    assert!(counted >= 1.0, "{}", gyro.log_text());
    for identity in [Some(("self-pgw.pem", "self-pgw.key")), None] {
        let r = rustls_cer(&pki, tls_port, identity, "pgw.test.local");
        assert!(r.is_err(), "{identity:?} got an answer: {r:?}");
    }
    assert!(metric(&gyro, FAILED_IN) >= counted + 2.0);
    let log = gyro.log_text();
    assert!(
        log.contains("TLS handshake failed") && log.contains("invalid peer certificate"),
        "{log}"
    );
    assert!(!log.contains("peer up"), "{log}");

    let cea = rustls_cer(
        &pki,
        tls_port,
        Some(("pgw.pem", "pgw.key")),
        "pgw.test.local",
    )
    .unwrap();
    assert_eq!(result_code(&cea), Some(2001));
    let out = fd_client(&peers, &pki, tls_port, ("pgw.pem", "pgw.key", "ca.pem"), 60);
    assert!(out.contains("all CCA Result-Code 2001"), "{out}");
    assert!(gyro.stop().success());
}

/// `gyro serve` on a configuration with `node_extra` in [node] and
/// `diameter_extra` in [diameter]: (exited 0, stderr).
fn serve_once(tag: &str, node_extra: &str, diameter_extra: &str) -> (bool, String) {
    let dir = temp_dir(tag);
    let text = config_text(&dir, free_port(), free_port(), free_port(), diameter_extra);
    let cfg = dir.join("gyro.toml");
    std::fs::write(&cfg, with_node_extra(&text, node_extra)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gyro"));
    cmd.args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_BACKTRACE", "0")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    run(&mut cmd, Duration::from_secs(30))
}

/// A missing certificate, a key file without a key, a key of another
/// certificate, a CA file without certificates: gyro stops at once, naming
/// the key and the file, and shows nothing of the key.
#[test]
fn bad_tls_files_stop_the_start() {
    let pki = Pki::new("tls-bad-files");
    let p = |f: &str| pki.path(f);
    let listen = format!("tls_listen = \"127.0.0.1:{}\"\n", free_port());
    let node =
        |cert: &str, key: &str| format!("{listen}tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n");
    let good = node(&p("gyro.pem"), &p("gyro.key"));
    let cases = [
        (
            node(&p("missing.pem"), &p("gyro.key")),
            String::new(),
            format!("node.tls_cert: {}: cannot read", p("missing.pem")),
        ),
        (
            node(&p("gyro.pem"), &p("gyro.pem")),
            String::new(),
            format!("node.tls_key: {}: no private key found", p("gyro.pem")),
        ),
        (
            node(&p("gyro.pem"), &p("pgw.key")),
            String::new(),
            format!(
                "node.tls_key: {}: does not match the certificate in {}",
                p("pgw.key"),
                p("gyro.pem")
            ),
        ),
        (
            node(&p("gyro.key"), &p("gyro.key")),
            String::new(),
            format!("node.tls_cert: {}: no certificate found", p("gyro.key")),
        ),
        (
            format!("{good}tls_client_ca = \"{}\"\n", p("gyro.key")),
            String::new(),
            format!(
                "node.tls_client_ca: {}: no certificate found",
                p("gyro.key")
            ),
        ),
        (
            good.clone(),
            ocs_peer(free_port(), &p("missing-ca.pem")),
            format!("diameter.peers[0].ca: {}: cannot read", p("missing-ca.pem")),
        ),
        (
            listen.clone(),
            String::new(),
            "node.tls_cert: needed when node.tls_listen is set".into(),
        ),
    ];
    // A line of base64 from each key file: none may appear in the output.
    let secrets: Vec<String> = ["gyro.key", "pgw.key"]
        .iter()
        .map(|k| pki.read(k).lines().nth(1).unwrap().to_string())
        .collect();
    for (i, (node_extra, diameter_extra, expect)) in cases.iter().enumerate() {
        let (ok, out) = serve_once(&format!("tls-bad-{i}"), node_extra, diameter_extra);
        assert!(
            !ok && out.contains("Error:"),
            "case {i}: gyro did not refuse to start:\n{out}"
        );
        assert!(
            out.contains(expect.as_str()),
            "case {i}: expected {expect:?} in:\n{out}"
        );
        for s in &secrets {
            assert!(
                !out.contains(s.as_str()),
                "case {i}: key material in the output:\n{out}"
            );
        }
    }
}
