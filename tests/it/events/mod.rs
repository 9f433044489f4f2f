//! Provisioning events: signed webhooks delivered to Debian's `webhook`
//! daemon, and the receiver harness itself.

mod delivery;
mod failures;
mod hooks;
mod receiver;
