//! `[proxy]`: the OCS nodes gyro forwards to in proxy mode, how it names
//! the subscriber to them, and what it does when none answers.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::model::HumaneDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    pub upstream: Vec<UpstreamSection>,
    /// RFC 4006 Tx: how long an upstream may take to answer before the
    /// request fails over.
    pub tx: HumaneDuration,
    pub identity: Identity,
    pub on_upstream_down: OnUpstreamDown,
    pub failsafe_grant: FailsafeGrant,
    /// Most gateway requests in the proxy at once; past it, 3004.
    pub max_in_flight: usize,
}

impl Default for ProxySection {
    fn default() -> Self {
        ProxySection {
            upstream: vec![],
            tx: HumaneDuration(std::time::Duration::from_secs(2)),
            identity: Identity::Msisdn,
            on_upstream_down: OnUpstreamDown::Terminate,
            failsafe_grant: FailsafeGrant::default(),
            max_in_flight: 8192,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub origin_host: String,
    pub connect: SocketAddr,
    /// Lowest first; upstreams of equal priority share sessions.
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Most requests waiting on this upstream at once; past it, it is
    /// passed over as busy.
    #[serde(default = "upstream_max_in_flight")]
    pub max_in_flight: usize,
}

fn upstream_max_in_flight() -> usize {
    4096
}

/// The one charging identity an upstream sees for every IMSI of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Identity {
    /// `<MSISDN>@msisdn`, Subscription-Id END_USER_E164.
    Msisdn,
    /// The profile's own IMSI (slot 1), `<IMSI>@imsi`, END_USER_IMSI.
    Imsi,
    /// The ICCID as a NAI, `<ICCID>@iccid`, END_USER_NAI.
    Iccid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUpstreamDown {
    /// Answer from gyro's own rating, within `failsafe_grant`.
    Local,
    /// Answer 3002 at once.
    Terminate,
}

/// The most a request answered locally may be granted per MSCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailsafeGrant {
    pub octets: u64,
    pub seconds: u64,
}

impl Default for FailsafeGrant {
    fn default() -> Self {
        FailsafeGrant {
            octets: 10_000_000,
            seconds: 300,
        }
    }
}
