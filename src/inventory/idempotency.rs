//! Idempotency keys for the operations a client may send again when it did
//! not hear the answer (onboarding): the first answer is kept under the key,
//! in the same batch as the operation, so the answer exists exactly when
//! the change does. The same key with the same request gets that answer
//! back without a second operation; with another request it is refused.
//! Keys are kept `KEEP_SECS`; each use removes a few that have expired.
//!
//! Layout: `idem/<scope>/<key>` the kept answer; `idemexp/<expiry>/<scope>/<key>`
//! the same key in order of expiry, for the clean-up.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::{decode, StorageExt, StoreError, WriteBatch};
use super::{invalid, Inventory, InventoryError};
use crate::model::{Account, Profile, UnixTime};

/// How long a key's answer is kept: a day, as common practice has it.
pub const KEEP_SECS: i64 = 86_400;
/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;
const KEYS: &str = "idem/";
const EXPIRY: &str = "idemexp/";
/// Expired keys removed per use, so that one use stays short.
const PURGE_PER_USE: usize = 100;

/// The answer kept with a key, and the request it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptAnswer {
    pub request: Value,
    pub status: u16,
    pub body: Value,
    pub expires_at: UnixTime,
}

impl super::store::Record for KeptAnswer {}

/// What an operation under a key came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Once {
    /// The answer: the operation's own (`replayed` false) or the one kept
    /// from the first time the key came (`replayed` true).
    Answer {
        status: u16,
        body: Value,
        replayed: bool,
    },
    /// The key came before with another request: nothing was done.
    KeyReused,
}

/// A key as a client sent it: 1 to `MAX_KEY_CHARS` visible ASCII
/// characters, optionally in double quotes (a structured-field string).
pub fn parse_key(raw: &str) -> Result<String, InventoryError> {
    let k = raw.trim();
    let k = k
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(k);
    let ok = (1..=MAX_KEY_CHARS).contains(&k.len()) && k.bytes().all(|c| c.is_ascii_graphic());
    if !ok {
        return Err(invalid(
            "Idempotency-Key",
            "1 to 255 visible ASCII characters (a UUID is a good key)",
        ));
    }
    Ok(k.to_string())
}

fn key_record(scope: &str, key: &str) -> String {
    format!("{KEYS}{scope}/{key}")
}

fn expiry_record(expires_at: UnixTime, scope: &str, key: &str) -> String {
    format!("{EXPIRY}{:020}/{scope}/{key}", expires_at.max(0))
}

impl Inventory {
    /// Onboards once per `key`: the first time, `onboard` with `answer`'s
    /// rendering of the result kept under the key in the same commit; again
    /// with the same `request`, that kept answer; with another, `KeyReused`.
    /// Errors are not kept: nothing was done, and a retry tries again.
    pub fn onboard_once(
        &self,
        key: &str,
        request: Value,
        onboard: (&str, &str, Option<&str>),
        answer: impl FnOnce(&Account, &Profile) -> (u16, Value),
    ) -> Result<Once, InventoryError> {
        let (actor, product, msisdn) = onboard;
        let mut stock = self.lock();
        let now = self.now();
        let name = key_record("accounts", key);
        if let Some(kept) = self.store.get::<KeptAnswer>(&name)? {
            if kept.expires_at > now {
                if kept.request != request {
                    return Ok(Once::KeyReused);
                }
                return Ok(Once::Answer {
                    status: kept.status,
                    body: kept.body,
                    replayed: true,
                });
            }
        }
        let mut first = None;
        self.onboard_locked(&mut stock, actor, product, msisdn, |a, p, b| {
            let (status, body) = answer(a, p);
            let kept = KeptAnswer {
                request,
                status,
                body: body.clone(),
                expires_at: now + KEEP_SECS,
            };
            // Expired keys go first: this key's own expired answer among them,
            // which the new one then replaces.
            self.purge_expired_keys(b, now)?;
            b.put(name, &kept);
            b.put(
                expiry_record(kept.expires_at, "accounts", key),
                &kept.expires_at,
            );
            first = Some((status, body));
            Ok(())
        })?;
        let (status, body) = first.ok_or_else(|| invalid("Idempotency-Key", "no answer"))?;
        Ok(Once::Answer {
            status,
            body,
            replayed: false,
        })
    }

