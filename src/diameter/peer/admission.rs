//! Who may connect, and what each peer may send, sans-IO: the rules an
//! operator wrote (`[[diameter.peers]]` with a role and source addresses,
//! and what to do with identities nobody listed), applied to what the
//! transport knows when a CER or CEA arrives (the source address, the TLS
//! client certificate, the host it dialled).

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use crate::diameter::header::command;

/// What a peer is to this node, which decides what it may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PeerRole {
    /// A PGW, an IMS or SMS node, or a DRA in front of them: it asks for
    /// credit (CCR) and ends sessions (STR).
    #[default]
    Gateway,
    /// An OCS gyro forwards to (proxy mode): it sends RAR and ASR down.
    Ocs,
    /// A sponsor's Gy/Ro proxy: credit control like a gateway, for IMSIs
    /// the sponsor lent.
    SponsorProxy,
}

impl PeerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Gateway => "gateway",
            PeerRole::Ocs => "ocs",
            PeerRole::SponsorProxy => "sponsor_proxy",
        }
    }

    /// Whether a peer of this role may send a request of `command`.
    /// Base-protocol requests (CER, DWR, DPR) are the state machine's and
    /// never asked about.
    pub fn may_send(self, cmd: u32) -> bool {
        match self {
            PeerRole::Gateway | PeerRole::SponsorProxy => {
                matches!(cmd, command::CREDIT_CONTROL | command::SESSION_TERMINATION)
            }
            PeerRole::Ocs => matches!(cmd, command::RE_AUTH | command::ABORT_SESSION),
        }
    }
}

impl FromStr for PeerRole {
    type Err = AdmissionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gateway" => Ok(PeerRole::Gateway),
            "ocs" => Ok(PeerRole::Ocs),
            "sponsor_proxy" => Ok(PeerRole::SponsorProxy),
            other => Err(AdmissionError::Role(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    #[error("'{0}' is not an address or a network (192.0.2.10, 198.51.100.0/24, 2001:db8::/32)")]
    Source(String),
    #[error("unknown role '{0}' (known: gateway, ocs, sponsor_proxy)")]
    Role(String),
}

/// An address, or a network in CIDR form, a peer may connect from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceNet {
    net: IpAddr,
    prefix: u8,
}

impl SourceNet {
    pub fn host(ip: IpAddr) -> SourceNet {
        let ip = ip.to_canonical();
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        SourceNet { net: ip, prefix }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for SourceNet {
    type Err = AdmissionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AdmissionError::Source(s.to_string());
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let full = SourceNet::host(ip);
        match prefix {
            None => Ok(full),
            Some(p) if p <= full.prefix => Ok(SourceNet {
                net: full.net,
                prefix: p,
            }),
            Some(_) => Err(bad()),
        }
    }
}

impl std::fmt::Display for SourceNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// What happens to a CER from an Origin-Host no rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPeers {
    /// Refused (3010): only listed peers connect.
    Refuse,
    /// Admitted as gateways from loopback addresses only, so that a node
    /// on its defaults serves the tools on its own machine and no one else.
    #[default]
    Loopback,
    /// Admitted from anywhere, as gateways.
    Anyone,
}

/// One listed peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRule {
    pub role: PeerRole,
    /// Where it may connect from; empty: anywhere.
    pub sources: Vec<SourceNet>,
}

/// The node's admission rules.
#[derive(Debug, Clone, Default)]
pub struct PeerRules {
    /// By Origin-Host, lower case.
    listed: HashMap<String, PeerRule>,
    unknown: UnknownPeers,
}

/// What the transport knows of a connection when its peer names itself.
pub struct Arrival<'a> {
    /// The peer's address; None only in tests without a socket.
    pub remote: Option<IpAddr>,
    /// Some for a TLS client certificate: whether it names a host.
    pub certificate: Option<&'a dyn Fn(&str) -> bool>,
    /// The Origin-Host gyro dialled, on a connection it opened.
    pub dialled: Option<&'a str>,
}

