//! Requests on their way up, by (Session-Id, CC-Request-Number,
//! End-to-End id). A gateway's retransmission that arrives while the first
//! copy is still being relayed waits for that copy's answer instead of
//! going up again: the OCS would recognise the duplicate, but gyro would
//! record the usage's wholesale cost twice.

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::watch;

type Key = (Box<str>, u32, u32);

#[derive(Default)]
pub struct Relaying {
    by_request: DashMap<Key, watch::Receiver<Option<Bytes>>>,
}

/// What a request finds when it starts up.
pub enum Claim<'a> {
    /// It is the first: relay it, then `finish` with the answer.
    First(Relaying1<'a>),
    /// A copy is on its way: its answer, once it comes (None when that copy
    /// ended without one; then this one goes up itself).
    Copy(watch::Receiver<Option<Bytes>>),
}

/// The first copy's duty: to hand its answer to the copies that wait. If
/// it is dropped without one, the waiting copies go up themselves.
pub struct Relaying1<'a> {
    owner: &'a Relaying,
    key: Key,
    tx: watch::Sender<Option<Bytes>>,
}

impl Relaying {
    pub fn claim(&self, session: &str, number: u32, e2e: u32) -> Claim<'_> {
        let key: Key = (session.into(), number, e2e);
        match self.by_request.entry(key.clone()) {
            dashmap::Entry::Occupied(e) => Claim::Copy(e.get().clone()),
            dashmap::Entry::Vacant(v) => {
                let (tx, rx) = watch::channel(None);
                v.insert(rx);
                Claim::First(Relaying1 {
                    owner: self,
                    key,
                    tx,
                })
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_request.is_empty()
    }
}

impl Relaying1<'_> {
    pub fn finish(self, answer: &Bytes) {
        let _ = self.tx.send(Some(answer.clone()));
    }
}

impl Drop for Relaying1<'_> {
    fn drop(&mut self) {
        self.owner.by_request.remove(&self.key);
    }
}

/// The first copy's answer, or None when it ended without one.
pub async fn wait(mut rx: watch::Receiver<Option<Bytes>>) -> Option<Bytes> {
    match rx.wait_for(|a| a.is_some()).await {
        Ok(a) => a.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_gets_the_first_ones_answer_and_the_key_goes_after() {
        let r = Relaying::default();
        let Claim::First(first) = r.claim("s", 1, 7) else {
            panic!("the first claim is the first");
        };
        let Claim::Copy(rx) = r.claim("s", 1, 7) else {
            panic!("a second claim is a copy");
        };
        assert!(matches!(r.claim("s", 1, 8), Claim::First(_)), "another e2e");
        first.finish(&Bytes::from_static(b"cca"));
        assert_eq!(wait(rx).await.as_deref(), Some(&b"cca"[..]));
        assert!(r.is_empty());
    }

    #[tokio::test]
    async fn a_first_that_ends_without_an_answer_lets_the_copy_go() {
        let r = Relaying::default();
        let Claim::First(first) = r.claim("s", 1, 7) else {
            panic!("first");
        };
        let Claim::Copy(rx) = r.claim("s", 1, 7) else {
            panic!("copy");
        };
        drop(first);
        assert_eq!(wait(rx).await, None);
    }
}
