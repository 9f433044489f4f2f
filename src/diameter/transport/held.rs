//! Answers a connection holds until their application's ticket watermark
//! passes them (`Reply::AfterTicket`): no task and no wake-up per request.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::watch;

use super::count::InFlight;

/// Answers waiting for their application's ticket watermark
/// (`Reply::AfterTicket`): released in batches as it rises, in the order
/// their tickets allow.
#[derive(Default)]
pub(super) struct Held {
    rx: Option<watch::Receiver<u64>>,
    answers: VecDeque<(u64, Bytes, InFlight)>,
}

impl Held {
    /// `tickets` is asked only for a connection's first held answer.
    pub fn hold(
        &mut self,
        tickets: impl FnOnce() -> Option<watch::Receiver<u64>>,
        ticket: u64,
        answer: Bytes,
        g: InFlight,
    ) {
        if self.rx.is_none() {
            self.rx = tickets();
        }
        if self.rx.is_some() {
            self.answers.push_back((ticket, answer, g));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    pub async fn changed(&mut self) {
        match self.rx.as_mut() {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    // The application stopped issuing tickets: what waits
                    // was never made good, so it is never sent.
                    tracing::error!(
                        answers = self.answers.len(),
                        "ticket watermark gone; held answers dropped"
                    );
                    self.answers.clear();
                    self.rx = None;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// The answers the watermark now allows.
    pub fn release(&mut self, out: &mut Vec<Bytes>) {
        let Some(rx) = self.rx.as_mut() else { return };
        let mark = *rx.borrow_and_update();
        let mut i = 0;
        while i < self.answers.len() {
            if self.answers[i].0 <= mark {
                if let Some((_, b, _guard)) = self.answers.remove(i) {
                    out.push(b);
                }
            } else {
                i += 1;
            }
        }
    }
}
