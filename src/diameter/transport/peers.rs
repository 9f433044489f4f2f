//! The node's peer table: which identities may connect, which connections are
//! up, the election between two connections to one peer (RFC 6733 §5.6.4),
//! and the way in for requests gyro sends to a peer (`send_request`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

use super::outbound::{self, OutboundRequest, OutboundRx, OutboundTx, SendError, SendResult};
use crate::diameter::codes::result;
use crate::diameter::header::{flags, HEADER_LEN};
use crate::diameter::peer::admission::{Admitted, Arrival, PeerRules, UnknownPeers};
use crate::diameter::peer::{Admission, PeerCapabilities, PeerPolicy, Role};

#[derive(Debug)]
struct Conn {
    id: u64,
    role: Role,
    open: bool,
    /// Wakes the connection's task to make it close (election lost).
    kill: Arc<Notify>,
    /// Requests for the connection's task to send (`send_request`).
    outbound: OutboundTx,
}

pub struct PeerTable {
    local_host: String,
    rules: PeerRules,
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    next_id: AtomicU64,
}

/// A connection's registration; dropping it removes the connection.
pub struct Registration {
    table: Arc<PeerTable>,
    pub id: u64,
    pub kill: Arc<Notify>,
    identity: Mutex<Option<String>>,
    outbound: OutboundTx,
    /// Set when the peer was let in.
    admitted: Mutex<Option<Admitted>>,
}

impl Registration {
    /// The role and standing the peer was admitted with.
    pub fn admitted(&self) -> Option<Admitted> {
        self.admitted.lock().ok().and_then(|g| *g)
    }
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
    /// `rules`: who may connect, from where, in which role.
    pub fn new(local_host: &str, rules: PeerRules) -> Arc<Self> {
        Arc::new(PeerTable {
            local_host: local_host.to_ascii_lowercase(),
            rules,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// A new connection's registration, and the queue of the requests
    /// `send_request` gives it once it is open.
    pub(super) fn register(self: &Arc<Self>) -> (Registration, OutboundRx) {
        let (outbound, rx) = outbound::channel();
        let reg = Registration {
            table: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            kill: Arc::new(Notify::new()),
            identity: Mutex::new(None),
            outbound,
            admitted: Mutex::new(None),
        };
        (reg, rx)
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
                    outbound: reg.outbound.clone(),
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

    /// Sends an application request to the peer `host` (its Origin-Host,
    /// any case) and resolves to its answer, with the request's own
    /// Hop-by-Hop id restored; on the wire it travels under an id of the
    /// connection's. `tx` bounds the wait (Tx) from this call on.
    ///
    /// The request is queued when this is called, not when the future is
    /// first polled: start several, then await them, and they are in flight
    /// together. The future holds no borrow of the table. When a peer has
    /// several open connections (it opened two), the oldest carries it;
    /// the election leaves one per peer otherwise.
    pub fn send_request(
        &self,
        host: &str,
        request: Bytes,
        tx: Duration,
    ) -> impl Future<Output = SendResult> + Send + 'static {
        let command = match request.get(5..8) {
            Some(c) => u32::from_be_bytes([0, c[0], c[1], c[2]]),
            None => 0,
        };
        let queued = self.submit(host, request, tx);
        async move {
            let r = match queued {
                // A dropped reply: the connection's task ended with it.
                Ok(rx) => rx.await.unwrap_or(Err(SendError::TransportLost)),
                Err(e) => Err(e),
            };
            outbound::count_outbound(command, &r);
            r
        }
    }

    fn submit(
        &self,
        host: &str,
        request: Bytes,
        tx: Duration,
    ) -> Result<oneshot::Receiver<SendResult>, SendError> {
        if request.len() < HEADER_LEN || request[4] & flags::REQUEST == 0 {
            return Err(SendError::NotARequest);
        }
        let conn = self
            .open_connection(host)
            .ok_or(SendError::NoOpenConnection)?;
        let (reply, rx) = oneshot::channel();
        let r = OutboundRequest {
            request,
            deadline: Instant::now() + tx,
            reply,
        };
        // A closed queue: the connection ended since the look-up.
        conn.send(r).map_err(|_| SendError::NoOpenConnection)?;
        Ok(rx)
    }

    /// Whether `host` has a connection that takes requests now.
    pub fn is_open(&self, host: &str) -> bool {
        self.open_connection(host).is_some()
    }

    /// The queue of the open connection that carries requests to `host`.
    fn open_connection(&self, host: &str) -> Option<OutboundTx> {
        let m = self.conns.lock().ok()?;
        // Keys are lower case; most callers already write names that way.
        let v = match m.get(host) {
            Some(v) => v,
            None => m.get(&host.to_ascii_lowercase())?,
        };
        v.iter().find(|c| c.open).map(|c| c.outbound.clone())
    }

    /// The admission decision for one connection, on what is known of it.
    pub fn policy<'a>(
        &'a self,
        reg: &'a Registration,
        arrival: Arrival<'a>,
    ) -> impl PeerPolicy + 'a {
        TablePolicy {
            table: self,
            reg,
            arrival,
        }
    }
}

struct TablePolicy<'a> {
    table: &'a PeerTable,
    reg: &'a Registration,
    arrival: Arrival<'a>,
}

impl PeerPolicy for TablePolicy<'_> {
    fn admit(&self, caps: &PeerCapabilities, role: Role) -> Admission {
        let host = caps.origin_host.to_ascii_lowercase();
        let admitted = match self.table.rules.decide(&caps.origin_host, &self.arrival) {
            Ok(a) => a,
            Err(refusal) => {
                let reason = refusal.reason;
                metrics::counter!(super::metrics_names::PEERS_REFUSED, "reason" => reason)
                    .increment(1);
                tracing::warn!(peer = %caps.origin_host, remote = ?self.arrival.remote, reason, why = %refusal.message, "peer refused");
                return Admission::Reject {
                    result_code: result::UNKNOWN_PEER,
                    message: refusal.message,
                };
            }
        };
        if !admitted.listed && self.table.rules.unknown() == UnknownPeers::Anyone {
            tracing::warn!(peer = %caps.origin_host, remote = ?self.arrival.remote, "unknown peer admitted because accept_unknown_peers = true");
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
        if let Ok(mut g) = self.reg.admitted.lock() {
            *g = Some(admitted);
        }
        Admission::Accept
    }
}
