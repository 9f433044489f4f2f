//! `[smdp]` as the SM-DP+ exchange takes it: where gyro exchanges SM-DP+
//! files over sFTP. The section's absence means no sFTP at all; present,
//! every key that says where to connect and how to authenticate is
//! required. The configuration reads and checks it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::model::HumaneDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmdpSettings {
    /// `sftp://USER@HOST[:PORT]`, port 22 when absent.
    pub sftp_url: String,
    /// OpenSSH private key file (no passphrase): ed25519, ECDSA or RSA.
    pub sftp_key: PathBuf,
    /// OpenSSH known_hosts file; a host key it does not list is refused.
    pub known_hosts: PathBuf,
    /// Remote folder input files are uploaded to.
    pub input_dir: String,
    /// Remote folder polled for the SM-DP+'s output files.
    pub output_dir: String,
    #[serde(default = "thirty_seconds")]
    pub poll: HumaneDuration,
    /// Local folder Perso files are copied to; unset, they are not kept.
    #[serde(default)]
    pub perso_dir: Option<PathBuf>,
}

fn thirty_seconds() -> HumaneDuration {
    HumaneDuration(Duration::from_secs(30))
}

/// The parts of `sftp_url` a connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpTarget {
    pub user: String,
    /// Without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
}

impl SftpTarget {
    /// `host:port`, or `[host]:port` the way known_hosts writes a port
    /// other than 22 (and an IPv6 literal).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl SmdpSettings {
    /// `sftp_url` taken apart; the error says what is wrong with it.
    pub fn target(&self) -> Result<SftpTarget, String> {
        let url = &self.sftp_url;
        let u = reqwest::Url::parse(url).map_err(|e| format!("'{url}': {e}"))?;
        if u.scheme() != "sftp" {
            return Err(format!("'{url}' is not an sftp:// URL"));
        }
        if u.username().is_empty() {
            return Err(format!("'{url}' names no user (sftp://USER@HOST:PORT)"));
        }
        if u.password().is_some() {
            return Err(format!(
                "'{url}' carries a password: gyro logs in with smdp.sftp_key only"
            ));
        }
        let host = u.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        if u.port() == Some(0) {
            return Err(format!("'{url}': port 0 is not a port"));
        }
        if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
            return Err(format!(
                "'{url}' has a path or query: folders go in smdp.input_dir and smdp.output_dir"
            ));
        }
        Ok(SftpTarget {
            user: u.username().to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: u.port().unwrap_or(22),
        })
    }
}
