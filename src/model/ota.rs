//! Dynamic IMSIs: where the MVNE saw a profile (`Located`), and the
//! Over-The-Air IMSI swap that may follow, in which the profile's dynamic slot
//! gets another IMSI. A swap is durable from the order on: ordered →
//! confirmed | failed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ImsiState, UnixTime};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SwapState {
    /// The new IMSI is taken and resolves to the profile; the OTA vendor
    /// has yet to confirm.
    Ordered,
    /// The slot holds the new IMSI; the old one is on hold.
    Confirmed { confirmed_at: UnixTime },
    /// The vendor refused, or gave no answer in all the attempts: the new
    /// IMSI went back where it came from and nothing else changed.
    Failed { failed_at: UnixTime, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImsiSwap {
    pub id: u64,
    pub iccid: String,
    pub account: u64,
    pub slot: u8,
    pub old_imsi: String,
    pub new_imsi: String,
    /// The new IMSI's state before it was taken, restored on failure.
    pub new_was: ImsiState,
    /// The country that prompted it, and the prices compared (per GB, in
    /// the reporting currency).
    pub mcc: String,
    pub old_price: Option<Decimal>,
    pub new_price: Decimal,
    pub ordered_at: UnixTime,
    /// Calls made to the OTA vendor so far.
    pub attempts: u32,
    #[serde(flatten)]
    pub state: SwapState,
}

impl ImsiSwap {
    /// The ES2+ `functionCallIdentifier`: the same on every retry, so the
    /// vendor can tell a retry from a second swap.
    pub fn call_id(&self) -> String {
        format!("gyro-swap-{}", self.id)
    }
}

/// The MVNE's sighting of a profile: a location event as the queue keeps it
/// and the swap engine receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub event_id: String,
    pub iccid: String,
    /// The IMSI the MVNE named, when it named one.
    pub imsi: Option<String>,
    pub mcc: String,
    pub mnc: String,
    pub observed_at: UnixTime,
    /// The node's time when it came in.
    pub received_at: UnixTime,
}
