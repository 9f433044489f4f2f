//! gyro's TOML configuration: the model, humane durations, and validation
//! that names the file and field at fault.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::model::HumaneDuration;
pub use tls::{validate_dial, Dial};

mod charging;
mod diameter;
pub mod events;
pub mod ota;
pub mod smdp;
mod tls;

pub use charging::{final_unit_action_value, ChargingMode, ChargingSection};
pub use diameter::{DiameterSection, PeerSection, UnknownPeersSetting};

/// The configuration `gyro serve` uses when no file is given.
pub const EMBEDDED: &str = include_str!("../config/gyro.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {field}: {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    #[serde(default)]
    pub diameter: DiameterSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub inventory: InventorySection,
    #[serde(default)]
    pub charging: ChargingSection,
    #[serde(default)]
    pub proxy: crate::proxy::ProxySection,
    #[serde(default)]
    pub events: crate::events::EventsSettings,
    #[serde(default)]
    pub lifecycle: LifecycleSection,
    #[serde(default)]
    pub profiles: ProfilesSection,
    /// sFTP to the SM-DP+; absent, gyro exchanges no files.
    #[serde(default)]
    pub smdp: Option<crate::smdp::SmdpSettings>,
    #[serde(default)]
    pub ota: crate::ota::OtaSettings,
}

/// `[profiles]`: how ordered eSIM profiles are numbered and what their
/// SM-DP+ files say of the operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilesSection {
    /// ICCIDs of new orders: this prefix, a never-reused serial, the Luhn digit.
    pub iccid_prefix: String,
    /// Total ICCID length (18–22), check digit included.
    pub iccid_digits: usize,
    /// "Customer" in the files' header.
    pub customer: String,
    /// Label of the transport key the SM-DP+ encrypts Ki/OPc under.
    pub transport_key: String,
}

impl Default for ProfilesSection {
    fn default() -> Self {
        ProfilesSection {
            iccid_prefix: "894910262013".into(),
            iccid_digits: 20,
            customer: "Local MNO".into(),
            transport_key: "MNO.PROD.SM.TRK.AES".into(),
        }
    }
}

impl ProfilesSection {
    pub fn order_settings(&self) -> crate::inventory::orders::OrderSettings {
        crate::inventory::orders::OrderSettings {
            iccid_prefix: self.iccid_prefix.clone(),
            iccid_digits: self.iccid_digits,
            customer: self.customer.clone(),
            transport_key: self.transport_key.clone(),
        }
    }
}

/// `[lifecycle]`: what a lapsed bundle answers, and grace reminders.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSection {
    /// A lapsed bundle's 4012 carries Final-Unit-Indication REDIRECT here.
    pub topup_url: Option<String>,
    /// `Bundle/Grace` reminders this long before grace ends.
    pub grace_reminders: Vec<HumaneDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Admin HTTP API; absent disables it.
    pub listen: Option<SocketAddr>,
    /// Bearer token every request must carry.
    pub token: String,
}

/// The token the shipped configuration uses; gyro warns while it is in use.
pub const DEV_TOKEN: &str = "gyro-dev-token";

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            token: DEV_TOKEN.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySection {
    /// Seed scenario loaded into an empty inventory; absent = the embedded
    /// config/seed.toml, "" = no seed.
    pub seed: Option<PathBuf>,
    /// Stock lines below this many available profiles are flagged.
    pub stock_alert_below: u64,
    /// How often the index checkpoint is rewritten while inventory changes
    /// keep coming, which bounds the change feed a start must replay.
    pub checkpoint_every: HumaneDuration,
}

impl Default for InventorySection {
    fn default() -> Self {
        InventorySection {
            seed: None,
            stock_alert_below: 100,
            checkpoint_every: HumaneDuration(Duration::from_secs(3600)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub origin_host: String,
    pub origin_realm: String,
    /// Diameter over TCP; `""` (None) runs TLS only, on `tls_listen`.
    #[serde(deserialize_with = "diameter::optional_address")]
    pub listen: Option<SocketAddr>,
    /// Host-IP-Address values for CER/CEA; empty means the listen address
    /// (or 127.0.0.1 when listening on every address).
    #[serde(default)]
    pub host_ip_addresses: Vec<IpAddr>,
    pub data_dir: PathBuf,
    /// Diameter over TLS beside `listen` (RFC 6733 §13); unset = none.
    pub tls_listen: Option<SocketAddr>,
    /// PEM chain and key gyro presents, as server and as TLS client.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Set: TLS clients need a certificate from these CAs (see config/tls.rs).
    pub tls_client_ca: Option<PathBuf>,
    /// A clock that `POST /api/v1/clock` may move forward (tests only).
    #[serde(default)]
    pub test_clock: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter (`info`, `gyro=debug`); RUST_LOG overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Human,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Prometheus endpoint (`/metrics`); absent disables it.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

impl Config {
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => Self::parse(EMBEDDED, "embedded config/gyro.toml"),
            Some(p) => {
                let file = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    file: file.clone(),
                    source,
                })?;
                Self::parse(&text, &file)
            }
        }
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: &str| ConfigError::Field {
            file: file.to_string(),
            field: field.to_string(),
            message: message.to_string(),
        };
        let ident_ok = |s: &str| !s.is_empty() && s.is_ascii() && !s.contains(char::is_whitespace);
        if !ident_ok(&self.node.origin_host) {
            return Err(bad("node.origin_host", "must be a non-empty ASCII FQDN"));
        }
        if !ident_ok(&self.node.origin_realm) {
            return Err(bad("node.origin_realm", "must be a non-empty ASCII realm"));
        }
        let d = &self.diameter;
        if d.watchdog_interval.0 < Duration::from_secs(1) {
            return Err(bad(
                "diameter.watchdog_interval",
                "must be at least 1s (RFC 3539 recommends 30s, minimum 6s)",
            ));
        }
        if d.request_timeout.0 < Duration::from_millis(100) {
            return Err(bad("diameter.request_timeout", "must be at least 100ms"));
        }
        if d.max_message_size < 4096 {
            return Err(bad(
                "diameter.max_message_size",
                "must be at least 4096 octets",
            ));
        }
        diameter::validate(file, &self.node, d)?;
        tls::validate_peers(file, &d.peers)?;
        tls::validate_node(file, &self.node)?;
        self.validate_charging(file)?;
        events::validate(&self.events, file)?;
        let p = &self.profiles;
        if let Err(e) =
            crate::inventory::orders::iccid_serial_width(&p.iccid_prefix, p.iccid_digits)
        {
            let (field, message) = match &e {
                crate::inventory::InventoryError::Invalid { field, message } => {
                    (field.clone(), message.clone())
                }
                other => ("profiles".into(), other.to_string()),
            };
            return Err(bad(&field, &message));
        }
        for (k, v) in [
            ("profiles.customer", &p.customer),
            ("profiles.transport_key", &p.transport_key),
        ] {
            if v.trim().is_empty() || v.contains(['\n', '\r']) {
                return Err(bad(k, "must be one non-empty line"));
            }
        }
        if let Some(s) = &self.smdp {
            smdp::validate(s, file)?;
        }
        ota::validate(&self.ota, file)?;
        if self.api.token.len() < 8 {
            return Err(bad("api.token", "must be at least 8 characters"));
        }
        Ok(())
    }

