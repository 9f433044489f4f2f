//! Rating one Multiple-Services-Credit-Control on an account's state:
//! release the service's old reservation, charge each Used-Service-Unit at
//! the location it was used (with its xDR), then answer what was asked: a
//! grant from what is left at the new location, a direct debit, a refund,
//! a balance check or a price. Pure: the account's balance and session in,
//! answers and xDRs out.

use super::balance::AccountBalance;
use super::ccr::{RequestType, ServiceUnits, Units, UsedUnits};
use super::session::{Reservation, Session};
use super::xdr::Xdr;
use crate::diameter::codes::result;
use crate::model::RateCode;
use crate::model::Sponsor;
use crate::model::{Allowance, UnixTime};
use crate::rating::{self, Bundle, GroupRating, Rating};
use crate::resolver::index::iccid_string;

/// Units granted, in the forms the request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Granted {
    pub octets: Option<u64>,
    pub time: Option<u32>,
    pub specific: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAnswer {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    pub result_code: u32,
    pub granted: Option<Granted>,
    pub validity_time: Option<u32>,
    pub final_unit: bool,
    /// Refused because the bundle lapsed: the gateway is sent to the top-up.
    pub lapsed: bool,
    /// CHECK_BALANCE / PRICE_ENQUIRY: whether the bundle covers what was asked.
    pub enough: Option<bool>,
}

/// What an EVENT request asks for (RFC 4006 §6.3–§6.5, Requested-Action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A session's grant (ECUR), or an event's direct debit (IEC).
    Charge,
    Refund,
    CheckBalance,
    PriceEnquiry,
}

/// Everything about one request that rating its services needs.
pub struct Context<'a> {
    pub rating: &'a Rating,
    pub bundle: Option<&'a Bundle>,
    pub sponsor: Option<&'a Sponsor>,
    pub request: RequestType,
    pub action: Action,
    pub request_number: u32,
    pub end_to_end: u32,
    pub session_id: &'a str,
    pub now: UnixTime,
    pub allowance: Allowance,
    /// The bundle's allowance of that kind.
    pub limit: u64,
    pub grant_size: u64,
    pub validity: u32,
    /// Where the usage reported now happened: the session's location
    /// before this request.
    pub usage_at: RateCode,
    /// Whether the (new) location and destination allow a new grant.
    pub grantable: bool,
    /// No new quota: a CCR-T, or a request on a session gyro ended.
    pub no_grants: bool,
    /// The account's bundle lapsed (grace): no units until it renews.
    pub lapsed: bool,
}

/// What rating one service changed.
#[derive(Debug, Default)]
pub struct Rated {
    pub answers: Vec<ServiceAnswer>,
    pub xdrs: Vec<Xdr>,
    /// Usage or a debit changed the durable balance.
    pub charged: bool,
}

/// What a used or requested unit set counts as, in the allowance's unit.
fn units_of(allowance: Allowance, u: &Units) -> u64 {
    match allowance {
        Allowance::Voice => u.time.unwrap_or(0) as u64,
        Allowance::Data => u.octets(),
        // A message reported without a count is one message.
        Allowance::Sms => u.specific.unwrap_or(u64::from(!u.is_empty())),
    }
}

/// Octets and seconds a data RSU asks for. An empty RSU (or none) asks
/// for the configured grant; a CC-Time-only RSU asks for time alone.
fn data_request(u: Option<Units>) -> (Option<u64>, Option<u32>, bool) {
    let Some(u) = u.filter(|u| !u.is_empty()) else {
        return (None, None, true);
    };
    let volume = u.total_octets.is_some() || u.input_octets.is_some() || u.output_octets.is_some();
    (
        volume.then(|| u.octets()),
        u.time,
        volume || u.time.is_none(),
    )
}

