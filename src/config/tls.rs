//! Validation of the TLS keys: `node.tls_*` for the listener and gyro's own
//! certificate, `tls`/`ca` on the entries of peers gyro dials. Only the
//! combinations are checked here; the files are read (and a bad one named)
//! when the node starts.

use std::path::Path;

use super::{ConfigError, NodeSection, PeerSection};

/// The TLS keys of one entry gyro dials: a `[[diameter.peers]]` entry, and
/// the same keys on the proxy's `[[proxy.upstream]]` entries.
pub struct Dial<'a> {
    /// The entry's name in errors, e.g. `diameter.peers[0]`.
    pub entry: &'a str,
    pub origin_host: &'a str,
    /// Whether the entry has a `connect` address.
    pub connect: bool,
    pub tls: bool,
    pub ca: Option<&'a Path>,
}

fn field(file: &str, field: &str, message: &str) -> ConfigError {
    ConfigError::Field {
        file: file.to_string(),
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// `tls = true` needs `ca` and `connect`, and an `origin_host` usable as the
/// certificate's name; `ca` without `tls` would dial in the clear, which is
/// never what its author meant.
pub fn validate_dial(file: &str, d: &Dial<'_>) -> Result<(), ConfigError> {
    let e = d.entry;
    if !d.tls {
        if d.ca.is_some() {
            return Err(field(
                file,
                &format!("{e}.tls"),
                "ca is set but tls is not: set tls = true to dial this peer over TLS",
            ));
        }
        return Ok(());
    }
    if d.ca.is_none() {
        return Err(field(
            file,
            &format!("{e}.ca"),
            "needed when tls = true: the PEM CA bundle that verifies the peer's certificate",
        ));
    }
    if !d.connect {
        return Err(field(
            file,
            &format!("{e}.tls"),
            "only for peers gyro dials (set connect); peers that connect to gyro use node.tls_listen",
        ));
    }
    if rustls_pki_types::DnsName::try_from(d.origin_host).is_err() {
        return Err(field(
            file,
            &format!("{e}.origin_host"),
            "must be a DNS name with tls = true: the peer's certificate is checked against it",
        ));
    }
    Ok(())
}

/// `validate_dial` for every `[[diameter.peers]]` entry.
pub fn validate_peers(file: &str, peers: &[PeerSection]) -> Result<(), ConfigError> {
    for (i, p) in peers.iter().enumerate() {
        let dial = Dial {
            entry: &format!("diameter.peers[{i}]"),
            origin_host: &p.origin_host,
            connect: p.connect.is_some(),
            tls: p.tls,
            ca: p.ca.as_deref(),
        };
        validate_dial(file, &dial)?;
    }
    Ok(())
}

impl PeerSection {
    /// The CA bundle the peer's certificate is checked against, when gyro
    /// dials it over TLS (validated: `tls` implies `ca`).
    pub fn tls_ca(&self) -> Option<&Path> {
        self.ca.as_deref().filter(|_| self.tls)
    }
}

/// The listener needs a certificate and its key; a client CA without a
/// listener would suggest client certificates are required where nothing
/// asks for them.
pub fn validate_node(file: &str, n: &NodeSection) -> Result<(), ConfigError> {
    match (&n.tls_cert, &n.tls_key) {
        (Some(_), None) => {
            return Err(field(
                file,
                "node.tls_key",
                "needed with node.tls_cert: the PEM private key of that certificate",
            ))
        }
        (None, Some(_)) => {
            return Err(field(
                file,
                "node.tls_cert",
                "needed with node.tls_key: the PEM certificate chain of that key",
            ))
        }
        _ => {}
    }
    let Some(listen) = n.tls_listen else {
        if n.tls_client_ca.is_some() {
            return Err(field(
                file,
                "node.tls_client_ca",
                "only used with node.tls_listen: set that too, or remove this key",
            ));
        }
        return Ok(());
    };
    if n.tls_cert.is_none() {
        return Err(field(
            file,
            "node.tls_cert",
            "needed when node.tls_listen is set: the PEM certificate chain gyro presents",
        ));
    }
    if Some(listen) == n.listen {
        return Err(field(
            file,
            "node.tls_listen",
            "must differ from node.listen (TLS runs from the first byte on its own port)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, EMBEDDED};

    const NODE: &str = "data_dir = \"./data\"\n";

    fn with_node(extra: &str) -> String {
        assert!(EMBEDDED.contains(NODE));
        EMBEDDED.replace(NODE, &format!("{NODE}{extra}\n"))
    }

    fn with_peer(entry: &str) -> String {
        format!("{EMBEDDED}\n[[diameter.peers]]\norigin_host = \"ocs.test.local\"\n{entry}\n")
    }

    fn error(text: &str) -> String {
        Config::parse(text, "x.toml").unwrap_err().to_string()
    }

    #[test]
    fn no_tls_by_default() {
        let c = Config::load(None).unwrap();
        assert!(c.node.tls_listen.is_none() && c.node.tls_cert.is_none());
        assert!(c.node.tls_key.is_none() && c.node.tls_client_ca.is_none());
    }

    #[test]
    fn a_listener_needs_a_certificate_and_key() {
        let e = error(&with_node("tls_listen = \"0.0.0.0:5868\""));
        assert!(e.starts_with("x.toml: node.tls_cert: needed"), "{e}");
        let e = error(&with_node(
            "tls_listen = \"0.0.0.0:5868\"\ntls_cert = \"c.pem\"",
        ));
        assert!(e.starts_with("x.toml: node.tls_key: needed"), "{e}");
        let e = error(&with_node("tls_key = \"k.pem\""));
        assert!(e.starts_with("x.toml: node.tls_cert: needed"), "{e}");
        let ok = with_node("tls_listen = \"0.0.0.0:5868\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntls_client_ca = \"ca.pem\"");
        let c = Config::parse(&ok, "x.toml").unwrap();
        assert_eq!(c.node.tls_listen.unwrap().port(), 5868);
    }

    #[test]
    fn client_ca_without_listener_and_same_port_are_refused() {
        let e = error(&with_node("tls_client_ca = \"ca.pem\""));
        assert!(
            e.contains("node.tls_client_ca: only used with node.tls_listen"),
            "{e}"
        );
        let e = error(&with_node(
            "tls_listen = \"0.0.0.0:3868\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"",
        ));
        assert!(e.contains("node.tls_listen: must differ"), "{e}");
    }

    #[test]
    fn a_tls_peer_needs_ca_connect_and_a_dns_name() {
        let e = error(&with_peer("connect = \"127.0.0.1:5868\"\ntls = true"));
        assert!(
            e.contains("diameter.peers[0].ca: needed when tls = true"),
            "{e}"
        );
        let e = error(&with_peer("tls = true\nca = \"ca.pem\""));
        assert!(
            e.contains("diameter.peers[0].tls: only for peers gyro dials"),
            "{e}"
        );
        let e = error(&with_peer("connect = \"127.0.0.1:5868\"\nca = \"ca.pem\""));
        assert!(
            e.contains("diameter.peers[0].tls: ca is set but tls is not"),
            "{e}"
        );
        let bad_name = with_peer("connect = \"127.0.0.1:5868\"\ntls = true\nca = \"ca.pem\"")
            .replace("\"ocs.test.local\"", "\"ocs_1!\"");
        let e = error(&bad_name);
        assert!(
            e.contains("diameter.peers[0].origin_host: must be a DNS name"),
            "{e}"
        );
        let ok = with_peer("connect = \"127.0.0.1:5868\"\ntls = true\nca = \"ca.pem\"");
        let c = Config::parse(&ok, "x.toml").unwrap();
        assert_eq!(
            c.diameter.peers[0].tls_ca(),
            Some(std::path::Path::new("ca.pem"))
        );
    }

    #[test]
    fn proxy_upstreams_take_the_same_keys() {
        let up = |entry: &str| {
            format!("{EMBEDDED}\n[[proxy.upstream]]\norigin_host = \"ocs.test.local\"\nconnect = \"127.0.0.1:5868\"\n{entry}\n")
        };
        let e = error(&up("tls = true"));
        assert!(
            e.contains("proxy.upstream[0].ca: needed when tls = true"),
            "{e}"
        );
        let e = error(&up("ca = \"ca.pem\""));
        assert!(
            e.contains("proxy.upstream[0].tls: ca is set but tls is not"),
            "{e}"
        );
        let c = Config::parse(&up("tls = true\nca = \"ca.pem\""), "x.toml").unwrap();
        assert!(c.proxy.upstream[0].tls);
    }
}
