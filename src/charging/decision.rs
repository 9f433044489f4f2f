//! What a request asks and what the engine answers: the plan of a request
//! (product, bundle, sponsor, where its usage happened, whether it may be
//! granted) and its command-level outcome (Result-Code, Error-Message,
//! Check-Balance-Result, Cost-Information), with the fair-usage check.

use super::balance::AccountBalance;
use super::ccr::{Ccr, RequestType, ServiceContext};
use super::engine::Engine;
use super::identity::{e164, location};
use super::rate::{Action, Context, ServiceAnswer};
use super::session::{Session, SessionState};
use crate::diameter::codes::{result, value};
use crate::inventory::usage::FupEvent;
use crate::model::{Allowance, UnixTime};
use crate::rating::Rating;
use crate::resolver::index::iccid_string;

#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub result_code: u32,
    pub services: Vec<ServiceAnswer>,
    pub error_message: Option<String>,
    /// Arm the location triggers (a session that may be granted more).
    pub location_triggers: bool,
    /// The request had no MSCC: units and their result go at top level.
    pub single_service: bool,
    /// A CCR-I's answer: carries the failure-handling AVPs.
    pub initial: bool,
    /// CHECK_BALANCE: Check-Balance-Result to send.
    pub check_balance: Option<i32>,
    /// PRICE_ENQUIRY: Cost-Information to send.
    pub cost: Option<Cost>,
}

/// A price as Cost-Information says it (RFC 4006 §8.7): digits × 10^-scale
/// in an ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub digits: i64,
    pub scale: u32,
    pub currency: u32,
}

impl Decision {
    pub(super) fn fail(code: u32, why: impl Into<String>) -> Decision {
        Decision {
            result_code: code,
            services: vec![],
            error_message: Some(why.into()),
            location_triggers: false,
            single_service: false,
            initial: false,
            check_balance: None,
            cost: None,
        }
    }
}

/// Outgoing calls must go to one of the bundle's destinations; incoming
/// calls may come from anywhere; data has no destination.
pub(super) fn destination_ok(
    rating: &Rating,
    ccr: &Ccr<'_>,
    voice: bool,
    bundle: Option<&crate::rating::Bundle>,
) -> bool {
    match (voice, ccr.role_of_node, ccr.called_party, bundle) {
        (false, ..) => true,
        (true, Some(value::TERMINATING_ROLE), _, _) => true,
        (true, _, Some(to), Some(b)) => {
            e164(to).is_some_and(|d| rating.voice_destination_allowed(b, &d))
        }
        (true, ..) => false,
    }
}

/// A request's rating context, and what decides its command-level result.
pub(super) struct Plan<'a> {
    pub(super) cx: Context<'a>,
    /// The session's location as of this request.
    pub(super) now_at: crate::model::RateCode,
    covered: bool,
    /// gyro had ended the session: usage is charged, nothing granted.
    ended: bool,
    single_service: bool,
}

/// Fair usage: one event when the bundle's threshold is first crossed.
pub(super) fn fair_usage(
    bal: &mut AccountBalance,
    bundle: Option<&crate::rating::Bundle>,
    account: u64,
    iccid: u128,
    now: UnixTime,
) -> Option<FupEvent> {
    let t = bundle.and_then(|b| b.fup_octets)?;
    if bal.used.fup_crossed || bal.used.data_octets < t {
        return None;
    }
    bal.used.fup_crossed = true;
    Some(FupEvent {
        account,
        iccid: iccid_string(iccid),
        at: now,
        used_octets: bal.used.data_octets,
        threshold_octets: t,
    })
}

/// What an EVENT asks for; None for a Requested-Action RFC 4006 lacks.
pub(super) fn action(ccr: &Ccr<'_>) -> Option<Action> {
    if ccr.request_type != Some(RequestType::Event) {
        return Some(Action::Charge);
    }
    Some(
        match ccr.requested_action.unwrap_or(value::DIRECT_DEBITING) {
            value::DIRECT_DEBITING => Action::Charge,
            value::REFUND_ACCOUNT => Action::Refund,
            value::CHECK_BALANCE => Action::CheckBalance,
            value::PRICE_ENQUIRY => Action::PriceEnquiry,
            _ => return None,
        },
    )
}

