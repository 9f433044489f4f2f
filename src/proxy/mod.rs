//! Proxy mode (`charging.mode = "proxy"`): gyro as an RFC 6733 proxy agent in
//! front of the operator's OCS. Each CCR is resolved as in embedded mode,
//! rewritten to the profile's one canonical charging identity, and sent to
//! an upstream chosen by priority and session; the answer comes back with
//! the gateway's identities. Routing and rewriting are sans-IO; the
//! Diameter transport carries the messages.

pub mod app;
pub mod config;
mod down;
mod forward;
pub mod inflight;
pub mod journal;
mod local;
pub mod peers;
pub mod relaying;
pub mod replay;
pub mod rewrite;
pub mod route;
pub mod setup;
pub mod wholesale;

pub use config::{FailsafeGrant, Identity, OnUpstreamDown, ProxySection, UpstreamSection};
