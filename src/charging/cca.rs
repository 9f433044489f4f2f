//! Encodes a `Decision` as a Credit-Control-Answer.

use bytes::BytesMut;

use super::engine::Decision;
use super::rate::{Granted, ServiceAnswer};
use crate::diameter::answer::{begin_answer, Origin};
use crate::diameter::builder::AvpDef;
use crate::diameter::codes::{self, avp, value};
use crate::diameter::dictionary::VENDOR_3GPP;
use crate::diameter::header::application;
use crate::diameter::Message;

const CC_REQUEST_TYPE: AvpDef = AvpDef::base(avp::CC_REQUEST_TYPE);
const CC_REQUEST_NUMBER: AvpDef = AvpDef::base(avp::CC_REQUEST_NUMBER);
const MSCC: AvpDef = AvpDef::base(avp::MULTIPLE_SERVICES_CREDIT_CONTROL);
const GSU: AvpDef = AvpDef::base(avp::GRANTED_SERVICE_UNIT);
const CC_TOTAL_OCTETS: AvpDef = AvpDef::base(avp::CC_TOTAL_OCTETS);
const CC_TIME: AvpDef = AvpDef::base(avp::CC_TIME);
const CC_SERVICE_SPECIFIC_UNITS: AvpDef = AvpDef::base(avp::CC_SERVICE_SPECIFIC_UNITS);
const FILTER_ID: AvpDef = AvpDef::base(avp::FILTER_ID);
const CHECK_BALANCE_RESULT: AvpDef = AvpDef::base(avp::CHECK_BALANCE_RESULT);
const COST_INFORMATION: AvpDef = AvpDef::base(avp::COST_INFORMATION);
const UNIT_VALUE: AvpDef = AvpDef::base(avp::UNIT_VALUE);
const VALUE_DIGITS: AvpDef = AvpDef::base(avp::VALUE_DIGITS);
const EXPONENT: AvpDef = AvpDef::base(avp::EXPONENT);
const CURRENCY_CODE: AvpDef = AvpDef::base(avp::CURRENCY_CODE);
const RATING_GROUP: AvpDef = AvpDef::base(avp::RATING_GROUP);
const SERVICE_IDENTIFIER: AvpDef = AvpDef::base(avp::SERVICE_IDENTIFIER);
const VALIDITY_TIME: AvpDef = AvpDef::base(avp::VALIDITY_TIME);
const FINAL_UNIT_INDICATION: AvpDef = AvpDef::base(avp::FINAL_UNIT_INDICATION);
const FINAL_UNIT_ACTION: AvpDef = AvpDef::base(avp::FINAL_UNIT_ACTION);
const REDIRECT_SERVER: AvpDef = AvpDef::base(avp::REDIRECT_SERVER);
const REDIRECT_ADDRESS_TYPE: AvpDef = AvpDef::base(avp::REDIRECT_ADDRESS_TYPE);
const REDIRECT_SERVER_ADDRESS: AvpDef = AvpDef::base(avp::REDIRECT_SERVER_ADDRESS);
const TRIGGER: AvpDef = AvpDef::vendor(avp::TRIGGER, VENDOR_3GPP, true);
const TRIGGER_TYPE: AvpDef = AvpDef::vendor(avp::TRIGGER_TYPE, VENDOR_3GPP, true);

const CC_SESSION_FAILOVER: AvpDef = AvpDef::base(avp::CC_SESSION_FAILOVER);
const CREDIT_CONTROL_FAILURE_HANDLING: AvpDef = AvpDef::base(avp::CREDIT_CONTROL_FAILURE_HANDLING);

/// The Final-Unit-Indication gyro sends with a last grant, and (for
/// REDIRECT and RESTRICT_ACCESS) with a 4012 so the gateway sends the user
/// to a top-up instead of cutting them off (RFC 4006 §5.6.3).
pub struct FinalUnit<'a> {
    pub action: i32,
    pub redirect_url: Option<&'a str>,
    /// Filter-Id of the gateway's filter that still lets the user reach the
    /// top-up server.
    pub filter_id: Option<&'a str>,
}

