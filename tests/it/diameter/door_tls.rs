//! TLS tied to identities, over real sockets: a client certificate must
//! name the Origin-Host its CER claims (any case); a peer gyro dials must
//! answer as the host it dialled; and `node.listen = ""` runs TLS only,
//! with no plain listener at all.

use std::process::Command;
use std::time::Duration;

use super::admission::refusal;
use super::tls::{metric, node_tls, result_code, rustls_cer};
use crate::support::pki::Pki;
use crate::support::*;

/// A client with pgw.test.local's certificate is pgw.test.local, in any
/// case; the same certificate with a CER claiming another name gets 3010
/// and the connection closes.
#[test]
fn a_client_certificate_must_name_the_origin_host() {
    let pki = Pki::new("door-tls-name");
    let tls_port = free_port();
    let node = node_tls(&pki, Some(tls_port), Some("ca.pem"));
    let g = Gyro::start_with_node("door-tls-name", "gyro.test.local", &node, "", "");
    let pgw = Some(("pgw.pem", "pgw.key"));
    for claimed in ["evil.test.local", "ocs.test.local"] {
        let cea = rustls_cer(&pki, tls_port, pgw, claimed).expect("a CEA");
        let (rc, e_bit, why) = refusal(&cea);
        assert_eq!((rc, e_bit), (Some(3010), true), "{why}");
        assert!(why.contains(&format!("does not name {claimed}")), "{why}");
    }
    for claimed in ["pgw.test.local", "PGW.Test.Local"] {
        let cea = rustls_cer(&pki, tls_port, pgw, claimed).expect("a CEA");
        assert_eq!(result_code(&cea), Some(2001), "{claimed}");
    }
    let log = g.log_text();
    assert!(
        log.contains("the TLS certificate does not name evil.test.local"),
        "{log}"
    );
}

/// gyro dials ocs.test.local over TLS; the node there has that name's
/// certificate but answers the CER as other.test.local. The certificate
/// proved who holds the key, so the CEA's name must be the same: gyro
/// closes, and no peer comes up under either name.
#[test]
fn a_dialled_peer_must_answer_as_the_host_dialled() {
    let pki = Pki::new("door-tls-dial");
    let tls_port = free_port();
    let other_node = format!(
        "tls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.path("ocs.pem"),
        pki.path("ocs.key")
    );
    let _other = Gyro::start_with_node("door-tls-other", "other.test.local", &other_node, "", "");
    let peer = format!(
        "[[diameter.peers]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:{tls_port}\"\ntls = true\nca = \"{}\"",
        pki.path("ca.pem")
    );
    let node = node_tls(&pki, None, None);
    let g = Gyro::start_with_node("door-tls-dial", "gyro.test.local", &node, &peer, "");
    wait_until(20, "the refused answer in the log", || {
        g.log_text()
            .contains("dialled ocs.test.local, answered as other.test.local")
    });
    for name in ["ocs.test.local", "other.test.local", "other"] {
        let up = format!("gyro_diameter_peer_up{{peer=\"{name}\"}}");
        assert_eq!(metric(&g, &up), 0.0, "{name} came up:\n{}", g.log_text());
    }
}

/// `gyro serve` with `node.listen = ""` and a TLS listener: the only ports
/// the process listens on are TLS, the admin API and the metrics, and a
/// client with a certificate gets its CEA over TLS.
#[test]
fn an_empty_listen_runs_tls_only() {
    let pki = Pki::new("door-tls-only");
    let dir = temp_dir("door-tls-only");
    let (plain, tls_port, metrics, api) = (free_port(), free_port(), free_port(), free_port());
    let text = config_text(&dir, plain, metrics, api, "")
        .replace(&format!("listen = \"127.0.0.1:{plain}\""), "listen = \"\"");
    let text = with_node_extra(&text, &node_tls(&pki, Some(tls_port), Some("ca.pem")));
    let cfg = dir.join("gyro.toml");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.join("gyro.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = wait_listening(api, 30) && wait_listening(tls_port, 30);
    let ports = listening_ports(child.id());
    let cea = rustls_cer(
        &pki,
        tls_port,
        Some(("pgw.pem", "pgw.key")),
        "pgw.test.local",
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(started, "gyro did not start:\n{text}");
    let mut expected = vec![tls_port, metrics, api];
    expected.sort();
    assert_eq!(ports, expected, "only TLS, the API and metrics listen");
    assert_eq!(cea.ok().and_then(|c| result_code(&c)), Some(2001), "{text}");
    assert!(text.contains("Diameter over TLS only"), "{text}");
    assert!(!text.contains("Diameter node listening"), "{text}");
}

/// The TCP ports process `pid` listens on, sorted, as `ss` shows them.
fn listening_ports(pid: u32) -> Vec<u16> {
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out) = run(Command::new("ss").args(["-Hltnp"]), Duration::from_secs(10));
    assert!(ok, "ss (Debian package iproute2) failed: {out}");
    let mine = format!("pid={pid},");
    let mut ports: Vec<u16> = out
        .lines()
        .filter(|l| l.contains(&mine))
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|a| a.rsplit(':').next()?.parse().ok())
        .collect();
    ports.sort();
    ports.dedup();
    ports
}
