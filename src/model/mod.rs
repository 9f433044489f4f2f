//! gyro's domain vocabulary, below every module that has logic: sponsors,
//! IMSI batches and IMSIs, eSIM profile pools and profiles, dynamic IMSI
//! pools, products (bundles), accounts, the hold policy, usage and humane
//! durations; the networks and rate codes tariffs are keyed by (`Plmn`,
//! `RateCode`); instants in RFC 3339; webhook signatures (both ways); and
//! the node clock, the one source of "now". It imports no other module of
//! gyro.
//!
//! The records: sponsors, IMSI batches and IMSIs, eSIM
//! profile pools and profiles, dynamic IMSI pools, products (bundles),
//! accounts and the hold policy, with their lifecycle states.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod clock;
mod duration;
pub mod event;
pub mod lifecycle;
pub mod order;
pub mod ota;
mod plmn;
pub mod signature;
mod usage;
mod utc;

pub use duration::HumaneDuration;
pub use plmn::{Plmn, PlmnError, RateCode};
pub use usage::{Allowance, Used};
pub use utc::{parse_rfc3339, rfc3339, Rfc3339Error};

/// Unix seconds, UTC.
pub type UnixTime = i64;

/// A secret value (Ki, OPc ciphertext, PIN, PUK): stored and exported, never
/// printed by `Debug` or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How a sponsor's Gy/Ro proxy rewrites its IMSIs into the operator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    /// Prefix of the sponsor's IMSIs, e.g. `213779`.
    pub sponsor_prefix: String,
    /// The operator prefix that replaces it on the wire, e.g. `262019`.
    pub operator_prefix: String,
}

