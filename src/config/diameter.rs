//! `[diameter]` and its `[[diameter.peers]]`: timers, sizes, dictionaries,
//! and the door (who may connect, in which role, from where, how many at
//! once), checked so that errors name the key; and the node's admission
//! rules built from them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{ConfigError, HumaneDuration, NodeSection};
use crate::diameter::peer::admission::{PeerRule, SourceNet, UnknownPeers};
use crate::diameter::peer::{PeerRole, PeerRules};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiameterSection {
    pub watchdog_interval: HumaneDuration,
    pub handshake_timeout: HumaneDuration,
    /// An accepted connection that sends no CER in this time is closed.
    pub cer_timeout: HumaneDuration,
    pub dpa_timeout: HumaneDuration,
    /// Tx: how long a request gyro sends (RAR, ASR) waits for its answer.
    pub request_timeout: HumaneDuration,
    pub reconnect_interval: HumaneDuration,
    pub shutdown_grace: HumaneDuration,
    pub max_message_size: u32,
    pub dictionary_dir: Option<PathBuf>,
    pub dictionaries: Vec<PathBuf>,
    /// Peers no `[[diameter.peers]]` entry names: `false`, `"loopback"`
    /// (the default) or `true`.
    pub accept_unknown_peers: UnknownPeersSetting,
    /// Accepted connections open at once; past it new ones are closed.
    pub max_connections: usize,
    /// Requests in flight in the whole node; past it they get 3004.
    pub max_inflight: usize,
    /// RFC 6733 as written: an unknown AVP with the M bit is 5001, an unknown
    /// value of an M-bit enumeration 5004. false accepts both (gateways send
    /// vendor AVPs and values newer than the dictionary), except the
    /// enumerations that say what a command does (CC-Request-Type).
    pub strict_m_bit: bool,
    pub peers: Vec<PeerSection>,
}

impl Default for DiameterSection {
    fn default() -> Self {
        DiameterSection {
            watchdog_interval: HumaneDuration(Duration::from_secs(30)),
            handshake_timeout: HumaneDuration(Duration::from_secs(10)),
            cer_timeout: HumaneDuration(Duration::from_secs(5)),
            dpa_timeout: HumaneDuration(Duration::from_secs(5)),
            request_timeout: HumaneDuration(Duration::from_secs(5)),
            reconnect_interval: HumaneDuration(Duration::from_secs(30)),
            shutdown_grace: HumaneDuration(Duration::from_secs(10)),
            max_message_size: 65_536,
            dictionary_dir: Some(PathBuf::from("dictionaries")),
            dictionaries: vec![],
            accept_unknown_peers: UnknownPeersSetting::default(),
            max_connections: 1024,
            max_inflight: 65_536,
            strict_m_bit: true,
            peers: vec![],
        }
    }
}

/// `diameter.accept_unknown_peers`: a boolean, as it always was, or
/// `"loopback"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnknownPeersSetting(pub UnknownPeers);

impl<'de> Deserialize<'de> for UnknownPeersSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(UnknownPeersSetting(UnknownPeers::Anyone)),
            Raw::Flag(false) => Ok(UnknownPeersSetting(UnknownPeers::Refuse)),
            Raw::Word(w) if w == "loopback" => Ok(UnknownPeersSetting(UnknownPeers::Loopback)),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "accept_unknown_peers: '{w}' is not true, false or \"loopback\""
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    pub origin_host: String,
    /// `gateway` (left out), `ocs` or `sponsor_proxy`: what it may send.
    #[serde(default)]
    pub role: Option<String>,
    /// Addresses or networks it may connect from; empty: anywhere (an
    /// `ocs` peer: only its `connect` address).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Set to make gyro open (and keep) the connection.
    pub connect: Option<SocketAddr>,
    /// Dial `connect` over TLS, verifying the peer's certificate against `ca`
    /// for the name `origin_host`.
    #[serde(default)]
    pub tls: bool,
    pub ca: Option<PathBuf>,
}

impl PeerSection {
    /// The role, checked by `validate`.
    pub fn peer_role(&self) -> PeerRole {
        self.role
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or_default()
    }

    /// Where it may connect from, checked by `validate`: its addresses, or
    /// for an OCS without any, the address gyro dials.
    pub fn sources(&self) -> Vec<SourceNet> {
        let mut v: Vec<SourceNet> = self
            .addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        if v.is_empty() && self.peer_role() == PeerRole::Ocs {
            v.extend(self.connect.map(|c| SourceNet::host(c.ip())));
        }
        v
    }
}

/// `node.listen = ""`: no plain TCP listener.
pub(super) fn optional_address<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "'{s}' is not ADDRESS:PORT (\"\" runs TLS only, on node.tls_listen)"
        ))
    })
}

