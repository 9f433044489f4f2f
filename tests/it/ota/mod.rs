//! Over-the-air IMSI swaps driven by the MVNE's location webhooks: the
//! webhooks themselves and their own signed listener, the swap end to end
//! through the Erlang/OTP PGW and the vendor double, swaps only onto
//! networks the bundle covers, concurrency, the
//! vendor client, and failing stores.

mod concurrency;
mod coverage;
mod location_store_failure;
mod location_webhook;
mod store_failure;
mod swap;
mod vendor;
mod webhook_listener;
