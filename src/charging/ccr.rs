//! A Credit-Control-Request read in place: the identities, the services with
//! their requested and used units, and every location AVP gyro can rate on.

use crate::diameter::codes::{avp as a, value as v};
use crate::diameter::dictionary::VENDOR_3GPP;
use crate::diameter::{Avp, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Initial,
    Update,
    Termination,
    Event,
}

impl RequestType {
    fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            1 => Self::Initial,
            2 => Self::Update,
            3 => Self::Termination,
            4 => Self::Event,
            _ => return None,
        })
    }
}

/// Service-Context-Id, by the last label before `@` (TS 32.299 §7.1.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceContext {
    Gy,
    Ims,
    Sms,
    MmTel,
    Other,
}

impl ServiceContext {
    pub fn parse(s: &str) -> Self {
        let service = s
            .split('@')
            .next()
            .unwrap_or("")
            .rsplit('.')
            .next()
            .unwrap_or("");
        match service {
            "32251" | "32255" => Self::Gy,
            "32260" => Self::Ims,
            "32274" => Self::Sms,
            "32275" => Self::MmTel,
            _ => Self::Other,
        }
    }
    pub fn is_voice(self) -> bool {
        matches!(self, Self::Ims | Self::MmTel)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Units {
    pub total_octets: Option<u64>,
    pub input_octets: Option<u64>,
    pub output_octets: Option<u64>,
    pub time: Option<u32>,
    /// CC-Service-Specific-Units: events such as short messages.
    pub specific: Option<u64>,
}

impl Units {
    fn read(avp: &Avp<'_>) -> Units {
        let mut u = Units::default();
        for m in avp
            .grouped()
            .map_while(Result::ok)
            .filter(|m| m.vendor == 0)
        {
            match m.code {
                a::CC_TOTAL_OCTETS => u.total_octets = m.u64().ok(),
                a::CC_INPUT_OCTETS => u.input_octets = m.u64().ok(),
                a::CC_OUTPUT_OCTETS => u.output_octets = m.u64().ok(),
                a::CC_TIME => u.time = m.u32().ok(),
                a::CC_SERVICE_SPECIFIC_UNITS => u.specific = m.u64().ok(),
                _ => {}
            }
        }
        u
    }
    /// Octets used: the total, or input + output when only those are given.
    pub fn octets(&self) -> u64 {
        self.total_octets.unwrap_or_else(|| {
            self.input_octets
                .unwrap_or(0)
                .saturating_add(self.output_octets.unwrap_or(0))
        })
    }
    pub fn is_empty(&self) -> bool {
        *self == Units::default()
    }
}

impl UsedUnits {
    fn read(avp: &Avp<'_>) -> UsedUnits {
        UsedUnits {
            units: Units::read(avp),
            tariff_change: avp
                .member(a::TARIFF_CHANGE_USAGE, 0)
                .and_then(|t| t.enumerated().ok()),
            reporting_reason: avp
                .member(a::REPORTING_REASON, VENDOR_3GPP)
                .and_then(|r| r.enumerated().ok()),
        }
    }
}

/// One Used-Service-Unit. A gateway splits usage by Tariff-Change-Usage or
/// by Reporting-Reason; each part is rated and recorded on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsedUnits {
    pub units: Units,
    pub tariff_change: Option<i32>,
    pub reporting_reason: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceUnits {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    /// None: no RSU, so nothing new is to be granted.
    pub requested: Option<Units>,
    pub used: Vec<UsedUnits>,
    /// MSCC-level Reporting-Reason (whole-MSCC reasons such as FINAL).
    pub reporting_reason: Option<i32>,
}

impl ServiceUnits {
    pub fn key(&self) -> (Option<u32>, Option<u32>) {
        (self.rating_group, self.service_identifier)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Ccr<'a> {
    pub session_id: &'a str,
    pub origin_host: &'a str,
    pub origin_realm: &'a str,
    /// The Diameter peer the request came over: the gateway itself, or a
    /// DRA between. Not in the message: the application sets it.
    pub via_peer: &'a str,
    pub request_type: Option<RequestType>,
    pub request_number: u32,
    pub service_context: &'a str,
    pub imsi: Option<&'a str>,
    pub msisdn: Option<&'a str>,
    /// Subscription-Id of type END_USER_SIP_URI (`sip:+49…@…` or `tel:`).
    pub sip_uri: Option<&'a str>,
    /// Requested-Action of an EVENT request (RFC 4006 §8.41).
    pub requested_action: Option<i32>,
    pub multiple_services: bool,
    /// The units came at top level (no MSCC): the answer carries them there too.
    pub single_service: bool,
    /// MSCCs, or one entry made of the top-level RSU/USU.
    pub services: Vec<ServiceUnits>,
    pub sgsn_mcc_mnc: Option<&'a str>,
    pub uli: Option<&'a [u8]>,
    pub ims_visited_network: Option<&'a str>,
    /// 0 originating, 1 terminating (IMS Role-Of-Node).
    pub role_of_node: Option<i32>,
    pub called_party: Option<&'a str>,
    pub event_timestamp: Option<u32>,
    pub termination_cause: Option<i32>,
}

/// `<IMSI>@imsi`, `<MSISDN>@msisdn`, or a bare IMSI.
fn user_name<'a>(s: &'a str, c: &mut Ccr<'a>) {
    if let Some(i) = s.strip_suffix("@imsi") {
        c.imsi.get_or_insert(i);
    } else if let Some(m) = s.strip_suffix("@msisdn") {
        c.msisdn.get_or_insert(m);
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        c.imsi.get_or_insert(s);
    }
}

fn service_information<'a>(si: &Avp<'a>, c: &mut Ccr<'a>) {
    for m in si
        .grouped()
        .map_while(Result::ok)
        .filter(|m| m.vendor == VENDOR_3GPP)
    {
        match m.code {
            a::PS_INFORMATION => ps_information(&m, c),
            a::IMS_INFORMATION => {
                for x in m
                    .grouped()
                    .map_while(Result::ok)
                    .filter(|x| x.vendor == VENDOR_3GPP)
                {
                    match x.code {
                        a::IMS_VISITED_NETWORK_IDENTIFIER => c.ims_visited_network = x.utf8().ok(),
                        a::ROLE_OF_NODE => c.role_of_node = x.enumerated().ok(),
                        a::CALLED_PARTY_ADDRESS => c.called_party = x.utf8().ok(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn ps_information<'a>(ps: &Avp<'a>, c: &mut Ccr<'a>) {
    for x in ps
        .grouped()
        .map_while(Result::ok)
        .filter(|x| x.vendor == VENDOR_3GPP)
    {
        match x.code {
            a::TGPP_SGSN_MCC_MNC => c.sgsn_mcc_mnc = x.utf8().ok(),
            a::TGPP_USER_LOCATION_INFO => c.uli = Some(x.octets()),
            _ => {}
        }
    }
}

impl<'a> Ccr<'a> {
    /// Reads a CCR that passed dictionary validation.
    pub fn read(m: &Message<'a>) -> Ccr<'a> {
        let mut c = Ccr::default();
        let mut top = ServiceUnits::default();
        let mut top_used = false;
        for a in m.avps().map_while(Result::ok) {
            match (a.code, a.vendor) {
                (a::SESSION_ID, 0) => c.session_id = a.utf8().unwrap_or_default(),
                (a::ORIGIN_HOST, 0) => c.origin_host = a.utf8().unwrap_or_default(),
                (a::ORIGIN_REALM, 0) => c.origin_realm = a.utf8().unwrap_or_default(),
                (a::CC_REQUEST_TYPE, 0) => {
                    c.request_type = a.enumerated().ok().and_then(RequestType::from_i32)
                }
                (a::CC_REQUEST_NUMBER, 0) => c.request_number = a.u32().unwrap_or(0),
                (a::SERVICE_CONTEXT_ID, 0) => c.service_context = a.utf8().unwrap_or_default(),
                (a::SUBSCRIPTION_ID, 0) => {
                    let t = a
                        .member(a::SUBSCRIPTION_ID_TYPE, 0)
                        .and_then(|t| t.enumerated().ok());
                    let d = a
                        .member(a::SUBSCRIPTION_ID_DATA, 0)
                        .and_then(|d| d.utf8().ok());
                    // Each type fills its own slot: an MSISDN never overwrites an IMSI.
                    match (t, d) {
                        (Some(v::END_USER_IMSI), Some(d)) => {
                            c.imsi.get_or_insert(d);
                        }
                        (Some(v::END_USER_E164), Some(d)) => {
                            c.msisdn.get_or_insert(d);
                        }
                        (Some(v::END_USER_SIP_URI), Some(d)) => {
                            c.sip_uri.get_or_insert(d);
                        }
                        _ => {}
                    }
                }
                (a::USER_NAME, 0) => user_name(a.utf8().unwrap_or_default(), &mut c),
                (a::MULTIPLE_SERVICES_INDICATOR, 0) => {
                    c.multiple_services = a.enumerated().ok() == Some(1)
                }
                (a::MULTIPLE_SERVICES_CREDIT_CONTROL, 0) => {
                    let mut s = ServiceUnits::default();
                    for x in a.grouped().map_while(Result::ok) {
                        match (x.code, x.vendor) {
                            (a::RATING_GROUP, 0) => s.rating_group = x.u32().ok(),
                            (a::SERVICE_IDENTIFIER, 0) => s.service_identifier = x.u32().ok(),
                            (a::REQUESTED_SERVICE_UNIT, 0) => s.requested = Some(Units::read(&x)),
                            (a::USED_SERVICE_UNIT, 0) => s.used.push(UsedUnits::read(&x)),
                            (a::REPORTING_REASON, VENDOR_3GPP) => {
                                s.reporting_reason = x.enumerated().ok()
                            }
                            _ => {}
                        }
                    }
                    c.services.push(s);
                }
                (a::REQUESTED_SERVICE_UNIT, 0) => {
                    top.requested = Some(Units::read(&a));
                    top_used = true;
                }
                (a::USED_SERVICE_UNIT, 0) => {
                    top.used.push(UsedUnits::read(&a));
                    top_used = true;
                }
                (a::SERVICE_INFORMATION, VENDOR_3GPP) => service_information(&a, &mut c),
                // Some gateways put the 29.061 AVPs at top level.
                (a::TGPP_SGSN_MCC_MNC, VENDOR_3GPP) => {
                    c.sgsn_mcc_mnc = c.sgsn_mcc_mnc.or(a.utf8().ok())
                }
                (a::TGPP_USER_LOCATION_INFO, VENDOR_3GPP) => c.uli = c.uli.or(Some(a.octets())),
                (a::REQUESTED_ACTION, 0) => c.requested_action = a.enumerated().ok(),
                (a::EVENT_TIMESTAMP, 0) => c.event_timestamp = a.u32().ok(),
                (a::TERMINATION_CAUSE, 0) => c.termination_cause = a.enumerated().ok(),
                _ => {}
            }
        }
        // An event without units (an SMS node's plain debit, a balance
        // check) asks for one unit of its service.
        let bare_event = c.request_type == Some(RequestType::Event);
        if c.services.is_empty() && (top_used || bare_event) {
            c.single_service = true;
            c.services.push(top);
        }
        c
    }

    /// Whether the request names whom to charge (to re-create a session).
    pub fn names_subscriber(&self) -> bool {
        self.imsi.is_some() || self.msisdn.is_some() || self.sip_uri.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_contexts() {
        assert_eq!(ServiceContext::parse("32251@3gpp.org"), ServiceContext::Gy);
        assert_eq!(
            ServiceContext::parse("14.32251@3gpp.org"),
            ServiceContext::Gy
        );
        assert_eq!(
            ServiceContext::parse("ext.01.001.8.32260@3gpp.org"),
            ServiceContext::Ims
        );
        assert_eq!(ServiceContext::parse("32274@3gpp.org"), ServiceContext::Sms);
        assert_eq!(ServiceContext::parse("x@y"), ServiceContext::Other);
    }

    #[test]
    fn user_name_forms() {
        let mut c = Ccr::default();
        user_name("491700000001@msisdn", &mut c);
        user_name("262019000000001@imsi", &mut c);
        assert_eq!(
            (c.imsi, c.msisdn),
            (Some("262019000000001"), Some("491700000001"))
        );
    }
}
