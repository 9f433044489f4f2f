//! The SM-DP+ side of eSIM profile generation: the sFTP transport that
//! carries input files to the SM-DP+ and brings its answers back, and the
//! exchange that `gyro serve` runs over it. The files' contents are
//! `crate::profilegen`'s; this module moves and files them.

mod service;
mod settings;
pub mod sftp;

pub use service::{Exchange, PROCESSED, REJECTED};
pub use settings::{SftpTarget, SmdpSettings};
pub use sftp::{RemoteFile, SftpClient, SftpError};