impl FinalUnit<'_> {
    /// Whether a refusal for lack of credit carries this indication.
    fn on_credit_limit(&self, s: &ServiceAnswer) -> bool {
        s.result_code == codes::result::CREDIT_LIMIT_REACHED
            && self.action != value::FINAL_UNIT_TERMINATE
    }
}

/// What a CCA-I tells the gateway to do when gyro cannot be reached
/// (RFC 4006 §8.14, §8.18); absent means the RFC defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureHandling {
    pub ccfh: Option<i32>,
    pub session_failover: Option<i32>,
}

/// The answer's framing: the Final-Unit-Indication form, failure handling.
pub struct Answering<'a> {
    pub fui: FinalUnit<'a>,
    /// Where a lapsed bundle's refusal sends the user (REDIRECT).
    pub topup_url: Option<&'a str>,
    pub failure: FailureHandling,
}

pub fn encode(
    buf: &mut BytesMut,
    origin: &Origin,
    req: &Message<'_>,
    d: &Decision,
    how: &Answering<'_>,
) -> usize {
    // Without MSCC, a service's refusal can only be said at command level.
    let single = d.services.first().filter(|_| d.single_service);
    let result_code = match single {
        Some(s) if d.result_code == codes::result::SUCCESS => s.result_code,
        _ => d.result_code,
    };
    let mut b = begin_answer(buf, origin, req, result_code);
    b.u32(codes::AUTH_APPLICATION_ID, application::CREDIT_CONTROL);
    for def in [CC_REQUEST_TYPE, CC_REQUEST_NUMBER] {
        match req.find(def.code, 0) {
            Some(a) => {
                b.raw_avp(a.raw());
            }
            None => {
                b.u32(def, 0);
            }
        }
    }
    // Stable for this boot: lets the gateway tell a restart (RFC 6733 §8.16).
    b.u32(codes::ORIGIN_STATE_ID, origin.state_id);
    if d.initial {
        if let Some(v) = how.failure.session_failover {
            b.i32(CC_SESSION_FAILOVER, v);
        }
        if let Some(v) = how.failure.ccfh {
            b.i32(CREDIT_CONTROL_FAILURE_HANDLING, v);
        }
    }
    match single {
        // A single-service client reads its units at top level (RFC 4006 §5.1.1).
        Some(s) => {
            if let Some(g) = s.granted {
                granted(&mut b, g);
            }
            if let Some(v) = s.validity_time {
                b.u32(VALIDITY_TIME, v);
            }
            if let Some(f) = unit_indication(s, how) {
                final_unit(&mut b, &f);
            }
        }
        None => {
            for s in &d.services {
                b.group(MSCC, |b| mscc(b, s, d.location_triggers, how));
            }
        }
    }
    if let Some(c) = d.check_balance {
        b.i32(CHECK_BALANCE_RESULT, c);
    }
    if let Some(c) = d.cost {
        b.group(COST_INFORMATION, |b| {
            b.group(UNIT_VALUE, |b| {
                b.i64(VALUE_DIGITS, c.digits);
                if c.scale != 0 {
                    b.i32(EXPONENT, -(c.scale as i32));
                }
            })
            .u32(CURRENCY_CODE, c.currency);
        });
    }
    if let Some(m) = &d.error_message {
        if result_code != codes::result::SUCCESS {
            b.utf8(codes::ERROR_MESSAGE, m);
        }
    }
    copy_proxy_info(&mut b, req);
    b.finish()
}

