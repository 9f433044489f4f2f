//! Which gateway a session belongs to, for the requests the OCS sends it
//! (RAR, ASR): the Origin-Host and Origin-Realm of its CCRs, and the peer
//! they came over. Sessions share one record per gateway, so that keeping
//! it costs a CCR no allocation once the gateway is known. The names are
//! the ones requests carry, so the shared records are bounded: those no
//! session holds any more are dropped when room is needed.

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

/// The most gateway records kept for sharing: far more gateways than a
/// network has, far fewer than the names a peer could make up.
const MAX_KNOWN: usize = 4096;

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
        if self.known.len() >= MAX_KNOWN {
            // Records only this map holds belong to sessions that ended.
            self.known.retain(|_, g| Arc::strong_count(g) > 1);
        }
        // Still full: every record is in use; this one goes unshared.
        if self.known.len() < MAX_KNOWN {
            self.known.insert(host.into(), g.clone());
        }
        Some(g)
    }

    /// How many records are kept for sharing.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
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
    fn names_no_session_holds_are_dropped_when_room_is_needed() {
        let g = Gateways::default();
        let names: Vec<String> = (0..MAX_KNOWN + 10).map(|i| format!("gw{i}")).collect();
        // Sessions that ended: their records are held by nothing else.
        for n in &names {
            drop(g.of(None, &ccr(n, "r", n)));
        }
        assert!(g.len() <= MAX_KNOWN, "bounded: {}", g.len());
        assert!(g.len() < 20, "ended sessions' records went: {}", g.len());
        // Sessions still open keep theirs; past the bound, new ones are
        // not shared but still work.
        let held: Vec<_> = names.iter().map(|n| g.of(None, &ccr(n, "r", n))).collect();
        assert_eq!(g.len(), MAX_KNOWN);
        assert!(held.iter().all(Option::is_some));
        assert_eq!(
            held.last().unwrap().as_ref().unwrap().host.as_ref(),
            names.last().unwrap()
        );
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