/// Why a peer was refused: a short `reason` for metrics, and the words
/// for the CEA's Error-Message and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `unknown`, `address`, `certificate` or `dialled`.
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: String) -> Refusal {
    Refusal { reason, message }
}

/// A peer let in: its role, and whether an operator listed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub role: PeerRole,
    pub listed: bool,
}

impl PeerRules {
    pub fn new(unknown: UnknownPeers) -> PeerRules {
        PeerRules {
            listed: HashMap::new(),
            unknown,
        }
    }

    /// Lists a peer; a second rule for one host adds its sources, and the
    /// more powerful role (an OCS) wins.
    pub fn add(&mut self, origin_host: &str, rule: PeerRule) {
        let key = origin_host.to_ascii_lowercase();
        match self.listed.get_mut(&key) {
            None => {
                self.listed.insert(key, rule);
            }
            Some(r) => {
                if rule.role == PeerRole::Ocs {
                    r.role = PeerRole::Ocs;
                }
                if r.sources.is_empty() || rule.sources.is_empty() {
                    r.sources.clear();
                } else {
                    r.sources.extend(rule.sources);
                }
            }
        }
    }

    pub fn unknown(&self) -> UnknownPeers {
        self.unknown
    }

    /// Whether the peer that says it is `host` may use this connection;
    /// the refusal says why, for the CEA's Error-Message and the log.
    pub fn decide(&self, host: &str, at: &Arrival<'_>) -> Result<Admitted, Refusal> {
        if let Some(dialled) = at.dialled {
            if !dialled.eq_ignore_ascii_case(host) {
                let why = format!("dialled {dialled}, answered as {host}");
                return Err(refuse("dialled", why));
            }
        }
        if let Some(names) = at.certificate {
            if !names(host) {
                let why = format!("the TLS certificate does not name {host}");
                return Err(refuse("certificate", why));
            }
        }
        match self.listed.get(&host.to_ascii_lowercase()) {
            Some(rule) => {
                // gyro chose the address of a connection it dialled.
                let from_anywhere = rule.sources.is_empty() || at.dialled.is_some();
                let ok = from_anywhere
                    || at
                        .remote
                        .is_some_and(|ip| rule.sources.iter().any(|s| s.contains(ip)));
                if !ok {
                    let from = at.remote.map(|ip| ip.to_string()).unwrap_or_default();
                    let why = format!("peer {host} may not connect from {from}");
                    return Err(refuse("address", why));
                }
                Ok(Admitted {
                    role: rule.role,
                    listed: true,
                })
            }
            None => self.unknown_peer(host, at.remote),
        }
    }

