//! Provisioning events: signed webhooks delivered to Debian's `webhook`
//! daemon (both signatures checked), the delivery loop over a failing
//! store, and the receiver harness itself.

mod delivery;
mod failures;
mod hooks;
mod receiver;
mod standard_signature;
mod supervision;
