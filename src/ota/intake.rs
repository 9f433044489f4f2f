//! MVNE location webhooks in: `POST /api/v1/events/location` bodies
//! are parsed and checked by a pure function (`parse`, fuzzed), their IMSI
//! or ICCID is resolved to a profile, and they go into the durable,
//! de-duplicated, per-profile coalescing queue of `inventory::location_updates`.
//! A drain task hands what falls due to a `LocationSink` (the swap engine).
//! `signed` checks who may post one on the webhook listener; a sighting
//! further ahead of the node's clock than `OBSERVED_AT_SKEW` is refused.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::inventory::location_updates::{LocationQueue, Offered};
use crate::inventory::{Inventory, InventoryError};
use crate::model::ota::Located;
use crate::model::{parse_rfc3339, ImsiState, UnixTime};
use crate::ota::OtaSettings;

mod drain;
mod signed;
#[cfg(test)]
mod tests;

pub use drain::{drain_once, spawn_drain, LocationSink, LogSink, SEEN_KEEP};
pub use signed::{Refused, SignedHeaders, Verdict, Verifier};

/// `gyro_location_events_total{result=queued|duplicate|coalesced|rejected}`.
pub const EVENTS: &str = "gyro_location_events_total";

/// Longest accepted `event_id` (it is part of a store key).
pub const MAX_EVENT_ID: usize = 128;

/// 9999-12-31T23:59:59Z.
const LAST_INSTANT: UnixTime = 253_402_300_799;

/// How far in the node's future an `observed_at` may be: the MVNE's clock
/// may run a little ahead, but a sighting from the future would outrank
/// every real one after it and silence the profile.
pub const OBSERVED_AT_SKEW: UnixTime = 300;

/// Whom the MVNE says it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Imsi(String),
    Iccid(String),
}

/// A checked webhook body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationBody {
    pub event_id: String,
    pub subject: Subject,
    pub mcc: String,
    pub mnc: String,
    pub observed_at: UnixTime,
}

/// A body fault: the field at fault and what is wrong with it.
pub type Fault = (&'static str, String);

fn text<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, Fault> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err((field, "must be a string".into())),
    }
}

fn required<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, Fault> {
    text(m, field)?.ok_or_else(|| (field, "missing".into()))
}

