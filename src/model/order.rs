//! A profile order: N eSIM profiles of K IMSIs for a pool, with their
//! ICCIDs and reserved IMSIs, from creation to the SM-DP+'s Standard file.

use serde::{Deserialize, Serialize};

use super::UnixTime;

/// One ordered profile: its ICCID and its IMSIs, slot 1 first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderProfile {
    pub iccid: String,
    pub imsis: Vec<String>,
}

/// Where an order stands. Created, Sent and Rejected are open: a Standard
/// file may still complete them; Ingested and Cancelled are final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OrderState {
    /// Reserved and written; not yet on the SM-DP+'s server.
    Created,
    /// The input file is on the SM-DP+'s server.
    Sent { sent_at: UnixTime },
    /// The last output file for it was rejected (see `rejections`).
    Rejected { rejected_at: UnixTime },
    /// Its profiles are in the pool.
    Ingested { ingested_at: UnixTime },
    /// Its IMSIs went back to their batches.
    Cancelled { cancelled_at: UnixTime },
}

impl OrderState {
    pub fn name(&self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Sent { .. } => "sent",
            OrderState::Rejected { .. } => "rejected",
            OrderState::Ingested { .. } => "ingested",
            OrderState::Cancelled { .. } => "cancelled",
        }
    }
    pub fn is_open(&self) -> bool {
        !matches!(
            self,
            OrderState::Ingested { .. } | OrderState::Cancelled { .. }
        )
    }
}

/// An output file turned down for an order, and why (its first faults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub at: UnixTime,
    pub file: String,
    /// How many faults the file had.
    pub faults: usize,
    /// The first few, as `line N: field 'value': reason`.
    pub first: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub pool: String,
    pub imsis_per_profile: u8,
    /// The batch of each IMSI position, slot 1 first.
    pub batches: Vec<String>,
    /// The sponsor of each position (the batches' sponsors).
    pub sponsors: Vec<String>,
    pub least_cost: bool,
    pub profit_guarantee: bool,
    /// "Customer" of the files' header.
    pub customer: String,
    /// Label of the transport key Ki/OPc come encrypted under.
    pub transport_key: String,
    /// Name of the input file on the SM-DP+'s server.
    pub file: String,
    pub created_at: UnixTime,
    pub actor: String,
    #[serde(flatten)]
    pub state: OrderState,
    /// Whether the Perso file has been stored.
    #[serde(default)]
    pub perso: bool,
    #[serde(default)]
    pub rejections: Vec<Rejection>,
    pub profiles: Vec<OrderProfile>,
}

/// At most this many rejections are kept on an order (the latest).
pub const KEPT_REJECTIONS: usize = 20;

/// A profile's "Perso" output, kept per ICCID and handed on as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Perso {
    pub iccid: String,
    pub order: u64,
    /// The file's `var_Out` names and this profile's values, in order. The
    /// values may be codes that download the profile (matching ids,
    /// confirmation codes): secrets, never shown by `Debug` or logs.
    pub fields: Vec<(String, super::Secret)>,
}

impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
