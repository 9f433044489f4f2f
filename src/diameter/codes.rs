//! AVP definitions gyro writes itself, and result codes (RFC 6733, RFC 4006/8506).

use super::builder::AvpDef;

pub const SESSION_ID: AvpDef = AvpDef::base(263);
pub const ORIGIN_HOST: AvpDef = AvpDef::base(264);
pub const ORIGIN_REALM: AvpDef = AvpDef::base(296);
pub const DESTINATION_HOST: AvpDef = AvpDef::base(293);
pub const DESTINATION_REALM: AvpDef = AvpDef::base(283);
pub const RESULT_CODE: AvpDef = AvpDef::base(268);
pub const HOST_IP_ADDRESS: AvpDef = AvpDef::base(257);
pub const VENDOR_ID: AvpDef = AvpDef::base(266);
pub const PRODUCT_NAME: AvpDef = AvpDef::base_optional(269);
pub const FIRMWARE_REVISION: AvpDef = AvpDef::base_optional(267);
pub const ORIGIN_STATE_ID: AvpDef = AvpDef::base(278);
pub const SUPPORTED_VENDOR_ID: AvpDef = AvpDef::base(265);
pub const AUTH_APPLICATION_ID: AvpDef = AvpDef::base(258);
pub const ACCT_APPLICATION_ID: AvpDef = AvpDef::base(259);
pub const VENDOR_SPECIFIC_APPLICATION_ID: AvpDef = AvpDef::base(260);
pub const INBAND_SECURITY_ID: AvpDef = AvpDef::base(299);
pub const DISCONNECT_CAUSE: AvpDef = AvpDef::base(273);
pub const ERROR_MESSAGE: AvpDef = AvpDef::base_optional(281);
pub const FAILED_AVP: AvpDef = AvpDef::base(279);
pub const PROXY_INFO: AvpDef = AvpDef::base(284);
pub const ROUTE_RECORD: AvpDef = AvpDef::base(282);
pub const USER_NAME: AvpDef = AvpDef::base(1);
pub const EVENT_TIMESTAMP: AvpDef = AvpDef::base(55);
pub const TERMINATION_CAUSE: AvpDef = AvpDef::base(295);

/// Result-Code values.
pub mod result {
    pub const SUCCESS: u32 = 2001;
    pub const COMMAND_UNSUPPORTED: u32 = 3001;
    pub const UNABLE_TO_DELIVER: u32 = 3002;
    pub const TOO_BUSY: u32 = 3004;
    pub const APPLICATION_UNSUPPORTED: u32 = 3007;
    pub const INVALID_HDR_BITS: u32 = 3008;
    pub const INVALID_AVP_BITS: u32 = 3009;
    pub const UNKNOWN_PEER: u32 = 3010;
    pub const ELECTION_LOST: u32 = 4003;
    pub const AVP_UNSUPPORTED: u32 = 5001;
    pub const UNKNOWN_SESSION_ID: u32 = 5002;
    pub const INVALID_AVP_VALUE: u32 = 5004;
    pub const MISSING_AVP: u32 = 5005;
    pub const NO_COMMON_APPLICATION: u32 = 5010;
    pub const UNABLE_TO_COMPLY: u32 = 5012;
    pub const INVALID_AVP_LENGTH: u32 = 5014;
}

/// Disconnect-Cause values (RFC 6733 §5.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectCause {
    Rebooting = 0,
    Busy = 1,
    DoNotWantToTalkToYou = 2,
}

impl DisconnectCause {
    pub fn from_i32(v: i32) -> Option<Self> {
        match v {
            0 => Some(Self::Rebooting),
            1 => Some(Self::Busy),
            2 => Some(Self::DoNotWantToTalkToYou),
            _ => None,
        }
    }
}
