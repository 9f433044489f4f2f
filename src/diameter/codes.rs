//! AVP definitions gyro writes itself, and result codes (RFC 6733, RFC 4006/8506).

use super::builder::AvpDef;

pub const SESSION_ID: AvpDef = AvpDef::base(avp::SESSION_ID);
pub const ORIGIN_HOST: AvpDef = AvpDef::base(avp::ORIGIN_HOST);
pub const ORIGIN_REALM: AvpDef = AvpDef::base(avp::ORIGIN_REALM);
pub const DESTINATION_HOST: AvpDef = AvpDef::base(avp::DESTINATION_HOST);
pub const DESTINATION_REALM: AvpDef = AvpDef::base(avp::DESTINATION_REALM);
pub const RESULT_CODE: AvpDef = AvpDef::base(avp::RESULT_CODE);
pub const HOST_IP_ADDRESS: AvpDef = AvpDef::base(257);
pub const VENDOR_ID: AvpDef = AvpDef::base(266);
pub const PRODUCT_NAME: AvpDef = AvpDef::base_optional(269);
pub const FIRMWARE_REVISION: AvpDef = AvpDef::base_optional(267);
pub const ORIGIN_STATE_ID: AvpDef = AvpDef::base(avp::ORIGIN_STATE_ID);
pub const SUPPORTED_VENDOR_ID: AvpDef = AvpDef::base(265);
pub const AUTH_APPLICATION_ID: AvpDef = AvpDef::base(258);
pub const ACCT_APPLICATION_ID: AvpDef = AvpDef::base(259);
pub const VENDOR_SPECIFIC_APPLICATION_ID: AvpDef = AvpDef::base(260);
pub const INBAND_SECURITY_ID: AvpDef = AvpDef::base(299);
pub const DISCONNECT_CAUSE: AvpDef = AvpDef::base(273);
pub const ERROR_MESSAGE: AvpDef = AvpDef::base_optional(281);
pub const FAILED_AVP: AvpDef = AvpDef::base(279);
pub const PROXY_INFO: AvpDef = AvpDef::base(avp::PROXY_INFO);
pub const ROUTE_RECORD: AvpDef = AvpDef::base(avp::ROUTE_RECORD);
pub const USER_NAME: AvpDef = AvpDef::base(avp::USER_NAME);
pub const EVENT_TIMESTAMP: AvpDef = AvpDef::base(avp::EVENT_TIMESTAMP);
pub const TERMINATION_CAUSE: AvpDef = AvpDef::base(avp::TERMINATION_CAUSE);
pub const RE_AUTH_REQUEST_TYPE: AvpDef = AvpDef::base(avp::RE_AUTH_REQUEST_TYPE);

/// AVP codes (RFC 6733, RFC 4006/8506; 3GPP TS 29.061 and TS 32.299 for
/// vendor 10415), for reading requests.
pub mod avp {
    pub const USER_NAME: u32 = 1;
    pub const FILTER_ID: u32 = 11;
    pub const TGPP_CHARGING_ID: u32 = 2;
    pub const TGPP_PDP_TYPE: u32 = 3;
    pub const TGPP_IMSI_MCC_MNC: u32 = 8;
    pub const TGPP_RAT_TYPE: u32 = 21;
    pub const CALLED_STATION_ID: u32 = 30;
    pub const TGPP_SGSN_MCC_MNC: u32 = 18;
    pub const TGPP_USER_LOCATION_INFO: u32 = 22;
    pub const EVENT_TIMESTAMP: u32 = 55;
    pub const SESSION_ID: u32 = 263;
    pub const ORIGIN_HOST: u32 = 264;
    pub const RESULT_CODE: u32 = 268;
    pub const ORIGIN_REALM: u32 = 296;
    pub const ORIGIN_STATE_ID: u32 = 278;
    pub const DESTINATION_REALM: u32 = 283;
    pub const PROXY_INFO: u32 = 284;
    pub const ROUTE_RECORD: u32 = 282;
    pub const RE_AUTH_REQUEST_TYPE: u32 = 285;
    pub const DESTINATION_HOST: u32 = 293;
    pub const TERMINATION_CAUSE: u32 = 295;
    pub const CC_INPUT_OCTETS: u32 = 412;
    pub const CC_OUTPUT_OCTETS: u32 = 414;
    pub const CC_REQUEST_NUMBER: u32 = 415;
    pub const CC_SERVICE_SPECIFIC_UNITS: u32 = 417;
    pub const CC_SESSION_FAILOVER: u32 = 418;
    pub const CC_REQUEST_TYPE: u32 = 416;
    pub const CC_TIME: u32 = 420;
    pub const CC_TOTAL_OCTETS: u32 = 421;
    pub const CHECK_BALANCE_RESULT: u32 = 422;
    pub const COST_INFORMATION: u32 = 423;
    pub const COST_UNIT: u32 = 424;
    pub const CURRENCY_CODE: u32 = 425;
    pub const CREDIT_CONTROL_FAILURE_HANDLING: u32 = 427;
    pub const EXPONENT: u32 = 429;
    pub const FINAL_UNIT_INDICATION: u32 = 430;
    pub const GRANTED_SERVICE_UNIT: u32 = 431;
    pub const RATING_GROUP: u32 = 432;
    pub const REDIRECT_ADDRESS_TYPE: u32 = 433;
    pub const REDIRECT_SERVER: u32 = 434;
    pub const REDIRECT_SERVER_ADDRESS: u32 = 435;
    pub const REQUESTED_ACTION: u32 = 436;
    pub const REQUESTED_SERVICE_UNIT: u32 = 437;
    pub const SERVICE_IDENTIFIER: u32 = 439;
    pub const SUBSCRIPTION_ID: u32 = 443;
    pub const SUBSCRIPTION_ID_DATA: u32 = 444;
    pub const UNIT_VALUE: u32 = 445;
    pub const USED_SERVICE_UNIT: u32 = 446;
    pub const VALUE_DIGITS: u32 = 447;
    pub const VALIDITY_TIME: u32 = 448;
    pub const FINAL_UNIT_ACTION: u32 = 449;
    pub const SUBSCRIPTION_ID_TYPE: u32 = 450;
    pub const TARIFF_CHANGE_USAGE: u32 = 452;
    pub const MULTIPLE_SERVICES_INDICATOR: u32 = 455;
    pub const MULTIPLE_SERVICES_CREDIT_CONTROL: u32 = 456;
    pub const SERVICE_CONTEXT_ID: u32 = 461;
    // Vendor 10415 (3GPP).
    pub const ROLE_OF_NODE: u32 = 829;
    pub const CALLED_PARTY_ADDRESS: u32 = 832;
    pub const TRIGGER_TYPE: u32 = 870;
    pub const REPORTING_REASON: u32 = 872;
    pub const SERVICE_INFORMATION: u32 = 873;
    pub const PS_INFORMATION: u32 = 874;
    pub const IMS_INFORMATION: u32 = 876;
    pub const TRIGGER: u32 = 1264;
    pub const PDP_ADDRESS: u32 = 1227;
    pub const SGSN_ADDRESS: u32 = 1228;
    pub const IMS_VISITED_NETWORK_IDENTIFIER: u32 = 2713;
}

