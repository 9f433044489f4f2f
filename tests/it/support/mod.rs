//! The integration tests' harness, one file per role. Tests import it whole
//! (`use crate::support::*`); the daemons and doubles that only some
//! capabilities need stay behind their module's name.
//!
//! - `node`, `config`, `cli`: a real `gyro serve` and the `gyro` command line.
//! - `raw_peer`, `ccr`: a hand-driven Diameter peer and the requests it sends.
//! - `raw_http`: HTTP requests whose body is held back (the API's door).
//! - `api`: the admin API and what tests read through it.
//! - `in_process`: a Diameter node inside the test process.
//! - `peers`, `capture`: the third-party peers and tshark.
//! - `machine`: ports, temp directories, polling, commands with a timeout.
//! - `daemon`, `webhook`, `sshd`: Debian daemons (webhook receiver, sFTP).
//! - `ota_vendor`, `ota`: the OTA vendor double and the OTA tests' steps.
//! - `orders`: the SM-DP+ side of eSIM profile orders.
//! - `failing_store`: a sled store whose commits fail on demand.
//! - `pki`: certificates for the TLS tests.

mod api;
mod capture;
mod ccr;
mod cli;
mod config;
mod in_process;
mod machine;
mod node;
mod peers;
mod raw_http;
mod raw_peer;

pub mod daemon;
pub mod failing_store;
pub mod orders;
pub mod ota;
pub mod ota_vendor;
pub mod pki;
pub mod sshd;
pub mod webhook;

pub use api::*;
pub use capture::*;
pub use ccr::*;
pub use cli::*;
pub use config::*;
pub use in_process::*;
pub use machine::*;
pub use node::*;
pub use peers::*;
pub use raw_http::*;
pub use raw_peer::*;