impl Context<'_> {
    /// The xDR of one Used-Service-Unit part, consumption left to the caller.
    pub fn usage_xdr(
        &self,
        sub: &crate::resolver::Subscriber,
        svc: &ServiceUnits,
        u: &UsedUnits,
    ) -> Xdr {
        let data = self.allowance == Allowance::Data;
        let cost = self.sponsor.filter(|_| data).and_then(|s| {
            self.rating
                .wholesale(&s.id, &s.currency, self.usage_at.plmn(), u.units.octets())
        });
        Xdr {
            seq: 0,
            time: self.now,
            session_id: self.session_id.to_string(),
            request_type: type_name(self.request),
            requested_action: action_name(self.request, self.action),
            request_number: self.request_number,
            end_to_end: self.end_to_end,
            account: sub.account,
            iccid: iccid_string(sub.iccid),
            // Identified by MSISDN: no IMSI is known.
            imsi: if sub.imsi == 0 {
                String::new()
            } else {
                sub.imsi.to_string()
            },
            sponsor: self.sponsor.map_or_else(String::new, |s| s.name.clone()),
            rate_code: self.usage_at.to_string(),
            rating_group: svc.rating_group,
            service_identifier: svc.service_identifier,
            reporting_reason: u.reporting_reason.or(svc.reporting_reason),
            tariff_change_usage: u.tariff_change,
            octets_up: u.units.input_octets.unwrap_or(0),
            octets_down: u.units.output_octets.unwrap_or(0),
            seconds: u.units.time.unwrap_or(0) as u64,
            allowance_consumed: 0,
            allowance_refunded: 0,
            allowance: self.allowance.name(),
            cost: cost.map(|c| c.amount),
            cost_currency: cost.and(self.sponsor.map(|s| s.currency.clone())),
            cost_reporting: cost.map(|c| c.reporting_amount),
            reporting_currency: self.rating.reporting_currency.clone(),
            used_after: None,
            mode: None,
            upstream: None,
            upstream_result: None,
            fup: None,
            answer: None,
        }
    }

    /// How the bundle treats this service: only data has rating groups.
    fn group(&self, svc: &ServiceUnits) -> GroupRating {
        match (self.allowance, self.bundle) {
            (Allowance::Data, Some(b)) => b.group(svc.rating_group),
            _ => GroupRating::Allowance,
        }
    }
}

pub fn type_name(t: RequestType) -> &'static str {
    match t {
        RequestType::Initial => "INITIAL",
        RequestType::Update => "UPDATE",
        RequestType::Termination => "TERMINATION",
        RequestType::Event => "EVENT",
    }
}

fn action_name(t: RequestType, a: Action) -> Option<&'static str> {
    (t == RequestType::Event).then_some(match a {
        Action::Charge => "DIRECT_DEBITING",
        Action::Refund => "REFUND_ACCOUNT",
        Action::CheckBalance => "CHECK_BALANCE",
        Action::PriceEnquiry => "PRICE_ENQUIRY",
    })
}

/// Rates one service of the request into `out`.
pub fn rate_service(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    out: &mut Rated,
) {
    if let Some(r) = session.take_reservation(svc.key()) {
        bal.release(r.allowance, r.units);
    }
    let group = cx.group(svc);
    // Usage counts in full, even past what was reserved: it happened.
    for u in &svc.used {
        let n = match group {
            GroupRating::ZeroRated | GroupRating::Free => 0,
            GroupRating::Allowance | GroupRating::Unknown => units_of(cx.allowance, &u.units),
        };
        if n > 0 {
            bal.commit(cx.allowance, n);
            out.charged = true;
        }
        if n > 0 || !u.units.is_empty() {
            let mut x = cx.usage_xdr(&session.subscriber, svc, u);
            x.allowance_consumed = n;
            out.xdrs.push(x);
        }
    }
    let mut a = ServiceAnswer {
        rating_group: svc.rating_group,
        service_identifier: svc.service_identifier,
        result_code: result::SUCCESS,
        granted: None,
        validity_time: None,
        final_unit: false,
        lapsed: false,
        enough: None,
    };
    let event = cx.request == RequestType::Event;
    let asks = svc.requested.is_some() || (event && svc.used.is_empty());
    if asks && !cx.no_grants {
        answer(bal, session, svc, cx, group, &mut a, out);
    }
    out.answers.push(a);
}

fn answer(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    group: GroupRating,
    a: &mut ServiceAnswer,
    out: &mut Rated,
) {
    match group {
        GroupRating::Unknown => {
            a.result_code = result::RATING_FAILED;
            return;
        }
        GroupRating::Free => {
            a.result_code = result::CREDIT_CONTROL_NOT_APPLICABLE;
            return;
        }
        GroupRating::Allowance | GroupRating::ZeroRated => {}
    }
    if cx.action == Action::Refund {
        return refund(bal, session, svc, cx, out);
    }
    // A refusal also carries Validity-Time: the gateway asks again after it
    // (a top-up, a new period, another network) instead of giving up.
    if !cx.grantable {
        a.result_code = result::END_USER_SERVICE_DENIED;
        a.validity_time = Some(cx.validity);
        return;
    }
    if cx.lapsed && group == GroupRating::Allowance && cx.action == Action::Charge {
        a.result_code = result::CREDIT_LIMIT_REACHED;
        a.validity_time = Some(cx.validity);
        a.lapsed = true;
        return;
    }
    if cx.limit == 0 && group == GroupRating::Allowance {
        // Not a matter of credit: the product has no such allowance.
        a.result_code = result::AUTHORIZATION_REJECTED;
        return;
    }
    let remaining = match group {
        GroupRating::ZeroRated => u64::MAX,
        _ => bal.remaining(cx.allowance, cx.limit),
    };
    match cx.action {
        Action::CheckBalance | Action::PriceEnquiry => {
            let want = cx.requested(svc).unwrap_or(1).max(1);
            a.enough = Some(remaining >= want);
            if cx.action == Action::PriceEnquiry && remaining < want {
                a.result_code = result::CREDIT_LIMIT_REACHED;
            }
        }
        Action::Charge if cx.request == RequestType::Event => {
            debit(bal, session, svc, cx, group, a, out, remaining)
        }
        Action::Charge | Action::Refund => reserve(bal, session, svc, cx, group, a, remaining),
    }
}

