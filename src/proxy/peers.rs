//! The proxy's upstreams over the node's peer table: the connections the
//! node dials and keeps up (watchdog, reconnect, DPR) carry the forwarded
//! requests.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use super::app::{SendFailure, SendFuture, Upstreams};
use crate::diameter::transport::{PeerTable, SendError};

/// Bound once the node exists (the node needs its applications first).
#[derive(Default)]
pub struct PeerUpstreams(pub OnceLock<Arc<PeerTable>>);

impl Upstreams for PeerUpstreams {
    fn is_up(&self, host: &str) -> bool {
        self.0.get().is_some_and(|t| t.is_open(host))
    }

    fn send(&self, host: &str, request: Bytes, tx: Duration) -> SendFuture {
        let Some(t) = self.0.get() else {
            return Box::pin(async { Err(SendFailure::NotConnected) });
        };
        let sent = t.send_request(host, request, tx);
        Box::pin(async move {
            sent.await.map_err(|e| match e {
                SendError::NoOpenConnection | SendError::NotARequest => SendFailure::NotConnected,
                SendError::TransportLost => SendFailure::TransportLost,
                SendError::Timeout => SendFailure::Timeout,
            })
        })
    }
}