fn field(file: &str, field: &str, message: &str) -> ConfigError {
    ConfigError::Field {
        file: file.to_string(),
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// The door's keys: listeners, caps, and every peer's identity, role and
/// addresses.
pub(super) fn validate(
    file: &str,
    node: &NodeSection,
    d: &DiameterSection,
) -> Result<(), ConfigError> {
    if node.listen.is_none() && node.tls_listen.is_none() {
        return Err(field(
            file,
            "node.listen",
            "empty, which runs TLS only, but node.tls_listen is not set: gyro would listen nowhere",
        ));
    }
    for (k, v) in [
        ("diameter.max_connections", d.max_connections),
        ("diameter.max_inflight", d.max_inflight),
    ] {
        if v == 0 {
            return Err(field(file, k, "must be at least 1"));
        }
    }
    if d.cer_timeout.0 < Duration::from_millis(100) {
        return Err(field(
            file,
            "diameter.cer_timeout",
            "must be at least 100ms",
        ));
    }
    for (i, p) in d.peers.iter().enumerate() {
        validate_peer(file, i, p)?;
    }
    if d.accept_unknown_peers.0 == UnknownPeers::Refuse && d.peers.is_empty() {
        return Err(field(
            file,
            "diameter.peers",
            "accept_unknown_peers = false needs at least one [[diameter.peers]] entry",
        ));
    }
    Ok(())
}

fn validate_peer(file: &str, i: usize, p: &PeerSection) -> Result<(), ConfigError> {
    let at = |k: &str| format!("diameter.peers[{i}].{k}");
    let ident_ok = !p.origin_host.is_empty()
        && p.origin_host.is_ascii()
        && !p.origin_host.contains(char::is_whitespace);
    if !ident_ok {
        return Err(field(
            file,
            &at("origin_host"),
            "must be a non-empty ASCII FQDN",
        ));
    }
    if let Some(r) = &p.role {
        if let Err(e) = r.parse::<PeerRole>() {
            return Err(field(file, &at("role"), &e.to_string()));
        }
    }
    for a in &p.addresses {
        if let Err(e) = a.parse::<SourceNet>() {
            return Err(field(file, &at("addresses"), &e.to_string()));
        }
    }
    if p.peer_role() == PeerRole::Ocs && p.addresses.is_empty() && p.connect.is_none() {
        return Err(field(
            file,
            &at("addresses"),
            "needed for role = \"ocs\" without connect: an OCS may send RAR and ASR, so it must come from known addresses",
        ));
    }
    Ok(())
}

impl DiameterSection {
    /// The node's admission rules: the listed peers, and the proxy's
    /// upstreams (`upstreams`: Origin-Host and the address gyro dials),
    /// which are OCS peers reachable only from that address.
    pub fn peer_rules(&self, upstreams: &[(&str, SocketAddr)]) -> PeerRules {
        let mut rules = PeerRules::new(self.accept_unknown_peers.0);
        for p in &self.peers {
            let rule = PeerRule {
                role: p.peer_role(),
                sources: p.sources(),
            };
            rules.add(&p.origin_host, rule);
        }
        for (host, connect) in upstreams {
            let rule = PeerRule {
                role: PeerRole::Ocs,
                sources: vec![SourceNet::host(connect.ip())],
            };
            rules.add(host, rule);
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, EMBEDDED};
    use crate::diameter::peer::admission::{Arrival, UnknownPeers};
    use crate::diameter::peer::PeerRole;

    fn with_peer(entry: &str) -> String {
        format!("{EMBEDDED}\n[[diameter.peers]]\norigin_host = \"ocs.test.local\"\n{entry}\n")
    }

    fn error(text: &str) -> String {
        Config::parse(text, "x.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_door_is_loopback_only() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.diameter.accept_unknown_peers.0, UnknownPeers::Loopback);
        assert_eq!(
            (c.diameter.max_connections, c.diameter.max_inflight),
            (1024, 65_536)
        );
        let open = EMBEDDED.replace(
            "accept_unknown_peers = \"loopback\"",
            "accept_unknown_peers = true",
        );
        let c = Config::parse(&open, "x.toml").unwrap();
        assert_eq!(c.diameter.accept_unknown_peers.0, UnknownPeers::Anyone);
        let e = error(&EMBEDDED.replace(
            "accept_unknown_peers = \"loopback\"",
            "accept_unknown_peers = \"lan\"",
        ));
        assert!(
            e.contains("'lan' is not true, false or \"loopback\""),
            "{e}"
        );
    }

    #[test]
    fn roles_and_addresses_are_checked() {
        let e = error(&with_peer("role = \"hss\""));
        assert!(
            e.contains("diameter.peers[0].role: unknown role 'hss'"),
            "{e}"
        );
        let e = error(&with_peer("addresses = [\"192.0.2.300\"]"));
        assert!(
            e.contains("diameter.peers[0].addresses: '192.0.2.300' is not"),
            "{e}"
        );
        let e = error(&with_peer("role = \"ocs\""));
        assert!(
            e.contains("diameter.peers[0].addresses: needed for role = \"ocs\""),
            "{e}"
        );
        let c = Config::parse(
            &with_peer("role = \"ocs\"\nconnect = \"192.0.2.10:3868\""),
            "x.toml",
        )
        .unwrap();
        let rules = c.diameter.peer_rules(&[]);
        let at = |ip: &str| Arrival {
            remote: Some(ip.parse().unwrap()),
            certificate: None,
            dialled: None,
        };
        let ok = rules.decide("ocs.test.local", &at("192.0.2.10")).unwrap();
        assert_eq!(ok.role, PeerRole::Ocs);
        assert!(rules.decide("ocs.test.local", &at("127.0.0.1")).is_err());
    }

    #[test]
    fn an_empty_listen_runs_tls_only() {
        let tls_only = EMBEDDED.replace("listen = \"0.0.0.0:3868\"", "listen = \"\"");
        let e = error(&tls_only);
        assert!(e.contains("node.listen: empty, which runs TLS only"), "{e}");
        let node = "data_dir = \"./data\"\n";
        let with_tls = tls_only.replace(
            node,
            &format!(
                "{node}tls_listen = \"0.0.0.0:5868\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"
            ),
        );
        let c = Config::parse(&with_tls, "x.toml").unwrap();
        assert!(c.node.listen.is_none());
        let e = error(&EMBEDDED.replace("listen = \"0.0.0.0:3868\"", "listen = \"3868\""));
        assert!(e.contains("'3868' is not ADDRESS:PORT"), "{e}");
    }
}