impl Context<'_> {
    /// Units asked for in the allowance's unit (data: octets).
    fn requested(&self, svc: &ServiceUnits) -> Option<u64> {
        let u = svc.requested.filter(|u| !u.is_empty())?;
        Some(units_of(self.allowance, &u))
    }

    fn grant_size(&self) -> u64 {
        match self.allowance {
            Allowance::Sms => 1,
            _ => self.grant_size,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn debit(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    group: GroupRating,
    a: &mut ServiceAnswer,
    out: &mut Rated,
    remaining: u64,
) {
    // An event is all or nothing: a message or a debit is not cut short.
    let want = cx.requested(svc).unwrap_or(cx.grant_size());
    if want > remaining || want == 0 {
        a.result_code = result::CREDIT_LIMIT_REACHED;
        a.validity_time = Some(cx.validity);
        return;
    }
    let consumed = if group == GroupRating::ZeroRated {
        0
    } else {
        want
    };
    bal.commit(cx.allowance, consumed);
    out.charged |= consumed > 0;
    a.granted = Some(granted_units(cx.allowance, want, None));
    let units = match cx.allowance {
        Allowance::Data => Units {
            total_octets: Some(want),
            ..Units::default()
        },
        Allowance::Voice => Units {
            time: Some(want.min(u32::MAX as u64) as u32),
            ..Units::default()
        },
        Allowance::Sms => Units {
            specific: Some(want),
            ..Units::default()
        },
    };
    let used = UsedUnits {
        units,
        ..UsedUnits::default()
    };
    let mut x = cx.usage_xdr(&session.subscriber, svc, &used);
    x.allowance_consumed = consumed;
    out.xdrs.push(x);
}

fn granted_units(allowance: Allowance, n: u64, time: Option<u32>) -> Granted {
    match allowance {
        Allowance::Data => Granted {
            octets: Some(n),
            time,
            specific: None,
        },
        Allowance::Voice => Granted {
            time: Some(n.min(u32::MAX as u64) as u32),
            ..Granted::default()
        },
        Allowance::Sms => Granted {
            specific: Some(n),
            ..Granted::default()
        },
    }
}

/// A session's grant: reserved until the next report, or Tcc.
fn reserve(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    group: GroupRating,
    a: &mut ServiceAnswer,
    remaining: u64,
) {
    if remaining == 0 {
        a.result_code = result::CREDIT_LIMIT_REACHED;
        a.validity_time = Some(cx.validity);
        return;
    }
    let (g, time) = if cx.allowance == Allowance::Data {
        let (octets, time, wants_volume) = data_request(svc.requested);
        let time = time.map(|t| t.min(cx.rating.grant.data_seconds.min(u32::MAX as u64) as u32));
        let g = wants_volume.then(|| rating::grant(octets, cx.grant_size, remaining));
        (g, time)
    } else {
        let g = rating::grant(cx.requested(svc), cx.grant_size(), remaining);
        (Some(g), None)
    };
    let reserved = if group == GroupRating::ZeroRated {
        0
    } else {
        g.unwrap_or(0)
    };
    bal.reserve(cx.allowance, reserved);
    session.reservations.push(Reservation {
        key: svc.key(),
        allowance: cx.allowance,
        units: reserved,
    });
    a.granted = Some(match g {
        Some(g) => granted_units(cx.allowance, g, time),
        None => Granted {
            time,
            ..Granted::default()
        },
    });
    a.validity_time = Some(cx.validity);
    a.final_unit = group != GroupRating::ZeroRated && g == Some(remaining);
}

/// REFUND_ACCOUNT: the units of the Requested-Service-Unit go back to the
/// bundle (never below nothing used), and an xDR says so.
fn refund(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    out: &mut Rated,
) {
    let Some(u) = svc.requested else {
        return;
    };
    let back = bal.refund(cx.allowance, units_of(cx.allowance, &u));
    out.charged |= back > 0;
    let used = UsedUnits {
        units: u,
        ..UsedUnits::default()
    };
    let mut x = cx.usage_xdr(&session.subscriber, svc, &used);
    x.allowance_refunded = back;
    // The units were given back, not used: no wholesale cost.
    x.cost = None;
    x.cost_currency = None;
    x.cost_reporting = None;
    out.xdrs.push(x);
}
