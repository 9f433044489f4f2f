//! Dynamic IMSIs: MVNE location webhooks come in (`intake`), a pure
//! least-cost rule decides whether another IMSI is cheaper where the
//! subscriber now is (`decision`), and a swap of the profile's dynamic slot
//! is ordered Over-The-Air from the OTA vendor (`vendor`), then applied to
//! the inventory and the resolver in one step on confirmation.

pub mod decision;
pub mod engine;
pub mod intake;
mod settings;
pub mod vendor;

pub use settings::OtaSettings;
