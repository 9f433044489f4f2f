//! Resolution of a charging request to the subscriber and network behind it:
//! identity (IMSI, MSISDN, sponsor proxy Origin-Host) and location (ULI,
//! SGSN-MCC-MNC, IMS visited network) → profile, account, sponsor, rate code.
//! Pure: no sockets, no store; readers use lock-free snapshots.

mod catalog;
#[cfg(test)]
pub(crate) mod fixtures;
mod hugepages;
mod imsi_table;
pub mod index;
mod ordinal_table;
pub mod resolve;
pub mod serving_network;
mod shard;
pub mod snapshot;
mod table;

pub use index::{Catalog, Index};
pub use resolve::{Miss, Subscriber};