impl Translation {
    /// The IMSI as the sponsor's proxy presents it.
    pub fn to_operator(&self, imsi: &str) -> Option<String> {
        imsi.strip_prefix(&self.sponsor_prefix)
            .map(|rest| format!("{}{rest}", self.operator_prefix))
    }
    pub fn to_sponsor(&self, imsi: &str) -> Option<String> {
        imsi.strip_prefix(&self.operator_prefix)
            .map(|rest| format!("{}{rest}", self.sponsor_prefix))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sponsor {
    pub id: String,
    pub name: String,
    /// The MCC+MNC prefixes of its IMSIs ("26201", "21377").
    pub plmns: Vec<String>,
    #[serde(default)]
    pub translation: Option<Translation>,
    /// Origin-Hosts of its Gy/Ro proxies.
    #[serde(default)]
    pub proxy_origin_hosts: Vec<String>,
    #[serde(default = "eur")]
    pub currency: String,
    /// Whether its IMSIs need an entry in the home HSS (false when translated).
    #[serde(default = "yes")]
    pub provision_in_home_hss: bool,
}

fn eur() -> String {
    "EUR".into()
}
fn yes() -> bool {
    true
}

impl Sponsor {
    pub fn owns_imsi(&self, imsi: &str) -> bool {
        self.plmns.iter().any(|p| imsi.starts_with(p.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImsiBatch {
    pub name: String,
    pub sponsor: String,
    pub recycling: bool,
    pub end_of_life: bool,
    pub count: u64,
    pub imported_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ImsiState {
    Available,
    Embedded {
        profile: String,
        slot: u8,
    },
    InDynamicPool {
        pool: String,
    },
    Hold {
        until: UnixTime,
        reserved_for: Option<u64>,
    },
    EndOfLife,
    /// Taken for a profile order until its Standard file is ingested
    /// or the order is cancelled: nothing else may use it meanwhile.
    Reserved {
        order: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imsi {
    pub imsi: String,
    pub batch: String,
    pub sponsor: String,
    #[serde(flatten)]
    pub state: ImsiState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolProduct {
    pub product: String,
    /// Lower is preferred (1 = high priority).
    pub priority: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EsimPool {
    pub name: String,
    pub products: Vec<PoolProduct>,
    /// Whether IMSIs of its disposed profiles may serve new profiles after
    /// their hold (their batch must recycle too).
    #[serde(default)]
    pub recycle: bool,
    /// Sponsor id of each IMSI position, slot 1 first ("IMSI1 Own, IMSI2
    /// X"); orders must follow it. Empty: any layout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layout: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProfileState {
    Available,
    Assigned { account: u64 },
    Disposed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub iccid: String,
    pub pool: String,
    /// Slot 1 first; up to 10.
    pub imsis: Vec<String>,
    pub transport_key_label: String,
    pub ki: Secret,
    pub opc: Secret,
    pub pin1: Secret,
    pub puk1: Secret,
    pub pin2: Secret,
    pub puk2: Secret,
    #[serde(flatten)]
    pub state: ProfileState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicImsiPool {
    pub name: String,
    pub products: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Product {
    pub name: String,
    /// Rate codes (`E212-262-01`) the bundle covers.
    #[serde(default)]
    pub rate_codes: Vec<String>,
    /// Named groups of rate codes ("other EU member codes").
    #[serde(default)]
    pub rate_code_groups: Vec<String>,
    /// How long the bundle runs from activation ("7d", "30d"); none: it
    /// never lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumaneDuration>,
    /// Whether it may renew by itself (for accounts with `auto_renew`).
    #[serde(default)]
    pub renewable: bool,
    /// After a lapse the profile stays assigned this long ("60d") before
    /// the account closes; none: it closes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<HumaneDuration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Grace { until: UnixTime },
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: u64,
    pub msisdn: String,
    pub product: String,
    pub profile: Option<String>,
    #[serde(flatten)]
    pub status: AccountStatus,
    pub created_at: UnixTime,
}

/// Days an IMSI is held after leaving a profile, by the MCC of the IMSI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HoldPolicy {
    #[serde(default)]
    pub days_by_mcc: BTreeMap<String, u32>,
    /// For IMSIs unembedded by a dynamic swap.
    #[serde(default)]
    pub dynamic_swap_days: u32,
}

/// Luhn check over all digits (ISO/IEC 7812), as ICCIDs carry.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The check digit that makes `payload` + digit Luhn-valid.
pub fn luhn_digit(payload: &str) -> char {
    (b'0'..=b'9')
        .map(|d| d as char)
        .find(|d| luhn_valid(&format!("{payload}{d}")))
        .unwrap_or('0')
}

/// ICCIDs as operators use them: 18–22 digits with a valid Luhn digit.
pub fn valid_iccid(s: &str) -> bool {
    (18..=22).contains(&s.len()) && luhn_valid(s)
}

/// `8949 1026 2010 0000 1234 5`: grouped by four, as the story prints it.
pub fn iccid_grouped(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_examples_from_reference() {
        assert!(valid_iccid("894910262010000012345"));
        assert!(!luhn_valid("8949102620100000125"));
        assert!(valid_iccid("8949102620100000126"));
        assert_eq!(luhn_digit("8949102620100000123"), '9');
        assert_eq!(
            iccid_grouped("894910262010000012345"),
            "8949 1026 2010 0000 1234 5"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let p = Profile {
            iccid: "8949102620100000126".into(),
            pool: "p".into(),
            imsis: vec![],
            transport_key_label: "MNO.PROD.SM.TRK.AES".into(),
            ki: Secret("D07F9224CB230F5EDE645CA0D98C9CDB".into()),
            opc: Secret("F94DEB6986F99DEC02374C58E1B1547D".into()),
            pin1: Secret("1111".into()),
            puk1: Secret("11111111".into()),
            pin2: Secret("2222".into()),
            puk2: Secret("22222222".into()),
            state: ProfileState::Available,
        };
        let d = format!("{p:?}");
        for s in ["D07F92", "F94DEB", "1111", "2222"] {
            assert!(!d.contains(s), "{d}");
        }
    }

    #[test]
    fn translation_both_ways() {
        let t = Translation {
            sponsor_prefix: "213779".into(),
            operator_prefix: "262019".into(),
        };
        assert_eq!(
            t.to_operator("213779000000001").as_deref(),
            Some("262019000000001")
        );
        assert_eq!(
            t.to_sponsor("262019000000001").as_deref(),
            Some("213779000000001")
        );
        assert_eq!(t.to_operator("262010000000001"), None);
    }
}
