//! The way down: a RAR or ASR the OCS sends for a session goes to the peer
//! the session's requests came over, with the gateway's own identities put
//! back and our Route-Record added; its answer goes back up as the gateway
//! sent it. A session the proxy does not know gets 5002 from the proxy.

use bytes::{Bytes, BytesMut};

use super::app::{refuse, relay_back, Proxy};
use super::rewrite::{forward_request, Forward, Names};
use crate::diameter::answer::Origin;
use crate::diameter::codes::result;
use crate::diameter::Message;

impl Proxy {
    pub(super) async fn relay_down(&self, req: &Message<'_>, origin: &Origin) -> Bytes {
        let sid = req.session_id().unwrap_or_default();
        let Some(side) = self.gateways.get(sid).map(|g| g.clone()) else {
            let why = format!("no session {sid} passed through this proxy");
            return refuse(origin, req, result::UNKNOWN_SESSION_ID, why);
        };
        let mut buf = BytesMut::with_capacity(req.raw().len() + 64);
        let f = Forward {
            our_host: &origin.host,
            // The OCS addressed the gateway (the CCR's Origin-Host) already.
            destination_host: None,
            names: if side.identities.is_empty() {
                Names::Unchanged
            } else {
                Names::Original(&side.identities)
            },
            visited: None,
            retransmit: req.header.is_retransmit(),
        };
        if forward_request(&mut buf, req, &f).is_err() {
            let why = "the request already passed through this node".to_string();
            return refuse(origin, req, result::LOOP_DETECTED, why);
        }
        match self.upstreams.send(&side.peer, buf.freeze(), self.tx).await {
            Ok(answer) => relay_back(origin, req, &answer),
            Err(e) => {
                let why = format!("gateway {} not reached: {e}", side.peer);
                refuse(origin, req, result::UNABLE_TO_DELIVER, why)
            }
        }
    }
}

/// The sessions the proxy relays for an account, with their gateways: a
/// closure's ASR reaches them (the gateway then ends them upstream).
impl crate::charging::gateway::SessionDirectory for Proxy {
    fn open_sessions(&self, account: u64) -> Vec<crate::charging::gateway::OpenSession> {
        use crate::charging::gateway::{Gateway, OpenSession};
        self.gateways
            .iter()
            .filter(|g| g.account == account)
            .map(|g| OpenSession {
                session_id: g.key().as_str().into(),
                iccid: 0,
                gateway: Some(std::sync::Arc::new(Gateway {
                    host: g.host.clone(),
                    realm: g.realm.clone(),
                    peer: g.peer.as_str().into(),
                })),
            })
            .collect()
    }
}
