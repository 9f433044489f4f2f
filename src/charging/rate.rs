//! Rating one Multiple-Services-Credit-Control on an account's state:
//! release the service's old reservation, charge each Used-Service-Unit at
//! the location it was used (with its xDR), then grant from what is left at
//! the new location. Pure: the account's balance and session in, answers
//! and xDRs out.

use super::balance::AccountBalance;
use super::ccr::{RequestType, ServiceUnits, Units, UsedUnits};
use super::session::{Reservation, Session};
use super::xdr::Xdr;
use crate::diameter::codes::result;
use crate::model::Sponsor;
use crate::model::{Allowance, UnixTime};
use crate::rating::{self, Bundle, Rating};
use crate::resolver::index::iccid_string;
use crate::resolver::location::RateCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAnswer {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    pub result_code: u32,
    pub granted: Option<(Allowance, u64)>,
    pub validity_time: Option<u32>,
    pub final_unit: bool,
}

/// Everything about one request that rating its services needs.
pub struct Context<'a> {
    pub rating: &'a Rating,
    pub bundle: Option<&'a Bundle>,
    pub sponsor: Option<&'a Sponsor>,
    pub request: RequestType,
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
}

/// What rating one service changed.
#[derive(Debug, Default)]
pub struct Rated {
    pub answers: Vec<ServiceAnswer>,
    pub xdrs: Vec<Xdr>,
    /// Usage or a debit changed the durable balance.
    pub charged: bool,
}

impl Context<'_> {
    fn units(&self, u: &Units) -> u64 {
        match self.allowance {
            Allowance::Voice => u.time.unwrap_or(0) as u64,
            Allowance::Data => u.octets(),
        }
    }

    fn requested(&self, svc: &ServiceUnits) -> Option<u64> {
        let u = svc.requested?;
        match self.allowance {
            Allowance::Voice => u.time.map(u64::from),
            Allowance::Data => u.total_octets.or((!u.is_empty()).then(|| u.octets())),
        }
    }

    fn xdr(
        &self,
        sub: &crate::resolver::Subscriber,
        svc: &ServiceUnits,
        u: &UsedUnits,
        n: u64,
    ) -> Xdr {
        let voice = self.allowance == Allowance::Voice;
        let cost = self.sponsor.filter(|_| !voice).and_then(|s| {
            self.rating
                .wholesale(&s.id, &s.currency, self.usage_at.plmn(), n)
        });
        Xdr {
            seq: 0,
            time: self.now,
            session_id: self.session_id.to_string(),
            request_type: type_name(self.request),
            request_number: self.request_number,
            end_to_end: self.end_to_end,
            account: sub.account,
            iccid: iccid_string(sub.iccid),
            imsi: sub.imsi.to_string(),
            sponsor: self.sponsor.map_or_else(String::new, |s| s.name.clone()),
            rate_code: self.usage_at.to_string(),
            rating_group: svc.rating_group,
            service_identifier: svc.service_identifier,
            reporting_reason: u.reporting_reason.or(svc.reporting_reason),
            tariff_change_usage: u.tariff_change,
            octets_up: u.units.input_octets.unwrap_or(0),
            octets_down: u.units.output_octets.unwrap_or(0),
            seconds: u.units.time.unwrap_or(0) as u64,
            allowance_consumed: n,
            allowance: if voice { "voice" } else { "data" },
            cost: cost.map(|c| c.amount),
            cost_currency: cost.and(self.sponsor.map(|s| s.currency.clone())),
            cost_reporting: cost.map(|c| c.reporting_amount),
            reporting_currency: self.rating.reporting_currency.clone(),
            used_after: Default::default(),
            fup: None,
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

/// Rates one service of the request into `out`.
pub fn rate_service(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    out: &mut Rated,
) {
    let key = svc.key();
    if let Some(r) = session.take_reservation(key) {
        bal.release(r.allowance, r.units);
    }
    // Usage counts in full, even past what was reserved: it happened.
    for u in &svc.used {
        let n = cx.units(&u.units);
        if n > 0 {
            bal.commit(cx.allowance, n);
            out.charged = true;
        }
        if n > 0 || !u.units.is_empty() {
            out.xdrs.push(cx.xdr(&session.subscriber, svc, u, n));
        }
    }
    let mut a = ServiceAnswer {
        rating_group: svc.rating_group,
        service_identifier: svc.service_identifier,
        result_code: result::SUCCESS,
        granted: None,
        validity_time: None,
        final_unit: false,
    };
    if svc.requested.is_some() && !cx.no_grants {
        grant(bal, session, svc, cx, &mut a, out);
    }
    out.answers.push(a);
}

fn grant(
    bal: &mut AccountBalance,
    session: &mut Session,
    svc: &ServiceUnits,
    cx: &Context<'_>,
    a: &mut ServiceAnswer,
    out: &mut Rated,
) {
    // A refusal also carries Validity-Time: the gateway asks again after it
    // (a top-up, a new period, another network) instead of giving up.
    if !cx.grantable {
        a.result_code = result::END_USER_SERVICE_DENIED;
        a.validity_time = Some(cx.validity);
        return;
    }
    let remaining = bal.remaining(cx.allowance, cx.limit);
    let g = rating::grant(cx.requested(svc), cx.grant_size, remaining);
    if g == 0 {
        a.result_code = result::CREDIT_LIMIT_REACHED;
        a.validity_time = Some(cx.validity);
    } else if cx.request == RequestType::Event {
        // Direct debiting: the units are used now, and recorded like usage.
        bal.commit(cx.allowance, g);
        out.charged = true;
        a.granted = Some((cx.allowance, g));
        let units = match cx.allowance {
            Allowance::Data => Units {
                total_octets: Some(g),
                ..Units::default()
            },
            Allowance::Voice => Units {
                time: Some(g.min(u32::MAX as u64) as u32),
                ..Units::default()
            },
        };
        let debit = UsedUnits {
            units,
            ..UsedUnits::default()
        };
        out.xdrs.push(cx.xdr(&session.subscriber, svc, &debit, g));
    } else {
        bal.reserve(cx.allowance, g);
        session.reservations.push(Reservation {
            key: svc.key(),
            allowance: cx.allowance,
            units: g,
        });
        a.granted = Some((cx.allowance, g));
        a.validity_time = Some(cx.validity);
        a.final_unit = g == remaining;
    }
}
