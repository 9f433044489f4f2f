//! The SIM/IMSI inventory on sled: stock and onboarding, the admin API and
//! the inventory CLI, and start-up from the index checkpoint.

mod api;
mod checkpoint;
mod stock;