    /// What opening the node's inventory needs: `[node]`'s data folder and
    /// clock, `[lifecycle]`'s reminders and `[inventory]`.
    pub fn inventory_settings(&self) -> crate::inventory::InventorySettings {
        crate::inventory::InventorySettings {
            data_dir: self.node.data_dir.clone(),
            test_clock: self.node.test_clock,
            grace_reminders: self
                .lifecycle
                .grace_reminders
                .iter()
                .map(|d| d.secs())
                .collect(),
            stock_alert_below: self.inventory.stock_alert_below,
            seed: self.inventory.seed.clone(),
        }
    }

    pub fn host_ips(&self) -> Vec<IpAddr> {
        if !self.node.host_ip_addresses.is_empty() {
            return self.node.host_ip_addresses.clone();
        }
        // TLS only: the TLS listener's address (validated: one is set).
        let listen = self.node.listen.or(self.node.tls_listen);
        let ip = listen.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        if ip.is_unspecified() {
            vec![IpAddr::from([127, 0, 0, 1])]
        } else {
            vec![ip]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_is_valid() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.node.listen.map(|l| l.port()), Some(3868));
        assert_eq!(c.node.data_dir, PathBuf::from("./data"));
        assert_eq!(c.charging.mode, ChargingMode::Embedded);
    }

    #[test]
    fn the_shipped_proxy_example_is_valid() {
        let text = include_str!("../config/proxy.example.toml");
        let c = Config::parse(text, "config/proxy.example.toml").unwrap();
        assert_eq!(c.charging.mode, ChargingMode::Proxy);
        assert_eq!(c.proxy.upstream.len(), 2);
        assert_eq!(c.proxy.identity, crate::proxy::Identity::Msisdn);
        // Proxy mode without an upstream names what is missing.
        let none = EMBEDDED.replace("[charging]\n", "[charging]\nmode = \"proxy\"\n");
        let e = Config::parse(&none, "x.toml").unwrap_err().to_string();
        assert!(e.contains("proxy.upstream"), "{e}");
    }

    #[test]
    fn strict_m_bit_is_on_unless_turned_off() {
        let line = "strict_m_bit = true";
        assert!(
            EMBEDDED.contains(line),
            "the key is documented in config/gyro.toml"
        );
        assert!(Config::load(None).unwrap().diameter.strict_m_bit);
        assert!(DiameterSection::default().strict_m_bit);
        let unset = Config::parse(&EMBEDDED.replace(line, ""), "x.toml").unwrap();
        assert!(unset.diameter.strict_m_bit);
        let lax = EMBEDDED.replace(line, "strict_m_bit = false");
        assert!(!Config::parse(&lax, "x.toml").unwrap().diameter.strict_m_bit);
        let bad = EMBEDDED.replace(line, "strict_m_bit = \"no\"");
        let e = Config::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(e.contains("strict_m_bit"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(
            "180d".parse::<HumaneDuration>().unwrap().0,
            Duration::from_secs(180 * 86_400)
        );
        assert_eq!(
            "500ms".parse::<HumaneDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert!("5 parsecs".parse::<HumaneDuration>().is_err());
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let t = EMBEDDED.replace(
            "watchdog_interval = \"30s\"",
            "watchdog_interval = \"30 fortnights\"",
        );
        let e = Config::parse(&t, "x.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("x.toml:") && e.contains("watchdog_interval"),
            "{e}"
        );
        let t = EMBEDDED.replace("origin_host = \"gyro.test.local\"", "origin_host = \"\"");
        let e = Config::parse(&t, "x.toml").unwrap_err().to_string();
        assert_eq!(
            e,
            "x.toml: node.origin_host: must be a non-empty ASCII FQDN"
        );
        let e = Config::parse("[node]\nbogus = 1\n", "y.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.toml") && e.contains("bogus"), "{e}");
        let t = EMBEDDED.replace(
            "# credit_control_failure_handling = \"retry_and_terminate\"",
            "credit_control_failure_handling = \"retry\"",
        );
        let e = Config::parse(&t, "x.toml").unwrap_err().to_string();
        assert!(
            e.contains("charging.credit_control_failure_handling"),
            "{e}"
        );
    }
}
