//! Proxy mode's journal, kept by the inventory so that only it touches the
//! store: the requests gyro answered itself while no upstream OCS answered,
//! each with what it takes to present it to the OCS later exactly as it
//! would have gone (the gateway's request, the canonical identity and the
//! visited network it was rewritten with) and the answer the gateway got.
//! An entry stays until the OCS acknowledged it; one the OCS refused is
//! parked with the refusal until an operator retries it. Acknowledged
//! entries leave their answer behind for a day, for a gateway's late
//! retransmission.
//!
//! Every change is one flushed batch: an entry is durable before the answer
//! it journals leaves.

use serde::{Deserialize, Serialize};

use super::store::{decode, Record, StorageExt, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::UnixTime;

/// Entries not yet acknowledged upstream (pending or parked), by id.
const ENTRY: &str = "proxyjournal/";
/// Answers of acknowledged entries, by entry id.
const ANSWERED: &str = "proxyanswered/";

/// Octets as lowercase hex in the stored JSON: readable with any sled tool.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(v.len() * 2);
        for b in v {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("hex text of odd length"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(s.get(i..i + 2).unwrap_or("x"), 16)
                    .map_err(|_| serde::de::Error::custom("not hex"))
            })
            .collect()
    }
}

/// One request gyro answered itself, to present to the OCS later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Given by `journal_append`; increasing, so a session's entries are
    /// in the order they were answered.
    pub id: u64,
    pub at: UnixTime,
    pub session_id: String,
    pub request_number: u32,
    pub end_to_end: u32,
    pub account: u64,
    /// The gateway's request, as it came.
    #[serde(with = "hex")]
    pub request: Vec<u8>,
    /// The canonical identity it is presented with (Subscription-Id-Type,
    /// Subscription-Id-Data, User-Name).
    pub identity: (i32, String, String),
    /// The 3GPP-SGSN-MCC-MNC filled in when the gateway left it out.
    pub visited: Option<String>,
    /// The answer the gateway got.
    #[serde(with = "hex")]
    pub answer: Vec<u8>,
    /// Set when the OCS refused it: it waits for an operator.
    #[serde(default)]
    pub parked: Option<Refusal>,
    /// How many times the OCS refused it.
    #[serde(default)]
    pub attempts: u32,
}

/// What the OCS answered to a journalled request it did not acknowledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub at: UnixTime,
    pub upstream: String,
    /// The command-level Result-Code.
    pub result_code: u32,
    /// Each MSCC's Result-Code, where it had one.
    pub mscc_result_codes: Vec<u32>,
    pub error_message: Option<String>,
    #[serde(with = "hex")]
    pub answer: Vec<u8>,
}

/// The answer of an acknowledged entry, kept for retransmissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredEntry {
    pub at: UnixTime,
    pub session_id: String,
    pub request_number: u32,
    pub end_to_end: u32,
    #[serde(with = "hex")]
    pub answer: Vec<u8>,
}

impl Record for JournalEntry {}
impl Record for AnsweredEntry {}

fn entry_key(id: u64) -> String {
    format!("{ENTRY}{id:020}")
}

fn answered_key(id: u64) -> String {
    format!("{ANSWERED}{id:020}")
}

impl Inventory {
    /// Journals `e` durably, giving it its id.
    pub fn journal_append(&self, e: &mut JournalEntry) -> Result<(), InventoryError> {
        e.id = self.store.next_id()?;
        let mut batch = WriteBatch::default();
        batch.put(entry_key(e.id), e);
        self.store.commit(batch)?;
        Ok(())
    }

