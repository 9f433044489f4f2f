//! `[smdp]`: where gyro exchanges SM-DP+ files over sFTP to generate eSIM
//! profiles. The section's absence means no sFTP at all; present, every key
//! that says where to connect and how to authenticate is required.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, HumaneDuration};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmdpSection {
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

impl SmdpSection {
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

    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| ConfigError::Field {
            file: file.to_string(),
            field: format!("smdp.{field}"),
            message,
        };
        self.target().map_err(|m| bad("sftp_url", m))?;
        for (field, path) in [
            ("sftp_key", &self.sftp_key),
            ("known_hosts", &self.known_hosts),
        ] {
            if path.as_os_str().is_empty() {
                return Err(bad(field, "must name a file".into()));
            }
        }
        for (field, dir) in [
            ("input_dir", &self.input_dir),
            ("output_dir", &self.output_dir),
        ] {
            if dir.trim().is_empty() {
                return Err(bad(field, "must name a remote folder".into()));
            }
        }
        if self.input_dir.trim_end_matches('/') == self.output_dir.trim_end_matches('/') {
            return Err(bad(
                "output_dir",
                "must differ from input_dir: gyro would read back its own input files".into(),
            ));
        }
        if self.poll.0 < Duration::from_secs(1) {
            return Err(bad("poll", "must be at least 1s".into()));
        }
        if matches!(&self.perso_dir, Some(p) if p.as_os_str().is_empty()) {
            return Err(bad(
                "perso_dir",
                "must name a folder (or be left out)".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, EMBEDDED};

    const GOOD: &str = "\n[smdp]\nsftp_url = \"sftp://gyro@smdp.example:2222\"\n\
        sftp_key = \"/etc/gyro/id_ed25519\"\nknown_hosts = \"/etc/gyro/known_hosts\"\n\
        input_dir = \"/in\"\noutput_dir = \"/out\"\n";

    /// The embedded config plus `[smdp]` from GOOD with `from` replaced.
    fn parse(from: &str, to: &str) -> Result<Config, String> {
        assert!(GOOD.contains(from), "GOOD has no {from}");
        let text = format!("{EMBEDDED}{}", GOOD.replace(from, to));
        Config::parse(&text, "x.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn absent_means_no_sftp_and_the_defaults_fill_in() {
        assert!(Config::load(None).unwrap().smdp.is_none());
        let c = parse("", "").unwrap().smdp.unwrap();
        let t = c.target().unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("gyro", "smdp.example", 2222)
        );
        assert_eq!(t.host_port(), "smdp.example:2222");
        assert_eq!(c.poll.0.as_secs(), 30);
        assert!(c.perso_dir.is_none());
        let c = parse(":2222", "").unwrap().smdp.unwrap();
        assert_eq!(c.target().unwrap().port, 22);
        let c = parse("gyro@smdp.example:2222", "u@[::1]:2200").unwrap();
        let t = c.smdp.unwrap().target().unwrap();
        assert_eq!(
            (t.host.as_str(), t.host_port()),
            ("::1", "[::1]:2200".into())
        );
    }

    #[test]
    fn a_bad_url_names_the_file_and_field() {
        for (from, to, says) in [
            ("sftp://", "ftp://", "is not an sftp:// URL"),
            ("gyro@", "", "names no user"),
            (":2222", ":99999", "invalid port"),
            (":2222", ":0", "port 0"),
            (":2222", ":2222/in", "has a path"),
            ("gyro@", "gyro:pw@", "carries a password"),
            (
                "sftp://gyro@smdp.example:2222",
                "smdp.example",
                "'smdp.example'",
            ),
        ] {
            let e = parse(from, to).unwrap_err();
            assert!(e.starts_with("x.toml: smdp.sftp_url: "), "{e}");
            assert!(e.contains(says), "{to}: {e}");
        }
    }

    #[test]
    fn other_faults_name_their_field() {
        for (from, to, field) in [
            ("input_dir = \"/in\"", "input_dir = \"\"", "smdp.input_dir"),
            (
                "output_dir = \"/out\"",
                "output_dir = \" \"",
                "smdp.output_dir",
            ),
            (
                "output_dir = \"/out\"",
                "output_dir = \"/in/\"",
                "smdp.output_dir",
            ),
            (
                "sftp_key = \"/etc/gyro/id_ed25519\"",
                "sftp_key = \"\"",
                "smdp.sftp_key",
            ),
            (
                "known_hosts = \"/etc/gyro/known_hosts\"",
                "known_hosts = \"\"",
                "smdp.known_hosts",
            ),
            ("input_dir", "poll = \"500ms\"\ninput_dir", "smdp.poll"),
            ("input_dir", "perso_dir = \"\"\ninput_dir", "smdp.perso_dir"),
        ] {
            let e = parse(from, to).unwrap_err();
            assert!(e.starts_with(&format!("x.toml: {field}: ")), "{e}");
        }
        let e = parse("input_dir", "bogus = 1\ninput_dir").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = parse("input_dir = \"/in\"\n", "").unwrap_err();
        assert!(e.contains("input_dir"), "{e}");
    }
}
