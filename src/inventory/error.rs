//! What an inventory operation refuses or fails with. Each refusal says
//! what it is in its variant (a caller decides by the variant, never by
//! the text), and its text is what the admin API and the CLI show.

use super::batches::Blocker;
use super::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} '{id}' not found")]
    NotFound { what: &'static str, id: String },
    /// The change does not fit the records as they are now.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error("{file}: rejected, nothing imported: {} bad line(s); first: {}", errors.len(), errors.first().map(|e| e.to_string()).unwrap_or_default())]
    Rejected {
        file: String,
        errors: Vec<LineError>,
    },
    #[error("no available eSIM profile for product '{0}'")]
    OutOfStock(String),
    /// A change refused because of these records (at most a page of them;
    /// `count` says how many there are).
    #[error("{message}")]
    Blocked {
        message: String,
        blockers: Vec<Blocker>,
        count: usize,
    },
    /// A bundle change the subscriber's eSIM cannot serve: it needs an
    /// eSIM swap first.
    #[error("bundle change to '{product}' needs an eSIM swap: {reason}")]
    SwapRequired { product: String, reason: String },
    /// The export's writer failed (a full disk, a closed pipe).
    #[error("cannot write the export: {0}")]
    Export(String),
    /// The worker running an inventory call ended before it answered (it
    /// panicked, or its runtime is shutting down).
    #[error("{0}")]
    Interrupted(String),
}

/// A change refused because the records it would change are not in the
/// state it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    // Accounts.
    #[error("msisdn {msisdn} already belongs to an account")]
    MsisdnTaken { msisdn: String },
    #[error("account {account} is closed: {refused}")]
    AccountClosed {
        account: u64,
        refused: ClosedRefusal,
    },
    #[error("account {account} is already closed")]
    AlreadyClosed { account: u64 },
    #[error("account {account} already runs on '{product}': renew it instead")]
    SameBundle { account: u64, product: String },

    // IMSI batches and profile orders.
    #[error("batch '{batch}' already exists")]
    BatchExists { batch: String },
    #[error("batch '{batch}' has {available} available IMSIs; the order needs {needed}")]
    BatchShort {
        batch: String,
        available: usize,
        needed: usize,
    },
    #[error("profiles.iccid_prefix {prefix}: its {width}-digit serials are used up")]
    IccidSerialsUsedUp { prefix: String, width: usize },
    /// The order was ingested or cancelled (`state` is its state's name).
    #[error("order {order} is {state}")]
    OrderClosed { order: u64, state: &'static str },

    // OTA IMSI swaps: the records moved on since the swap was decided.
    #[error("profile {iccid} is not assigned")]
    ProfileNotAssigned { iccid: String },
    #[error("profile {iccid} has swap {swap} in flight")]
    SwapInFlight { iccid: String, swap: u64 },
    #[error("slot {slot} of profile {iccid} holds {}, not {expected}", holds.as_deref().unwrap_or("nothing"))]
    SlotMoved {
        iccid: String,
        slot: u8,
        holds: Option<String>,
        expected: String,
    },
    #[error("IMSI {imsi} is no longer on hold for account {account}")]
    NoLongerHeld { imsi: String, account: u64 },
    #[error("dynamic pool '{pool}' has no IMSI of sponsor '{sponsor}' left")]
    DynamicPoolEmpty { pool: String, sponsor: String },
    #[error("swap {swap} has failed")]
    SwapFailed { swap: u64 },

    // The event outbox.
    #[error("event {event} is not dead-lettered at any hook")]
    NotDeadLettered { event: u64 },
}

/// What a closed account cannot do any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClosedRefusal {
    #[error("it cannot renew")]
    Renew,
    #[error("its bundle cannot change")]
    ChangeBundle,
    #[error("its eSIM cannot be swapped")]
    EsimSwap,
}

/// A rejected input line: which line, which field, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: usize,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {} '{}': {}",
            self.line, self.field, self.value, self.reason
        )
    }
}

/// An `Invalid` error: `field` is what the caller gave wrong.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: Conflict) -> String {
        InventoryError::from(c).to_string()
    }

    /// The admin API answers 409 with these texts: they stay as they were.
    #[test]
    fn conflicts_read_as_they_always_did() {
        let closed = |refused| Conflict::AccountClosed {
            account: 7,
            refused,
        };
        let cases = [
            (
                Conflict::MsisdnTaken {
                    msisdn: "491700000002".into(),
                },
                "msisdn 491700000002 already belongs to an account",
            ),
            (
                closed(ClosedRefusal::Renew),
                "account 7 is closed: it cannot renew",
            ),
            (
                closed(ClosedRefusal::ChangeBundle),
                "account 7 is closed: its bundle cannot change",
            ),
            (
                closed(ClosedRefusal::EsimSwap),
                "account 7 is closed: its eSIM cannot be swapped",
            ),
            (
                Conflict::AlreadyClosed { account: 7 },
                "account 7 is already closed",
            ),
            (
                Conflict::SameBundle {
                    account: 7,
                    product: "P".into(),
                },
                "account 7 already runs on 'P': renew it instead",
            ),
            (
                Conflict::BatchExists { batch: "b".into() },
                "batch 'b' already exists",
            ),
            (
                Conflict::BatchShort {
                    batch: "b".into(),
                    available: 3,
                    needed: 5,
                },
                "batch 'b' has 3 available IMSIs; the order needs 5",
            ),
            (
                Conflict::IccidSerialsUsedUp {
                    prefix: "8949".into(),
                    width: 2,
                },
                "profiles.iccid_prefix 8949: its 2-digit serials are used up",
            ),
            (
                Conflict::OrderClosed {
                    order: 4,
                    state: "cancelled",
                },
                "order 4 is cancelled",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(text(c), want);
        }
    }

    #[test]
    fn swap_and_outbox_conflicts_read_as_they_always_did() {
        let cases = [
            (
                Conflict::ProfileNotAssigned { iccid: "89".into() },
                "profile 89 is not assigned",
            ),
            (
                Conflict::SwapInFlight {
                    iccid: "89".into(),
                    swap: 3,
                },
                "profile 89 has swap 3 in flight",
            ),
            (
                Conflict::SlotMoved {
                    iccid: "89".into(),
                    slot: 2,
                    holds: Some("1".into()),
                    expected: "2".into(),
                },
                "slot 2 of profile 89 holds 1, not 2",
            ),
            (
                Conflict::SlotMoved {
                    iccid: "89".into(),
                    slot: 3,
                    holds: None,
                    expected: "2".into(),
                },
                "slot 3 of profile 89 holds nothing, not 2",
            ),
            (
                Conflict::NoLongerHeld {
                    imsi: "1".into(),
                    account: 7,
                },
                "IMSI 1 is no longer on hold for account 7",
            ),
            (
                Conflict::DynamicPoolEmpty {
                    pool: "d".into(),
                    sponsor: "s".into(),
                },
                "dynamic pool 'd' has no IMSI of sponsor 's' left",
            ),
            (Conflict::SwapFailed { swap: 3 }, "swap 3 has failed"),
            (
                Conflict::NotDeadLettered { event: 9 },
                "event 9 is not dead-lettered at any hook",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(text(c), want);
        }
    }
}
