//! eSIM profile generation (#14), the pure part: the IMSI/MNC selection
//! rules derived for a pool, the SM-DP+ input file gyro writes and the
//! "Standard" output file it reads back. No sockets, store or runtime here:
//! ordering, sFTP and ingestion build on these.

pub mod file;
pub mod rules;
pub mod standard;

pub use file::{parse_input, write_input, FileErrors, Header, InputFile, WriteError};
pub use rules::{derive, Pref, Rule, RuleOptions, RulesError};
pub use standard::{parse_standard, write_standard, ProfileRow};

/// One ordered profile: its ICCID and its IMSIs, slot 1 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderProfile {
    pub iccid: String,
    pub imsis: Vec<String>,
}

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