fn granted(b: &mut crate::diameter::MessageBuilder<'_>, g: Granted) {
    b.group(GSU, |b| {
        if let Some(t) = g.time {
            b.u32(CC_TIME, t);
        }
        if let Some(n) = g.octets {
            b.u64(CC_TOTAL_OCTETS, n);
        }
        if let Some(n) = g.specific {
            b.u64(CC_SERVICE_SPECIFIC_UNITS, n);
        }
    });
}

/// The Final-Unit-Indication a service answer carries, if any: REDIRECT to
/// the top-up for a lapsed bundle, else the configured one on a last grant
/// or (unless TERMINATE) on a 4012.
fn unit_indication<'a>(s: &ServiceAnswer, how: &Answering<'a>) -> Option<FinalUnit<'a>> {
    if let (true, Some(url)) = (s.lapsed, how.topup_url) {
        return Some(FinalUnit {
            action: value::FINAL_UNIT_REDIRECT,
            redirect_url: Some(url),
            filter_id: how.fui.filter_id,
        });
    }
    (s.final_unit || how.fui.on_credit_limit(s)).then_some(FinalUnit { ..how.fui })
}

fn final_unit(b: &mut crate::diameter::MessageBuilder<'_>, fui: &FinalUnit<'_>) {
    b.group(FINAL_UNIT_INDICATION, |b| {
        b.i32(FINAL_UNIT_ACTION, fui.action);
        // RESTRICT_ACCESS names the filter; REDIRECT may add one so the
        // top-up server stays reachable (RFC 4006 §8.34).
        if fui.action != value::FINAL_UNIT_TERMINATE {
            if let Some(f) = fui.filter_id {
                b.utf8(FILTER_ID, f);
            }
        }
        if let (value::FINAL_UNIT_REDIRECT, Some(url)) = (fui.action, fui.redirect_url) {
            b.group(REDIRECT_SERVER, |b| {
                b.i32(REDIRECT_ADDRESS_TYPE, value::REDIRECT_URL)
                    .utf8(REDIRECT_SERVER_ADDRESS, url);
            });
        }
    });
}

fn mscc(
    b: &mut crate::diameter::MessageBuilder<'_>,
    s: &ServiceAnswer,
    triggers: bool,
    how: &Answering<'_>,
) {
    if let Some(g) = s.granted {
        granted(b, g);
    }
    if let Some(si) = s.service_identifier {
        b.u32(SERVICE_IDENTIFIER, si);
    }
    if let Some(rg) = s.rating_group {
        b.u32(RATING_GROUP, rg);
    }
    if let Some(v) = s.validity_time {
        b.u32(VALIDITY_TIME, v);
    }
    b.u32(codes::RESULT_CODE, s.result_code);
    if let Some(f) = unit_indication(s, how) {
        final_unit(b, &f);
    }
    // Usage is rated per visited network: the gateway must report (and get
    // a new grant) when the subscriber crosses a border.
    if triggers && s.granted.is_some() {
        b.group(TRIGGER, |b| {
            b.i32(TRIGGER_TYPE, value::CHANGE_IN_LOCATION_MCC)
                .i32(TRIGGER_TYPE, value::CHANGE_IN_LOCATION_MNC);
        });
    }
}

/// Every Proxy-Info of the request, in order (RFC 6733 §6.2): the agents
/// that added them need them back to route the answer.
pub fn copy_proxy_info(b: &mut crate::diameter::MessageBuilder<'_>, req: &Message<'_>) {
    for p in req.find_all(avp::PROXY_INFO, 0) {
        b.raw_avp(p.raw());
    }
}

/// The STA for a Session-Termination-Request: 2001 when gyro ended the
/// session, 5002 when it knew none.
pub fn encode_sta(
    buf: &mut BytesMut,
    origin: &Origin,
    req: &Message<'_>,
    result_code: u32,
) -> usize {
    let mut b = begin_answer(buf, origin, req, result_code);
    b.u32(codes::ORIGIN_STATE_ID, origin.state_id);
    copy_proxy_info(&mut b, req);
    b.finish()
}
