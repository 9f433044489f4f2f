//! The wall clock as the node read it before it had one clock: kept only
//! for the callers outside the inventory that have not moved to the node
//! clock (`model::clock::NodeClock`) yet. Nothing in the inventory reads
//! it; delete this module with its last caller.

use crate::model::UnixTime;

pub fn now_unix() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