    /// The entries not yet acknowledged (pending and parked), oldest first.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, InventoryError> {
        Ok(self.store.scan::<JournalEntry>(ENTRY)?)
    }

    pub fn journal_entry(&self, id: u64) -> Result<Option<JournalEntry>, InventoryError> {
        Ok(self.store.get::<JournalEntry>(&entry_key(id))?)
    }

    /// Stores a changed entry (parked, or its attempts counted).
    pub fn journal_update(&self, e: &JournalEntry) -> Result<(), InventoryError> {
        let mut batch = WriteBatch::default();
        batch.put(entry_key(e.id), e);
        self.store.commit(batch)?;
        Ok(())
    }

    /// The OCS acknowledged `e`: it leaves the journal, and its answer is
    /// kept for retransmissions, in one batch.
    pub fn journal_acknowledged(
        &self,
        e: &JournalEntry,
        now: UnixTime,
    ) -> Result<(), InventoryError> {
        let mut batch = WriteBatch::default();
        batch.delete(entry_key(e.id));
        let kept = AnsweredEntry {
            at: now,
            session_id: e.session_id.clone(),
            request_number: e.request_number,
            end_to_end: e.end_to_end,
            answer: e.answer.clone(),
        };
        batch.put(answered_key(e.id), &kept);
        self.store.commit(batch)?;
        Ok(())
    }

    /// An operator's retry: the parked entry `id` is pending again. None
    /// when there is no such entry; the entry as it was otherwise.
    pub fn journal_unpark(&self, id: u64) -> Result<Option<JournalEntry>, InventoryError> {
        let Some(mut e) = self.journal_entry(id)? else {
            return Ok(None);
        };
        let was = e.clone();
        if e.parked.take().is_some() {
            self.journal_update(&e)?;
        }
        Ok(Some(was))
    }

    /// The kept answers of acknowledged entries.
    pub fn journal_answered(&self) -> Result<Vec<AnsweredEntry>, InventoryError> {
        Ok(self.store.scan::<AnsweredEntry>(ANSWERED)?)
    }

    /// Forgets kept answers acknowledged before `before`; how many.
    pub fn journal_forget_answered(&self, before: UnixTime) -> Result<usize, InventoryError> {
        let mut batch = WriteBatch::default();
        for r in self.store.scan_raw(ANSWERED.as_bytes()) {
            let (k, v) = r?;
            if decode::<AnsweredEntry>(&k, &v)?.at < before {
                batch.delete(k);
            }
        }
        let n = batch.len();
        if n > 0 {
            self.store.commit(batch)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inventory::store::SledStore;

    fn entry(session: &str) -> JournalEntry {
        JournalEntry {
            id: 0,
            at: 100,
            session_id: session.into(),
            request_number: 1,
            end_to_end: 7,
            account: 3,
            request: vec![1, 0, 0xab, 0xff],
            identity: (0, "491700000001".into(), "491700000001@msisdn".into()),
            visited: Some("21377".into()),
            answer: vec![0x10, 0x20],
            parked: None,
            attempts: 0,
        }
    }

    #[test]
    fn entries_keep_their_order_and_octets_and_leave_their_answer_behind() {
        let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
        let (mut a, mut b) = (entry("s;1"), entry("s;2"));
        inv.journal_append(&mut a).unwrap();
        inv.journal_append(&mut b).unwrap();
        assert!(a.id < b.id);
        assert_eq!(inv.journal().unwrap(), vec![a.clone(), b.clone()]);
        inv.journal_acknowledged(&a, 200).unwrap();
        assert_eq!(inv.journal().unwrap(), vec![b]);
        let kept = inv.journal_answered().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].answer, vec![0x10, 0x20]);
        assert_eq!(inv.journal_forget_answered(150).unwrap(), 0);
        assert_eq!(inv.journal_forget_answered(201).unwrap(), 1);
        assert!(inv.journal_answered().unwrap().is_empty());
    }

    #[test]
    fn unparking_clears_the_refusal() {
        let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
        let mut a = entry("s;1");
        a.parked = Some(Refusal {
            at: 1,
            upstream: "ocs".into(),
            result_code: 2001,
            mscc_result_codes: vec![4012],
            error_message: None,
            answer: vec![],
        });
        inv.journal_append(&mut a).unwrap();
        let was = inv.journal_unpark(a.id).unwrap().unwrap();
        assert!(was.parked.is_some());
        assert!(inv.journal_entry(a.id).unwrap().unwrap().parked.is_none());
        assert!(inv.journal_unpark(a.id + 100).unwrap().is_none());
    }
}
