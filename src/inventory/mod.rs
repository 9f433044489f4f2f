//! The SIM/IMSI inventory: the durable truth (sled, behind the `Storage`
//! trait) about sponsors, IMSI batches, eSIM profiles, pools, products and
//! accounts, the operations that change it, and their audit trail.

pub mod model;
pub mod store;