fn digits(s: &str, lens: std::ops::RangeInclusive<usize>) -> bool {
    lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses and checks a webhook body; no I/O, so that it can be fuzzed.
pub fn parse(body: &[u8]) -> Result<LocationBody, Fault> {
    let m: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| ("body", format!("not a JSON object: {e}")))?;
    let event_id = required(&m, "event_id")?;
    if event_id.trim().is_empty()
        || event_id.len() > MAX_EVENT_ID
        || event_id.chars().any(char::is_control)
    {
        return Err((
            "event_id",
            format!("must be 1 to {MAX_EVENT_ID} characters, none a control character"),
        ));
    }
    let subject = match (text(&m, "imsi")?, text(&m, "iccid")?) {
        (Some(i), None) if digits(i, 6..=15) => Subject::Imsi(i.into()),
        (Some(_), None) => return Err(("imsi", "an IMSI is 6 to 15 digits".into())),
        (None, Some(c)) if digits(c, 18..=22) => Subject::Iccid(c.into()),
        (None, Some(_)) => return Err(("iccid", "an ICCID is 18 to 22 digits".into())),
        _ => return Err(("imsi", "give exactly one of imsi or iccid".into())),
    };
    let mcc = required(&m, "mcc")?;
    if !digits(mcc, 3..=3) {
        return Err(("mcc", "an MCC is 3 digits".into()));
    }
    let mnc = required(&m, "mnc")?;
    if !digits(mnc, 2..=3) {
        return Err(("mnc", "an MNC is 2 or 3 digits".into()));
    }
    let at = required(&m, "observed_at")?;
    let observed_at = parse_rfc3339(at).map_err(|e| ("observed_at", e.to_string()))?;
    // Before 1970 or past 9999 (UTC) is no real sighting, and keeps stored
    // times printable as RFC 3339 again.
    if !(0..=LAST_INSTANT).contains(&observed_at) {
        return Err((
            "observed_at",
            format!("'{at}' is not between 1970 and 9999"),
        ));
    }
    Ok(LocationBody {
        event_id: event_id.into(),
        subject,
        mcc: mcc.into(),
        mnc: mnc.into(),
        observed_at,
    })
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`,
/// checked in constant time.
pub fn signature_ok(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = unhex(hex) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// Lowercase hex only, as the header's convention says.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if s.len() != 64 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The body is at fault (422).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// `observed_at` is further ahead of the node's clock than
    /// `OBSERVED_AT_SKEW` (400).
    #[error("{field}: {message}")]
    Future {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// What became of an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub iccid: String,
    pub event_id: String,
    pub outcome: Offered,
}

/// A body checked and resolved, before the queue took it.
enum Prepared {
    /// Its event id was taken in before.
    Duplicate(Accepted),
    Fresh(Located),
}

/// The webhook's receiving end: the queue, and the signature check when
/// a webhook secret is set.
pub struct Intake {
    queue: Arc<LocationQueue>,
    verifier: Option<Verifier>,
}

impl Intake {
    pub fn new(inventory: Arc<Inventory>, cfg: &OtaSettings) -> Result<Intake, InventoryError> {
        let tolerance = i64::try_from(cfg.webhook_tolerance.0.as_secs()).unwrap_or(i64::MAX);
        Ok(Intake {
            queue: Arc::new(LocationQueue::new(inventory, cfg.aggregate.0)?),
            verifier: cfg
                .webhook_secret
                .as_deref()
                .map(|s| Verifier::new(s, tolerance, cfg.accept_body_signature)),
        })
    }

    pub fn queue(&self) -> &Arc<LocationQueue> {
        &self.queue
    }

    /// The signature check of the webhook listener; none without a secret.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_ref()
    }

    /// The node's time, as the queue's inventory tells it.
    pub fn now(&self) -> UnixTime {
        self.queue.inventory().now()
    }

    /// Takes a webhook body in; blocks until it is durable. Counted in
    /// `gyro_location_events_total`.
    pub fn accept(&self, body: &[u8]) -> Result<Accepted, IntakeError> {
        let out = self.prepare(body).and_then(|p| match p {
            Prepared::Duplicate(a) => {
                self.queue.barrier()?;
                Ok(a)
            }
            Prepared::Fresh(ev) => {
                let (iccid, event_id) = (ev.iccid.clone(), ev.event_id.clone());
                let outcome = self.queue.offer(ev)?;
                Ok(Accepted {
                    iccid,
                    event_id,
                    outcome,
                })
            }
        });
        counted(out)
    }

    /// `accept` for the webhook handler: the parse and the look-ups run on
    /// the caller's thread (they do not touch the disk), and only the task
    /// waits for the queue's writer.
    pub async fn accept_async(&self, body: &[u8]) -> Result<Accepted, IntakeError> {
        let out = match self.prepare(body) {
            Ok(Prepared::Duplicate(a)) => self.queue.barrier_async().await.map(|()| a),
            Ok(Prepared::Fresh(ev)) => {
                let (iccid, event_id) = (ev.iccid.clone(), ev.event_id.clone());
                (self.queue.offer_async(ev).await).map(|outcome| Accepted {
                    iccid,
                    event_id,
                    outcome,
                })
            }
            Err(e) => return counted(Err(e)),
        };
        counted(out.map_err(IntakeError::from))
    }

    /// Parses and resolves a body: a known event id, or the event to offer.
    fn prepare(&self, body: &[u8]) -> Result<Prepared, IntakeError> {
        let b = parse(body).map_err(|(field, message)| IntakeError::Invalid { field, message })?;
        let now = self.queue.inventory().now();
        if b.observed_at > now.saturating_add(OBSERVED_AT_SKEW) {
            return Err(IntakeError::Future {
                field: "observed_at",
                message: format!(
                    "{} is more than {OBSERVED_AT_SKEW} s ahead of the node's time {}",
                    crate::model::rfc3339(b.observed_at),
                    crate::model::rfc3339(now)
                ),
            });
        }
        // A retry of an event taken in before is a duplicate even when its
        // IMSI has since left the profile. (The writer checks again: this
        // only spares the look-up.)
        if let Some(iccid) = self.queue.seen_hint(&b.event_id)? {
            return Ok(Prepared::Duplicate(Accepted {
                iccid,
                event_id: b.event_id,
                outcome: Offered::Duplicate,
            }));
        }
        let (iccid, imsi) = self.resolve(&b.subject)?;
        Ok(Prepared::Fresh(Located {
            event_id: b.event_id,
            iccid,
            imsi,
            mcc: b.mcc,
            mnc: b.mnc,
            observed_at: b.observed_at,
            received_at: now,
        }))
    }

    /// The profile's ICCID, and the IMSI when the body named one.
    fn resolve(&self, s: &Subject) -> Result<(String, Option<String>), IntakeError> {
        let inv = self.queue.inventory();
        match s {
            Subject::Imsi(i) => match inv.imsi(i)?.map(|r| r.state) {
                Some(ImsiState::Embedded { profile, .. }) => Ok((profile, Some(i.clone()))),
                Some(_) => Err(IntakeError::Invalid {
                    field: "imsi",
                    message: format!("IMSI {i} is not embedded in any profile"),
                }),
                None => Err(IntakeError::Invalid {
                    field: "imsi",
                    message: format!("unknown IMSI {i}"),
                }),
            },
            Subject::Iccid(c) => match inv.profile(c)? {
                Some(p) => Ok((p.iccid, None)),
                None => Err(IntakeError::Invalid {
                    field: "iccid",
                    message: format!("unknown ICCID {c}"),
                }),
            },
        }
    }
}

/// Counts an outcome in `gyro_location_events_total`.
fn counted(out: Result<Accepted, IntakeError>) -> Result<Accepted, IntakeError> {
    let result = match &out {
        Ok(a) => match a.outcome {
            Offered::Queued => "queued",
            Offered::Duplicate => "duplicate",
            Offered::Replaced | Offered::Superseded => "coalesced",
        },
        Err(IntakeError::Invalid { .. } | IntakeError::Future { .. }) => "rejected",
        Err(IntakeError::Inventory(_)) => "error",
    };
    metrics::counter!(EVENTS, "result" => result).increment(1);
    out
}
