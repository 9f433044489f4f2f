//! Proxy mode in front of an upstream OCS: relaying with the canonical
//! identity, upstreams that stall, refuse or die, exactly once across an
//! outage, parked journal entries, bounded in-flight requests, and a
//! failing store.

mod backpressure;
mod delaying;
mod exactly_once;
mod failover;
mod outage;
mod parked;
mod relay;
mod sessions;
mod store_failure;
mod upstreams;