    /// Adds to `b` the removal of up to `PURGE_PER_USE` keys expired by
    /// `now` (a key used again since keeps its newer answer).
    fn purge_expired_keys(&self, b: &mut WriteBatch, now: UnixTime) -> Result<(), InventoryError> {
        let mut seen = 0;
        let mut gone = Vec::new();
        self.store.visit(EXPIRY.as_bytes(), &mut |k, v| {
            let expires_at: UnixTime = decode(k, v)?;
            if expires_at > now || seen >= PURGE_PER_USE {
                return Err(StoreError::Stop);
            }
            seen += 1;
            gone.push(k.to_vec());
            Ok(())
        })?;
        for k in gone {
            let text = String::from_utf8_lossy(&k[EXPIRY.len()..]).into_owned();
            // "<expiry>/<scope>/<key>": the key record is "idem/<scope>/<key>".
            if let Some((at, rest)) = text.split_once('/') {
                let name = format!("{KEYS}{rest}");
                let kept = self.store.get::<KeptAnswer>(&name)?;
                if kept.is_some_and(|kept| format!("{:020}", kept.expires_at) == at) {
                    b.delete(name);
                }
            }
            b.delete(k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::fixtures::{seeded_on_test_clock, BALKAN, DAY};
    use serde_json::json;

    fn once(inv: &Inventory, key: &str, msisdn: Option<&str>) -> Once {
        let request = json!({"product": BALKAN, "msisdn": msisdn});
        inv.onboard_once(key, request, ("test", BALKAN, msisdn), |a, _| {
            (201, json!({"account": a.id}))
        })
        .unwrap()
    }

    fn answered(o: &Once) -> (u64, bool) {
        match o {
            Once::Answer { body, replayed, .. } => (body["account"].as_u64().unwrap(), *replayed),
            Once::KeyReused => panic!("refused"),
        }
    }

    #[test]
    fn a_key_answers_once_refuses_another_request_and_expires() {
        let (inv, clock) = seeded_on_test_clock("seed");
        let (id, replayed) = answered(&once(&inv, "k1", None));
        assert!(!replayed);
        assert_eq!(answered(&once(&inv, "k1", None)), (id, true));
        assert_eq!(once(&inv, "k1", Some("491700001111")), Once::KeyReused);
        let (other, _) = answered(&once(&inv, "k2", None));
        assert_ne!(other, id);

        // A day later the key is forgotten: a new onboarding, and the
        // expired keys' records are gone.
        clock.advance_to(inv.now() + DAY + 1).unwrap();
        let (again, replayed) = answered(&once(&inv, "k1", None));
        assert!(!replayed && again != id);
        let left: Vec<KeptAnswer> = inv.store.scan(KEYS).unwrap();
        assert_eq!(left.len(), 1, "k2 expired and went; k1 is the new one");
        let index = inv.store.scan_raw(EXPIRY.as_bytes()).count();
        assert_eq!(index, 1);
    }

    #[test]
    fn keys_are_visible_ascii_quoted_or_not() {
        assert_eq!(parse_key("abc-123").unwrap(), "abc-123");
        assert_eq!(parse_key("\"8e03978e-40d5\"").unwrap(), "8e03978e-40d5");
        assert!(parse_key("").is_err());
        assert!(parse_key("a b").is_err());
        assert!(parse_key("\u{e9}t\u{e9}").is_err());
        assert!(parse_key(&"k".repeat(256)).is_err());
        assert!(parse_key(&"k".repeat(255)).is_ok());
    }
}
