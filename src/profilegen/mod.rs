//! eSIM profile generation: the IMSI/MNC selection rules derived for
//! a pool, the SM-DP+ input file gyro writes, the "Standard" and "Perso"
//! output files it reads back (all pure), and the order desk that ties them
//! to the inventory's orders for the API, the CLI and the sFTP poller.

pub mod desk;
pub mod file;
pub mod perso;
pub mod rules;
pub mod standard;

pub use file::{parse_input, write_input, FileErrors, Header, InputFile, WriteError};
pub use rules::{derive, Pref, Rule, RuleOptions, RulesError};
pub use standard::{parse_standard, write_standard, ProfileRow};

pub use crate::model::order::OrderProfile;

/// What the files need to know of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    /// The operator, as the SM-DP+ knows it ("Customer").
    pub customer: String,
    /// The pool the profiles go to ("ProfileType").
    pub pool: String,
    /// "Batch No": how an output file is matched to its order.
    pub order_id: String,
    /// Label of the transport key the SM-DP+ encrypts Ki/OPc under.
    pub transport_key: String,
    /// IMSIs per profile (K).
    pub imsis_per_profile: usize,
    pub profiles: Vec<OrderProfile>,
}

impl OrderView {
    /// The file header for this order.
    pub fn header(&self) -> Header {
        Header {
            customer: self.customer.clone(),
            profile_type: self.pool.clone(),
            batch_no: self.order_id.clone(),
            quantity: self.profiles.len(),
            transport_key: self.transport_key.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