    fn unknown_peer(&self, host: &str, remote: Option<IpAddr>) -> Result<Admitted, Refusal> {
        let admitted = Admitted {
            role: PeerRole::Gateway,
            listed: false,
        };
        match self.unknown {
            UnknownPeers::Anyone => Ok(admitted),
            UnknownPeers::Loopback if remote.is_some_and(|ip| ip.to_canonical().is_loopback()) => {
                Ok(admitted)
            }
            UnknownPeers::Loopback => Err(refuse(
                "unknown",
                format!("peer {host} is not configured, and unknown peers may connect from loopback only"),
            )),
            UnknownPeers::Refuse => Err(refuse("unknown", format!("peer {host} is not configured"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn from(remote: &str) -> Arrival<'static> {
        Arrival {
            remote: ip(remote),
            certificate: None,
            dialled: None,
        }
    }

    #[test]
    fn networks_contain_their_addresses() {
        let n: SourceNet = "198.51.100.0/24".parse().unwrap();
        assert!(n.contains(ip("198.51.100.77").unwrap()));
        assert!(!n.contains(ip("198.51.101.1").unwrap()));
        assert!(n.contains(ip("::ffff:198.51.100.1").unwrap()), "mapped v4");
        let one: SourceNet = "192.0.2.10".parse().unwrap();
        assert!(one.contains(ip("192.0.2.10").unwrap()));
        assert!(!one.contains(ip("192.0.2.11").unwrap()));
        let v6: SourceNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5").unwrap()));
        assert!(!v6.contains(ip("198.51.100.1").unwrap()));
        let all: SourceNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9").unwrap()));
        for bad in ["192.0.2.300", "192.0.2.0/33", "pgw", "10.0.0.0/x", ""] {
            assert!(bad.parse::<SourceNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_peers_by_rule() {
        let loopback = PeerRules::new(UnknownPeers::Loopback);
        let ok = loopback.decide("pgw", &from("127.0.0.1")).unwrap();
        assert_eq!((ok.role, ok.listed), (PeerRole::Gateway, false));
        assert!(loopback.decide("pgw", &from("::1")).is_ok());
        assert!(loopback.decide("pgw", &from("::ffff:127.0.0.1")).is_ok());
        let e = loopback.decide("evil", &from("192.0.2.2")).unwrap_err();
        assert_eq!(e.reason, "unknown");
        assert!(e.message.contains("loopback only"), "{e:?}");
        let open = PeerRules::new(UnknownPeers::Anyone);
        assert!(open.decide("evil", &from("192.0.2.2")).is_ok());
        let closed = PeerRules::new(UnknownPeers::Refuse);
        assert!(closed.decide("pgw", &from("127.0.0.1")).is_err());
    }

    #[test]
    fn listed_peers_come_from_their_addresses() {
        let mut r = PeerRules::new(UnknownPeers::Loopback);
        let sources = vec!["192.0.2.10".parse().unwrap()];
        r.add(
            "OCS.example",
            PeerRule {
                role: PeerRole::Ocs,
                sources,
            },
        );
        let ok = r.decide("ocs.EXAMPLE", &from("192.0.2.10")).unwrap();
        assert_eq!((ok.role, ok.listed), (PeerRole::Ocs, true));
        let e = r.decide("ocs.example", &from("127.0.0.1")).unwrap_err();
        assert_eq!(e.reason, "address");
        assert!(
            e.message.contains("may not connect from 127.0.0.1"),
            "{e:?}"
        );
        let dialled = Arrival {
            dialled: Some("ocs.example"),
            ..from("203.0.113.1")
        };
        assert!(r.decide("ocs.example", &dialled).is_ok(), "gyro chose it");
        let e = r.decide("other.example", &dialled).unwrap_err();
        assert_eq!(e.reason, "dialled");
        assert!(e.message.contains("answered as other.example"), "{e:?}");
    }

    #[test]
    fn a_certificate_must_name_the_origin_host() {
        let r = PeerRules::new(UnknownPeers::Anyone);
        let names = |h: &str| h.eq_ignore_ascii_case("pgw.test.local");
        let at = |remote| Arrival {
            certificate: Some(&names),
            ..from(remote)
        };
        assert!(r.decide("PGW.test.local", &at("192.0.2.2")).is_ok());
        let e = r.decide("evil.test.local", &at("192.0.2.2")).unwrap_err();
        assert_eq!(e.reason, "certificate");
        assert!(e.message.contains("does not name evil.test.local"), "{e:?}");
    }

    #[test]
    fn each_role_sends_its_own_commands() {
        use command::*;
        for role in [PeerRole::Gateway, PeerRole::SponsorProxy] {
            assert!(role.may_send(CREDIT_CONTROL) && role.may_send(SESSION_TERMINATION));
            assert!(!role.may_send(RE_AUTH) && !role.may_send(ABORT_SESSION));
        }
        let ocs = PeerRole::Ocs;
        assert!(ocs.may_send(RE_AUTH) && ocs.may_send(ABORT_SESSION));
        assert!(!ocs.may_send(CREDIT_CONTROL) && !ocs.may_send(SESSION_TERMINATION));
        assert!(!ocs.may_send(ACCOUNTING) && !PeerRole::Gateway.may_send(ACCOUNTING));
        assert_eq!(
            "sponsor_proxy".parse::<PeerRole>(),
            Ok(PeerRole::SponsorProxy)
        );
        assert!("hss".parse::<PeerRole>().is_err());
    }
}
