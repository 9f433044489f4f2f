//! Credit control (RFC 4006/8506, TS 32.299) on the Diameter node: CCR view,
//! session state machine, balances with durable group commit, xDRs, and the
//! embedded-OCS application that ties them to the resolver and rating.

pub mod app;
pub mod balance;
pub mod cca;
pub mod ccr;
pub mod committer;
pub mod engine;
pub mod session;

#[cfg(test)]
mod engine_tests;
