//! The local answer while no upstream answers (`on_upstream_down =
//! "local"`): gyro's own rating within the failsafe grant, and the request
//! journalled, durably and before the answer leaves, with all it takes to
//! present it to the OCS later as itself.

use bytes::Bytes;

use super::app::{refuse, Proxy, LOCAL_ANSWERS};
use super::forward::GoingUp;
use crate::charging::ccr::Ccr;
use crate::diameter::answer::Origin;
use crate::diameter::codes::result;
use crate::diameter::Message;
use crate::inventory::proxy_journal::JournalEntry;
use crate::model::clock::wall_time;

/// Local answers journalled.
pub const JOURNALLED: &str = "gyro_proxy_journalled_total";

impl Proxy {
    /// Answers `req` from gyro's own rating; a successful answer leaves
    /// only once the request is in the journal.
    pub(super) async fn answer_locally(
        &self,
        origin: &Origin,
        req: &Message<'_>,
        peer: &str,
        up: &GoingUp<'_>,
    ) -> Bytes {
        metrics::counter!(LOCAL_ANSWERS).increment(1);
        let ccr = Ccr::read(req);
        let (sid, number) = (ccr.session_id, ccr.request_number);
        let now = self.local.clock.now();
        let fresh = self.journal.claim(sid, number, req.header.end_to_end, now);
        let (answer, seq) = self.local.charge(req, origin, peer, wall_time());
        self.durable(seq).await;
        // A retransmission of one being journalled: the engine gave the
        // kept answer, and the journal has the request already.
        let acknowledged = Message::new(&answer).and_then(|m| m.result_code());
        if !fresh || acknowledged != Some(result::SUCCESS) {
            self.journal.unclaim(sid, number, fresh);
            return answer;
        }
        let mut e = JournalEntry {
            id: 0,
            at: now,
            session_id: sid.to_string(),
            request_number: number,
            end_to_end: req.header.end_to_end,
            account: up.account,
            request: req.raw().to_vec(),
            identity: (
                up.canonical.kind,
                up.canonical.data.clone(),
                up.canonical.user_name.clone(),
            ),
            visited: up.visited.map(str::to_string),
            answer: answer.to_vec(),
            parked: None,
            attempts: 0,
        };
        let inv = self.inventory.clone();
        let stored = tokio::task::spawn_blocking(move || inv.journal_append(&mut e)).await;
        match stored {
            Ok(Ok(())) => {
                metrics::counter!(JOURNALLED).increment(1);
                self.journal.journalled(sid, number, answer.clone());
                answer
            }
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(())) => String::new(),
                };
                tracing::error!(session = sid, error = %why, "local answer not journalled; refused with 3004");
                self.journal.unclaim(sid, number, true);
                let why = "the failsafe journal cannot be written".to_string();
                refuse(origin, req, result::TOO_BUSY, why)
            }
        }
    }
}
