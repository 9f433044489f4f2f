//! The interface between the Diameter node and the applications it serves
//! (credit control): a parsed request and `now` in, an encoded answer out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::diameter::answer::Origin;
use crate::diameter::dictionary::Dictionary;
use crate::diameter::message::Message;
use crate::diameter::peer::PeerCapabilities;

/// A validated application request, owning its frame (no copy: `Bytes` is shared).
pub struct Request {
    frame: Bytes,
    pub peer: Arc<PeerCapabilities>,
}

impl Request {
    pub(crate) fn new(frame: Bytes, peer: Arc<PeerCapabilities>) -> Self {
        Request { frame, peer }
    }
    pub fn message(&self) -> Message<'_> {
        // The dispatcher only builds a Request from a frame that parsed.
        Message::new(&self.frame).expect("request frames are validated before dispatch")
    }
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// What the node gives an application to build answers with.
pub struct AppContext {
    pub origin: Origin,
    pub dictionary: Arc<Dictionary>,
}

impl AppContext {
    /// A fresh buffer for an answer (callers may keep and reuse their own).
    pub fn buffer(&self) -> BytesMut {
        BytesMut::with_capacity(512)
    }
}

pub type AnswerFuture = Pin<Box<dyn Future<Output = Option<Bytes>> + Send>>;

/// Synchronous answers skip a task spawn; answers that wait (on the disk, on an
/// upstream OCS) run concurrently with the rest of the connection's requests.
pub enum Reply {
    Ready(Option<Bytes>),
    Later(AnswerFuture),
    /// Ready, but not to be sent before the application's ticket watermark
    /// (`Application::tickets`) reaches `ticket`. The connection holds such
    /// answers itself and releases them in batches as the watermark moves:
    /// no task and no wake-up per request.
    AfterTicket {
        ticket: u64,
        answer: Bytes,
    },
}

pub trait Application: Send + Sync + 'static {
    /// The Application-Id this serves (4 for credit control).
    fn application_id(&self) -> u32;
    fn handle(&self, request: Request, ctx: &AppContext, now: SystemTime) -> Reply;
    /// The watermark `Reply::AfterTicket` answers wait for (it only rises).
    fn tickets(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}
