//! Which gateway a session belongs to, for the requests the OCS sends it
//! (RAR, ASR): the Origin-Host and Origin-Realm of its CCRs, and the peer
//! they came over. Sessions share one record per gateway, so that keeping
//! it costs a CCR no allocation once the gateway is known.

use std::sync::Arc;

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::ccr::Ccr;

#[derive(Debug, PartialEq, Eq)]
pub struct Gateway {
    /// The CCRs' Origin-Host: a server-initiated request's Destination-Host.
    pub host: Box<str>,
    /// The CCRs' Origin-Realm: its Destination-Realm.
    pub realm: Box<str>,
    /// The Diameter peer the CCRs came over, which carries the request
    /// back: the gateway itself, or a DRA between.
    pub peer: Box<str>,
}

impl Gateway {
    fn is(&self, host: &str, realm: &str, peer: &str) -> bool {
        *self.host == *host && *self.realm == *realm && *self.peer == *peer
    }
}

/// An open session of an account, as a server-initiated request needs it.
#[derive(Debug, Clone)]
pub struct OpenSession {
    pub session_id: Box<str>,
    pub iccid: u128,
    /// None for a session whose requests named no Origin-Host.
    pub gateway: Option<Arc<Gateway>>,
}

/// Who knows an account's open sessions and their gateways: the engine
/// for those it charges, the proxy for those it relays.
pub trait SessionDirectory: Send + Sync {
    fn open_sessions(&self, account: u64) -> Vec<OpenSession>;
}

/// One shared record per gateway Origin-Host.
#[derive(Debug, Default)]
pub struct Gateways {
    known: DashMap<Box<str>, Arc<Gateway>, FxBuildHasher>,
}

impl Gateways {
    /// The gateway of a session after this request: `current` while it
    /// still describes the sender (the usual case: no look-up), else the
    /// shared record, made on first sight. A request without Origin-Host
    /// changes nothing.
    pub fn of(&self, current: Option<Arc<Gateway>>, ccr: &Ccr<'_>) -> Option<Arc<Gateway>> {
        let (host, realm) = (ccr.origin_host, ccr.origin_realm);
        if host.is_empty() {
            return current;
        }
        let peer = if ccr.via_peer.is_empty() {
            host
        } else {
            ccr.via_peer
        };
        if let Some(g) = current.filter(|g| g.is(host, realm, peer)) {
            return Some(g);
        }
        if let Some(g) = self.known.get(host).filter(|g| g.is(host, realm, peer)) {
            return Some(g.clone());
        }
        let g = Arc::new(Gateway {
            host: host.into(),
            realm: realm.into(),
            peer: peer.into(),
        });
        self.known.insert(host.into(), g.clone());
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ccr<'a>(host: &'a str, realm: &'a str, peer: &'a str) -> Ccr<'a> {
        Ccr {
            origin_host: host,
            origin_realm: realm,
            via_peer: peer,
            ..Ccr::default()
        }
    }

    #[test]
    fn sessions_of_one_gateway_share_its_record() {
        let g = Gateways::default();
        let a = g.of(None, &ccr("pgw", "r", "pgw")).unwrap();
        let b = g.of(None, &ccr("pgw", "r", "pgw")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let kept = g.of(Some(a.clone()), &ccr("pgw", "r", "pgw")).unwrap();
        assert!(Arc::ptr_eq(&a, &kept));
    }

    #[test]
    fn a_gateway_behind_a_dra_is_reached_through_the_dra() {
        let g = Gateways::default();
        let a = g.of(None, &ccr("pgw", "r", "")).unwrap();
        assert_eq!(&*a.peer, "pgw", "no peer known: the gateway itself");
        let b = g.of(Some(a), &ccr("pgw", "r", "dra")).unwrap();
        assert_eq!((&*b.host, &*b.peer), ("pgw", "dra"));
        assert!(
            g.of(Some(b.clone()), &ccr("", "", "dra"))
                .is_some_and(|x| Arc::ptr_eq(&x, &b)),
            "no Origin-Host: unchanged"
        );
    }
}