impl Engine {
    /// What rating this request needs to know: the product, bundle and
    /// sponsor, where the reported usage happened and where the session is
    /// now, and whether that allows new grants.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan<'a>(
        &'a self,
        rating: &'a Rating,
        ccr: &'a Ccr<'_>,
        rt: RequestType,
        end_to_end: u32,
        session: &Session,
        catalog: &'a crate::resolver::Catalog,
        now: UnixTime,
    ) -> Plan<'a> {
        let sub = session.subscriber;
        let product = catalog.products.get(sub.product as usize);
        let bundle = product.and_then(|p| rating.bundle(&p.name));
        let usage_at = session.rate_code;
        let now_at = location(ccr).map_or(usage_at, |p| p.rate_code());
        let covered = product.is_some_and(|p| {
            let codes = catalog.product_rate_codes(sub.product);
            rating.covers(codes, &p.rate_code_groups, now_at)
        });
        let context = ServiceContext::parse(ccr.service_context);
        let voice = context.is_voice();
        let allowance = match context {
            ServiceContext::Sms => Allowance::Sms,
            c if c.is_voice() => Allowance::Voice,
            _ => Allowance::Data,
        };
        let ended = session.state == SessionState::Terminated;
        let g = &rating.grant;
        let cx = Context {
            rating,
            bundle,
            sponsor: catalog.sponsors.get(sub.sponsor as usize),
            request: rt,
            request_number: ccr.request_number,
            end_to_end,
            session_id: ccr.session_id,
            now,
            action: action(ccr).unwrap_or(Action::Charge),
            allowance,
            limit: bundle.map_or(0, |b| match allowance {
                Allowance::Data => b.data_octets,
                Allowance::Voice => b.voice_seconds,
                Allowance::Sms => b.sms,
            }),
            grant_size: match (allowance, self.cfg.failsafe) {
                (Allowance::Data, Some((octets, _))) => g.data_octets.min(octets),
                (Allowance::Voice, Some((_, secs))) => g.voice_seconds.min(secs),
                (Allowance::Data, None) => g.data_octets,
                (Allowance::Voice, None) => g.voice_seconds,
                (Allowance::Sms, _) => 1,
            },
            validity: g.validity_time.0.as_secs() as u32,
            usage_at,
            grantable: covered && destination_ok(rating, ccr, voice, bundle),
            no_grants: ended || rt == RequestType::Termination,
            lapsed: sub.in_grace,
        };
        Plan {
            cx,
            now_at,
            covered,
            ended,
            single_service: ccr.single_service,
        }
    }

    /// The command-level result of a rated request.
    pub(super) fn outcome(
        &self,
        plan: &Plan<'_>,
        rt: RequestType,
        services: Vec<ServiceAnswer>,
    ) -> Decision {
        let mut result_code = if plan.ended {
            result::UNKNOWN_SESSION_ID
        } else if !plan.covered && rt != RequestType::Termination {
            // A network outside the bundle refuses the session at command
            // level; usage already reported is still charged.
            result::END_USER_SERVICE_DENIED
        } else {
            result::SUCCESS
        };
        if self.cfg.raise_mscc_result && result_code == result::SUCCESS {
            if let Some(f) = services.iter().find(|a| a.result_code != result::SUCCESS) {
                result_code = f.result_code;
            }
        }
        let error_message = if plan.ended {
            Some("session was terminated; its usage is charged".to_string())
        } else if !plan.covered {
            Some(format!(
                "visited network {} is not in the bundle",
                plan.now_at
            ))
        } else if plan.cx.bundle.is_none() {
            Some("the account's product has no bundle in the rating file".to_string())
        } else {
            services
                .iter()
                .find(|a| a.result_code == result::AUTHORIZATION_REJECTED)
                .map(|_| format!("the bundle includes no {}", plan.cx.allowance.name()))
        };
        let all_enough = !services.is_empty() && services.iter().all(|a| a.enough == Some(true));
        let check_balance = (plan.cx.action == Action::CheckBalance).then_some(if all_enough {
            value::ENOUGH_CREDIT
        } else {
            value::NO_CREDIT
        });
        // Inside the bundle a unit costs the subscriber nothing more.
        let cost = (plan.cx.action == Action::PriceEnquiry && all_enough && plan.covered)
            .then(|| crate::rating::currency_numeric(&plan.cx.rating.reporting_currency))
            .flatten()
            .map(|currency| Cost {
                digits: 0,
                scale: 0,
                currency,
            });
        Decision {
            check_balance,
            cost,
            result_code,
            services,
            error_message,
            location_triggers: self.cfg.location_triggers
                && !plan.ended
                && matches!(rt, RequestType::Initial | RequestType::Update),
            single_service: plan.single_service,
            initial: rt == RequestType::Initial,
        }
    }
}
