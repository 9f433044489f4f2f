//! The stored side of charging, kept by the inventory so that only it
//! touches the store: each account's usage, the last charging commit
//! sequence applied, and the events charging raises (fair usage).

use serde::{Deserialize, Serialize};

use super::store::{decode, Record, StorageExt, StoreError, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::event::{self, EventDraft, FupUsage};
use crate::model::{UnixTime, Used};

const BALANCE: &str = "balance/";
/// The highest charging commit sequence in the store.
const CHARGING_SEQ: &str = "meta/charging_seq";
/// Proxy mode: the last locally answered usage the upstream acknowledged.
const REPLAY_CURSOR: &str = "meta/proxy_replay_cursor";
/// Charging items the store can never take (see `ParkedUsage`).
const PARKED: &str = "parked/usage/";

/// The fair-usage threshold was crossed: throttle every IMSI of the profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FupEvent {
    pub account: u64,
    pub iccid: String,
    pub at: UnixTime,
    pub used_octets: u64,
    pub threshold_octets: u64,
}

/// A charging item that fails for good (a record it reads is corrupt),
/// set aside so that every other commit goes through: kept in the store
/// for an operator, the usage it came with applied all the same.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ParkedUsage {
    /// The commit sequence of the group it came in.
    pub sequence: u64,
    pub account: u64,
    /// The fair-usage throttle event that could not be raised; None for a
    /// restore (the new bundle period cleared a crossed threshold).
    pub fup: Option<FupEvent>,
    pub error: String,
}

impl Record for ParkedUsage {}

/// One group of charging commits, written in one atomic batch.
#[derive(Debug, Default)]
pub struct UsageGroup {
    /// The latest usage of each account the group touched.
    pub balances: Vec<(u64, Used)>,
    pub fup_events: Vec<FupEvent>,
    /// Accounts whose new bundle period cleared a crossed threshold.
    pub fup_restores: Vec<u64>,
    /// The group's last commit sequence.
    pub sequence: u64,
    /// Items set aside, recorded in the same batch.
    pub parked: Vec<ParkedUsage>,
}

impl InventoryError {
    /// Whether trying again cannot help: the store answered, and what it
    /// holds is wrong (a record that does not decode, a change it refuses),
    /// as opposed to a disk that failed (full, EIO) or a worker that ended.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            InventoryError::Store(StoreError::Backend(_)) | InventoryError::Interrupted(_)
        )
    }
}

impl Inventory {
    /// Applies a group of usage atomically: all of it, or (on error) none
    /// of it. It is durable with the store's next flush; until then charging's
    /// own log (the xDR files) holds it, and `commit_usage(.., true)` after a
    /// crash makes what it replays durable at once.
    pub fn commit_usage(&self, g: &UsageGroup, durable: bool) -> Result<(), InventoryError> {
        let mut batch = WriteBatch::default();
        for (account, used) in &g.balances {
            batch.put(format!("{BALANCE}{account:020}"), used);
        }
        let mut drafts = g
            .fup_events
            .iter()
            .map(|e| self.fup_draft(e))
            .collect::<Result<Vec<_>, _>>()?;
        for a in &g.fup_restores {
            if let Some(a) = self.account(*a)? {
                drafts.push(self.fup_restore_draft(&a)?);
            }
        }
        let at = g.fup_events.first().map_or_else(|| self.now(), |e| e.at);
        for (i, p) in g.parked.iter().enumerate() {
            batch.put(format!("{PARKED}{:020}-{i:04}", p.sequence), p);
        }
        // Sequences start at 1: an empty group (a flush at shutdown with
        // nothing left to apply) must not take the stored one back to 0.
        if g.sequence > 0 {
            batch.put(CHARGING_SEQ, &g.sequence);
        }
        // A group with events is made durable at once: the delivery loop may
        // send an event as soon as it is visible, and one that a crash then
        // took back would come again from the replay under another id.
        let durable = durable || !drafts.is_empty();
        self.commit_with_events(batch, drafts, at, |b| {
            Ok(if durable {
                self.store.commit(b)?
            } else {
                self.store.apply(b)?
            })
        })?;
        Ok(())
    }

    /// Whether the store can raise this fair-usage event (a throttle, or a
    /// restore for `account` when `fup` is None): the records it reads
    /// decode. Nothing is written.
    pub fn check_usage_event(
        &self,
        account: u64,
        fup: Option<&FupEvent>,
    ) -> Result<(), InventoryError> {
        match fup {
            Some(e) => self.fup_draft(e).map(drop),
            None => match self.account(account)? {
                Some(a) => self.fup_restore_draft(&a).map(drop),
                None => Ok(()),
            },
        }
    }

    /// The charging items set aside, oldest first.
    pub fn parked_usage(&self) -> Result<Vec<ParkedUsage>, InventoryError> {
        let mut out = vec![];
        for r in self.store.scan_raw(PARKED.as_bytes()) {
            let (k, v) = r?;
            out.push(decode::<ParkedUsage>(&k, &v)?);
        }
        Ok(out)
    }

    /// The last charging commit sequence made durable (0 for a new store).
    pub fn charging_sequence(&self) -> Result<u64, InventoryError> {
        Ok(self.store.get::<u64>(CHARGING_SEQ)?.unwrap_or(0))
    }

    /// Proxy mode: the journal position (commit sequence, line within it)
    /// the upstream acknowledged last; (0, 0) before any.
    pub fn replay_cursor(&self) -> Result<(u64, u32), InventoryError> {
        Ok(self
            .store
            .get::<(u64, u32)>(REPLAY_CURSOR)?
            .unwrap_or((0, 0)))
    }

    /// Records, durably, that the upstream acknowledged the journal up to
    /// `at`: a restart resumes after it.
    pub fn set_replay_cursor(&self, at: (u64, u32)) -> Result<(), InventoryError> {
        let mut batch = WriteBatch::default();
        batch.put(REPLAY_CURSOR, &at);
        self.store.commit(batch)?;
        Ok(())
    }

    /// Durable usage of every account.
    pub fn balances(&self) -> Result<Vec<(u64, Used)>, InventoryError> {
        let mut out = vec![];
        for r in self.store.scan_raw(BALANCE.as_bytes()) {
            let (k, v) = r?;
            let id = std::str::from_utf8(&k[BALANCE.len()..])
                .ok()
                .and_then(|s| s.parse().ok());
            if let Some(id) = id {
                out.push((id, decode::<Used>(&k, &v)?));
            }
        }
        Ok(out)
    }

    /// The fair-usage event names every IMSI of the profile with its
    /// sponsor, for the provisioning system to throttle them all.
    fn fup_draft(&self, e: &FupEvent) -> Result<EventDraft, InventoryError> {
        let usage = FupUsage {
            used_octets: e.used_octets,
            threshold_octets: e.threshold_octets,
        };
        let imsis = self.profile(&e.iccid)?.map(|p| p.imsis).unwrap_or_default();
        self.with_profile_imsis(&imsis, |imsis| {
            event::fup_throttle(e.account, &e.iccid, usage, imsis)
        })
    }
}
