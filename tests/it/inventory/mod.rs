//! The SIM/IMSI inventory on sled: stock and onboarding, the admin API and
//! the inventory CLI, start-up from the index checkpoint, what a failed
//! store write leaves (nothing), and onboarding under an idempotency key.

mod api;
mod checkpoint;
mod idempotency;
mod stock;
mod store_contract;
