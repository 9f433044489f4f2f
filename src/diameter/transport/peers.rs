//! The node's peer table: which identities may connect, which connections are
//! up, and the election between two connections to one peer (RFC 6733 §5.6.4).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::diameter::codes::result;
use crate::diameter::peer::{Admission, PeerCapabilities, PeerPolicy, Role};

#[derive(Debug)]
struct Conn {
    id: u64,
    role: Role,
    open: bool,
    /// Wakes the connection's task to make it close (election lost).
    kill: Arc<Notify>,
}

pub struct PeerTable {
    local_host: String,
    allowed: Option<Vec<String>>,
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    next_id: AtomicU64,
}

/// A connection's registration; dropping it removes the connection.
pub struct Registration {
    table: Arc<PeerTable>,
    pub id: u64,
    pub kill: Arc<Notify>,
    identity: Mutex<Option<String>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(host) = self.identity.lock().map(|mut g| g.take()).unwrap_or(None) {
            if let Ok(mut m) = self.table.conns.lock() {
                if let Some(v) = m.get_mut(&host) {
                    v.retain(|c| c.id != self.id);
                    if v.is_empty() {
                        m.remove(&host);
                    }
                }
            }
        }
    }
}

impl PeerTable {
    /// `allowed`: Origin-Hosts allowed to connect; None accepts any peer.
    pub fn new(local_host: &str, allowed: Option<Vec<String>>) -> Arc<Self> {
        Arc::new(PeerTable {
            local_host: local_host.to_ascii_lowercase(),
            allowed: allowed.map(|v| v.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn register(self: &Arc<Self>) -> Registration {
        Registration {
            table: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            kill: Arc::new(Notify::new()),
            identity: Mutex::new(None),
        }
    }

    /// An outbound connection announces which peer it is dialling, so that a
    /// CER from that peer meanwhile triggers the election.
    pub fn dialling(&self, reg: &Registration, host: &str) {
        self.insert(reg, host, Role::Initiator, false);
    }

    fn insert(&self, reg: &Registration, host: &str, role: Role, open: bool) {
        let host = host.to_ascii_lowercase();
        if let Ok(mut m) = self.conns.lock() {
            let v = m.entry(host.clone()).or_default();
            if let Some(c) = v.iter_mut().find(|c| c.id == reg.id) {
                c.open = open;
            } else {
                v.push(Conn {
                    id: reg.id,
                    role,
                    open,
                    kill: reg.kill.clone(),
                });
            }
        }
        if let Ok(mut g) = reg.identity.lock() {
            *g = Some(host);
        }
    }

    pub fn open_peers(&self) -> Vec<String> {
        self.conns
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.iter().any(|c| c.open))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The admission decision for one connection.
    pub fn policy<'a>(&'a self, reg: &'a Registration) -> impl PeerPolicy + 'a {
        TablePolicy { table: self, reg }
    }
}

struct TablePolicy<'a> {
    table: &'a PeerTable,
    reg: &'a Registration,
}

impl PeerPolicy for TablePolicy<'_> {
    fn admit(&self, caps: &PeerCapabilities, role: Role) -> Admission {
        let host = caps.origin_host.to_ascii_lowercase();
        if let Some(allowed) = &self.table.allowed {
            if !allowed.contains(&host) {
                return Admission::Reject {
                    result_code: result::UNKNOWN_PEER,
                    message: format!("peer {} is not configured", caps.origin_host),
                };
            }
        }
        if role == Role::Responder {
            // Election: we are dialling the same peer and its CER raced ours.
            // The higher Origin-Host wins and keeps the connection it received.
            let dialling: Vec<Arc<Notify>> = self
                .table
                .conns
                .lock()
                .map(|m| {
                    m.get(&host)
                        .map(|v| {
                            v.iter()
                                .filter(|c| c.role == Role::Initiator && !c.open)
                                .map(|c| c.kill.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            if !dialling.is_empty() {
                if self.table.local_host > host {
                    for k in dialling {
                        k.notify_one();
                    }
                } else {
                    return Admission::Reject {
                        result_code: result::ELECTION_LOST,
                        message: "election lost".into(),
                    };
                }
            }
        }
        self.table.insert(self.reg, &host, role, true);
        Admission::Accept
    }
}
