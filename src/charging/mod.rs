//! Credit control (RFC 4006/8506, TS 32.299) on the Diameter node: the CCR
//! view, sessions owned by their account's state, per-service rating,
//! durable group commit, xDRs, and the embedded-OCS application that ties
//! them to the resolver.

pub mod app;
pub mod balance;
pub mod cca;
pub mod ccr;
pub mod commit;
mod decision;
pub mod engine;
pub mod gateway;
pub mod identity;
pub mod ledger;
mod period;
pub mod rate;
pub mod retained;
pub mod server_initiated;
pub mod session;
mod stored;
pub mod xdr;
mod xdr_files;
mod xdr_json;

#[cfg(test)]
mod tests;
