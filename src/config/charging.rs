//! `[charging]`: who rates (embedded or proxy), the rating file, xDRs, the
//! answers' framing (Final-Unit-Indication, failure handling) and the
//! commit path's bounds; and their checks, with those of `[proxy]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{tls, Config, ConfigError, HumaneDuration};

/// Who rates: gyro itself, or the OCS it forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChargingMode {
    #[default]
    Embedded,
    Proxy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChargingSection {
    pub mode: ChargingMode,
    /// Rating data (bundles, groups, tariffs); absent = the embedded config/rating.toml.
    pub rating: Option<PathBuf>,
    /// Where xDRs go; relative paths are under node.data_dir.
    pub xdr_dir: PathBuf,
    /// A new xDR file starts past this size (and every UTC day).
    pub xdr_max_bytes: u64,
    /// Copy a failing MSCC Result-Code to command level.
    pub raise_mscc_result: bool,
    /// Final-Unit-Action on the last grant: "terminate" or "redirect".
    pub final_unit_action: String,
    pub redirect_url: Option<String>,
    /// Filter-Id sent with RESTRICT_ACCESS (and REDIRECT, when set).
    pub filter_id: Option<String>,
    /// Arm Trigger CHANGE_IN_LOCATION_MCC/MNC in CCAs (TS 32.299), so that
    /// gateways report usage at PLMN borders. Off only for gateways whose
    /// dictionary lacks the Trigger AVP and drop answers carrying it.
    pub location_triggers: bool,
    /// Credit-Control-Failure-Handling in CCA-I: "terminate", "continue" or
    /// "retry_and_terminate"; absent = not sent (the gateway's default).
    pub credit_control_failure_handling: Option<String>,
    /// CC-Session-Failover in CCA-I; absent = not sent.
    pub cc_session_failover: Option<bool>,
    /// Most commits waiting for the disk; past it new charging gets 3004.
    pub commit_queue: usize,
    /// A commit group slower than this makes new charging get 3004.
    pub commit_stall: HumaneDuration,
}

impl Default for ChargingSection {
    fn default() -> Self {
        ChargingSection {
            mode: ChargingMode::Embedded,
            rating: None,
            xdr_dir: PathBuf::from("xdr"),
            xdr_max_bytes: 64 << 20,
            raise_mscc_result: false,
            final_unit_action: "terminate".into(),
            redirect_url: None,
            filter_id: None,
            location_triggers: true,
            credit_control_failure_handling: None,
            cc_session_failover: None,
            commit_queue: 65_536,
            commit_stall: HumaneDuration(Duration::from_secs(2)),
        }
    }
}

impl Config {
    /// `[charging]` and `[proxy]`, each fault named by its key.
    pub(super) fn validate_charging(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: &str| ConfigError::Field {
            file: file.to_string(),
            field: field.to_string(),
            message: message.to_string(),
        };
        let c = &self.charging;
        match (c.final_unit_action.as_str(), &c.redirect_url, &c.filter_id) {
            ("terminate", ..) | ("redirect", Some(_), _) | ("restrict_access", _, Some(_)) => {}
            ("redirect", None, _) => {
                return Err(bad(
                    "charging.redirect_url",
                    "needed when final_unit_action = \"redirect\"",
                ))
            }
            ("restrict_access", _, None) => {
                return Err(bad(
                    "charging.filter_id",
                    "needed when final_unit_action = \"restrict_access\"",
                ))
            }
            _ => {
                return Err(bad(
                    "charging.final_unit_action",
                    "must be \"terminate\", \"redirect\" or \"restrict_access\"",
                ))
            }
        }
        if let Some(v) = &c.credit_control_failure_handling {
            if ccfh_value(v).is_none() {
                return Err(bad(
                    "charging.credit_control_failure_handling",
                    "must be \"terminate\", \"continue\" or \"retry_and_terminate\"",
                ));
            }
        }
        self.validate_proxy(file)
    }

    /// The failure handling CCA-Is carry (validated at load).
    pub fn failure_handling(&self) -> crate::charging::cca::FailureHandling {
        let c = &self.charging;
        crate::charging::cca::FailureHandling {
            ccfh: c
                .credit_control_failure_handling
                .as_deref()
                .and_then(ccfh_value),
            session_failover: c.cc_session_failover.map(i32::from),
        }
    }
}

impl Config {
    fn validate_proxy(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |field: String, message: &str| ConfigError::Field {
            file: file.to_string(),
            field,
            message: message.to_string(),
        };
        let p = &self.proxy;
        if self.charging.mode == ChargingMode::Proxy && p.upstream.is_empty() {
            return Err(bad(
                "proxy.upstream".into(),
                "charging.mode = \"proxy\" needs at least one [[proxy.upstream]]",
            ));
        }
        for (i, u) in p.upstream.iter().enumerate() {
            if u.origin_host.is_empty() || !u.origin_host.is_ascii() {
                return Err(bad(
                    format!("proxy.upstream[{i}].origin_host"),
                    "must be a non-empty ASCII FQDN",
                ));
            }
            let dial = tls::Dial {
                entry: &format!("proxy.upstream[{i}]"),
                origin_host: &u.origin_host,
                connect: true,
                tls: u.tls,
                ca: u.ca.as_deref(),
            };
            tls::validate_dial(file, &dial)?;
            if u.max_in_flight == 0 {
                let field = format!("proxy.upstream[{i}].max_in_flight");
                return Err(bad(field, "must be at least 1"));
            }
        }
        if p.max_in_flight == 0 {
            return Err(bad("proxy.max_in_flight".into(), "must be at least 1"));
        }
        if p.tx.0 < Duration::from_millis(10) {
            return Err(bad("proxy.tx".into(), "must be at least 10ms"));
        }
        Ok(())
    }
}

/// Final-Unit-Action (RFC 4006 §8.35) of `charging.final_unit_action`.
pub fn final_unit_action_value(v: &str) -> i32 {
    match v {
        "redirect" => crate::diameter::codes::value::FINAL_UNIT_REDIRECT,
        "restrict_access" => crate::diameter::codes::value::FINAL_UNIT_RESTRICT_ACCESS,
        _ => crate::diameter::codes::value::FINAL_UNIT_TERMINATE,
    }
}

/// Credit-Control-Failure-Handling values (RFC 4006 §8.18).
fn ccfh_value(name: &str) -> Option<i32> {
    match name {
        "terminate" => Some(0),
        "continue" => Some(1),
        "retry_and_terminate" => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_bounds_are_read_and_checked() {
        let text = include_str!("../../config/proxy.example.toml");
        let c = Config::parse(text, "proxy.toml").unwrap();
        assert_eq!(c.proxy.max_in_flight, 8192);
        assert_eq!(c.proxy.upstream[0].max_in_flight, 4096);
        assert_eq!(c.proxy.upstream[1].max_in_flight, 4096, "the default");
        let zero = text.replace("max_in_flight = 8192", "max_in_flight = 0");
        let e = Config::parse(&zero, "proxy.toml").unwrap_err().to_string();
        assert!(e.contains("proxy.max_in_flight"), "{e}");
        let zero = text.replace("max_in_flight = 4096", "max_in_flight = 0");
        let e = Config::parse(&zero, "proxy.toml").unwrap_err().to_string();
        assert!(e.contains("proxy.upstream[0].max_in_flight"), "{e}");
    }
}
