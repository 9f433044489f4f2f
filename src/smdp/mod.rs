//! The SM-DP+ side of eSIM profile generation (issue #14): the transport
//! that carries input files to the SM-DP+ and brings its answers back. The
//! files' contents are `crate::profilegen`'s; this module only moves bytes.

pub mod sftp;

pub use sftp::{RemoteFile, SftpClient, SftpError};
