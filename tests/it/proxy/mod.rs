//! Proxy mode in front of an upstream OCS: relaying with the canonical
//! identity, upstreams that stall, refuse or die, and a failing store.

mod failover;
mod outage;
mod relay;
mod sessions;
mod store_failure;
mod upstreams;