/// Enumerated values gyro reads or writes.
pub mod value {
    /// Subscription-Id-Type (RFC 4006 §8.47).
    pub const END_USER_E164: i32 = 0;
    pub const END_USER_IMSI: i32 = 1;
    pub const END_USER_SIP_URI: i32 = 2;
    pub const END_USER_NAI: i32 = 3;
    /// Requested-Action (RFC 4006 §8.41), on EVENT requests.
    pub const DIRECT_DEBITING: i32 = 0;
    pub const REFUND_ACCOUNT: i32 = 1;
    pub const CHECK_BALANCE: i32 = 2;
    pub const PRICE_ENQUIRY: i32 = 3;
    /// Check-Balance-Result (RFC 4006 §8.6).
    pub const ENOUGH_CREDIT: i32 = 0;
    pub const NO_CREDIT: i32 = 1;
    /// Trigger-Type (TS 32.299 §7.2.236): report at a PLMN border.
    pub const CHANGE_IN_LOCATION_MCC: i32 = 30;
    pub const CHANGE_IN_LOCATION_MNC: i32 = 31;
    /// Final-Unit-Action (RFC 4006 §8.35).
    pub const FINAL_UNIT_TERMINATE: i32 = 0;
    pub const FINAL_UNIT_REDIRECT: i32 = 1;
    pub const FINAL_UNIT_RESTRICT_ACCESS: i32 = 2;
    /// Redirect-Address-Type URL (RFC 4006 §8.38).
    pub const REDIRECT_URL: i32 = 2;
    /// Role-Of-Node (TS 32.299 §7.2.190).
    pub const TERMINATING_ROLE: i32 = 1;
    /// Re-Auth-Request-Type (RFC 6733 §8.12): re-authorize, then carry on.
    pub const AUTHORIZE_ONLY: i32 = 0;
}

/// Result-Code values.
pub mod result {
    pub const SUCCESS: u32 = 2001;
    pub const COMMAND_UNSUPPORTED: u32 = 3001;
    pub const UNABLE_TO_DELIVER: u32 = 3002;
    pub const REALM_NOT_SERVED: u32 = 3003;
    pub const TOO_BUSY: u32 = 3004;
    pub const LOOP_DETECTED: u32 = 3005;
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
    // RFC 4006 §9.1 credit-control results.
    pub const END_USER_SERVICE_DENIED: u32 = 4010;
    pub const CREDIT_CONTROL_NOT_APPLICABLE: u32 = 4011;
    pub const CREDIT_LIMIT_REACHED: u32 = 4012;
    pub const AUTHORIZATION_REJECTED: u32 = 5003;
    pub const USER_UNKNOWN: u32 = 5030;
    pub const RATING_FAILED: u32 = 5031;
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
