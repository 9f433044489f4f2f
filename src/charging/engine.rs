//! The embedded OCS's decisions, sans-IO: a CCR and `now` in; the answer,
//! and the commit it must wait for, out. No socket, no disk, no clock.
//!
//! A request goes resolve → locate → rate each MSCC → commit. Locating
//! finds (or re-creates) the session inside its account's state and takes
//! that account's lock; rating, the commit sequence and the kept answer all
//! happen under it, so an account's state changes in one place, in order.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::balance::AccountBalance;
use super::ccr::{Ccr, RequestType, ServiceContext};
use super::commit::Commit;
use super::gateway::{Gateways, OpenSession};
use super::identity::{e164, location, subscriber};
use super::ledger::Ledger;
use super::rate::{rate_service, Action, Context, Rated, ServiceAnswer};
use super::session::{KeptAnswer, Session, SessionState};
use crate::diameter::codes::{result, value};
use crate::inventory::usage::FupEvent;
use crate::model::{Allowance, UnixTime};
use crate::rating::Rating;
use crate::resolver::index::iccid_string;
use crate::resolver::location::Plmn;
use crate::resolver::{Index, Subscriber};

/// Where commits go: the committer in a node, a recorder in tests.
pub trait Sequencer {
    /// Whether new usage may be taken on now (else: 3004).
    fn accepting(&self) -> bool;
    /// Queues a commit; returns the sequence its answer must wait for.
    fn submit(&self, commit: Commit) -> u64;
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Copy the first failing MSCC Result-Code to command level (for
    /// gateways that read only the top level).
    pub raise_mscc_result: bool,
    /// Final-Unit-Action on the last grant (and on 4012 unless TERMINATE).
    pub final_unit_action: i32,
    pub redirect_url: Option<String>,
    pub filter_id: Option<String>,
    /// How long a terminated session's last answer is kept for retransmissions.
    pub terminated_linger: i64,
    /// How long a session that holds no quota may stay silent before it is
    /// forgotten (Tcc never cuts such a bearer).
    pub idle_max: i64,
    /// Arm the location triggers in CCAs that grant.
    pub location_triggers: bool,
    /// Proxy mode answering locally while no upstream answers: grants are
    /// capped (octets, seconds) and every xDR is tagged `mode: local`, the
    /// journal replayed to the upstream later.
    pub failsafe: Option<(u64, u64)>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            raise_mscc_result: false,
            final_unit_action: value::FINAL_UNIT_TERMINATE,
            redirect_url: None,
            filter_id: None,
            terminated_linger: 60,
            idle_max: 86_400,
            location_triggers: true,
            failsafe: None,
        }
    }
}

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
    fn fail(code: u32, why: impl Into<String>) -> Decision {
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

/// An answer, and the commit sequence it may not leave before (0: none).
#[derive(Debug, Clone)]
pub struct Charged {
    pub answer: Bytes,
    pub seq: u64,
    /// A retransmission answered from the session's kept answers.
    pub duplicate: bool,
    pub result_code: u32,
}

pub struct Engine {
    pub index: Arc<Index>,
    /// Swapped whole by a reload; each request rates on the one version it
    /// loaded first.
    rating: ArcSwap<Rating>,
    pub ledger: Ledger,
    pub cfg: EngineConfig,
    gateways: Gateways,
}

/// Outgoing calls must go to one of the bundle's destinations; incoming
/// calls may come from anywhere; data has no destination.
fn destination_ok(
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
struct Plan<'a> {
    cx: Context<'a>,
    /// The session's location as of this request.
    now_at: crate::resolver::location::RateCode,
    covered: bool,
    /// gyro had ended the session: usage is charged, nothing granted.
    ended: bool,
    single_service: bool,
}

/// Fair usage: one event when the bundle's threshold is first crossed.
fn fair_usage(
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
fn action(ccr: &Ccr<'_>) -> Option<Action> {
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

/// Encodes a decision as the answer to send.
pub type Encode<'a> = dyn Fn(&Decision) -> Bytes + 'a;

const BUSY: &str = "usage cannot be made durable in time; retry";

/// Tries at locating a session that other requests keep moving.
const LOCATE_TRIES: usize = 4;

impl Engine {
    pub fn new(index: Arc<Index>, rating: Arc<Rating>, cfg: EngineConfig) -> Engine {
        Engine {
            index,
            rating: ArcSwap::new(rating),
            ledger: Ledger::default(),
            cfg,
            gateways: Gateways::default(),
        }
    }

    /// The rating version in force now.
    pub fn rating(&self) -> Arc<Rating> {
        self.rating.load_full()
    }

    /// Puts a new rating version in force: requests already rating finish
    /// on the old one, the next ones rate wholly on the new one.
    pub fn replace_rating(&self, rating: Rating) {
        self.rating.store(Arc::new(rating));
    }

    /// The subscriber and location of a session gyro does not know yet.
    fn resolve(&self, ccr: &Ccr<'_>, now: UnixTime) -> Result<(Subscriber, Plmn), Decision> {
        let sub = subscriber(&self.index, ccr, now)
            .map_err(|u| Decision::fail(result::USER_UNKNOWN, u.0))?;
        let plmn = location(ccr).ok_or_else(|| {
            Decision::fail(
                result::END_USER_SERVICE_DENIED,
                "no location (3GPP-SGSN-MCC-MNC, ULI or IMS visited network)",
            )
        })?;
        Ok((sub, plmn))
    }

    /// Charges one CCR. `end_to_end` tells retransmissions from new requests.
    pub fn charge(
        &self,
        ccr: &Ccr<'_>,
        end_to_end: u32,
        now: UnixTime,
        seq: &dyn Sequencer,
        encode: &Encode<'_>,
    ) -> Charged {
        let unanswered = |d: Decision| Charged {
            result_code: d.result_code,
            answer: encode(&d),
            seq: 0,
            duplicate: false,
        };
        let Some(rt) = ccr.request_type else {
            return unanswered(Decision::fail(result::INVALID_AVP_VALUE, "CC-Request-Type"));
        };
        if rt == RequestType::Event && action(ccr).is_none() {
            return unanswered(Decision::fail(
                result::INVALID_AVP_VALUE,
                "Requested-Action: not one of RFC 4006's four",
            ));
        }
        let starts = matches!(rt, RequestType::Initial | RequestType::Event);
        let mut fresh = starts.then(|| self.resolve(ccr, now));
        for _ in 0..LOCATE_TRIES {
            if let Some(owner) = self.ledger.owner(ccr.session_id) {
                let mut acct = self.ledger.lock(owner);
                if let Some((bal, s)) = acct.split(ccr.session_id) {
                    if let Some(k) = s.answer_for(ccr.request_number, end_to_end) {
                        return Charged {
                            answer: k.bytes.clone(),
                            seq: k.seq,
                            duplicate: true,
                            result_code: 0,
                        };
                    }
                    let Some(r) = &fresh else {
                        return self.decide(owner, bal, s, ccr, rt, end_to_end, now, seq, encode);
                    };
                    // A new request on an open Session-Id: the old
                    // session's reservations go first.
                    acct.close(ccr.session_id);
                    if let Ok((sub, plmn)) = r {
                        if sub.account == owner {
                            let (bal, s) = acct
                                .open(ccr.session_id, Session::new(*sub, plmn.rate_code(), now));
                            return self
                                .decide(owner, bal, s, ccr, rt, end_to_end, now, seq, encode);
                        }
                    }
                }
            }
            // A session gyro does not know: a new one, or one it lost (a
            // restart, Tcc, another node). Its usage is charged all the same.
            let (sub, plmn) = match fresh.take().unwrap_or_else(|| self.resolve(ccr, now)) {
                Ok(x) => x,
                // An update gyro cannot place: nothing names its subscriber.
                Err(_) if !starts && !ccr.names_subscriber() => {
                    return unanswered(Decision::fail(
                        result::UNKNOWN_SESSION_ID,
                        "unknown session without Subscription-Id or User-Name to re-create it from",
                    ))
                }
                Err(d) => return unanswered(d),
            };
            if !seq.accepting() {
                return unanswered(Decision::fail(result::TOO_BUSY, BUSY));
            }
            let mut acct = self.ledger.lock(sub.account);
            if acct.session(ccr.session_id).is_some() {
                // Another request opened it meanwhile: locate again (an
                // update then joins that session rather than replace it).
                fresh = starts.then_some(Ok((sub, plmn)));
                continue;
            }
            let (bal, s) = acct.open(ccr.session_id, Session::new(sub, plmn.rate_code(), now));
            return self.decide(sub.account, bal, s, ccr, rt, end_to_end, now, seq, encode);
        }
        unanswered(Decision::fail(
            result::UNABLE_TO_COMPLY,
            "session is being moved; retry",
        ))
    }

    /// Rates the request on its account's state (the caller holds the
    /// account's lock), takes the commit sequence and keeps the answer: one
    /// step, under one lock.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        account: u64,
        bal: &mut AccountBalance,
        session: &mut Session,
        ccr: &Ccr<'_>,
        rt: RequestType,
        end_to_end: u32,
        now: UnixTime,
        seq: &dyn Sequencer,
        encode: &Encode<'_>,
    ) -> Charged {
        if !seq.accepting() {
            let d = Decision::fail(result::TOO_BUSY, BUSY);
            return Charged {
                result_code: d.result_code,
                answer: encode(&d),
                seq: 0,
                duplicate: false,
            };
        }
        let catalog = self.index.catalog();
        let rating = self.rating.load();
        let plan = self.plan(&rating, ccr, rt, end_to_end, session, &catalog, now);
        let mut rated = Rated::default();
        for svc in &ccr.services {
            rate_service(bal, session, svc, &plan.cx, &mut rated);
        }
        if rt == RequestType::Termination {
            for r in session.reservations.drain(..) {
                bal.release(r.allowance, r.units);
            }
        }
        let fup = fair_usage(bal, plan.cx.bundle, account, session.subscriber.iccid, now);
        session.rate_code = plan.now_at;
        session.last_seen = now;
        session.gateway = self.gateways.of(session.gateway.take(), ccr);
        // Tcc (RFC 4006 §13): twice the Validity-Time gyro grants with.
        session.expires = now + 2 * i64::from(plan.cx.validity);
        let decision = self.outcome(&plan, rt, rated.answers);
        if self.cfg.failsafe.is_some() {
            for x in &mut rated.xdrs {
                x.mode = Some(crate::upstream::journal::LOCAL);
            }
        }
        let commit_seq = if rated.charged || !rated.xdrs.is_empty() || fup.is_some() {
            seq.submit(Commit {
                account,
                used: Some(bal.used),
                xdrs: rated.xdrs,
                fup,
            })
        } else {
            0
        };
        let answer = encode(&decision);
        session.remember(KeptAnswer {
            number: ccr.request_number,
            end_to_end,
            bytes: answer.clone(),
            seq: commit_seq,
        });
        // A refused CCR-I ends the session before it starts, as a CCR-T or
        // an event ends it after: a later CCR-U for it gets 5002.
        let refused_start = rt == RequestType::Initial && decision.result_code != result::SUCCESS;
        if refused_start || matches!(rt, RequestType::Termination | RequestType::Event) {
            for r in session.reservations.drain(..) {
                bal.release(r.allowance, r.units);
            }
            session.state = SessionState::Terminated;
            session.expires = now + self.cfg.terminated_linger;
        }
        Charged {
            answer,
            seq: commit_seq,
            duplicate: false,
            result_code: decision.result_code,
        }
    }

    /// What rating this request needs to know: the product, bundle and
    /// sponsor, where the reported usage happened and where the session is
    /// now, and whether that allows new grants.
    #[allow(clippy::too_many_arguments)]
    fn plan<'a>(
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
    fn outcome(&self, plan: &Plan<'_>, rt: RequestType, services: Vec<ServiceAnswer>) -> Decision {
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

    /// A Session-Termination-Request: the session's reservations are
    /// released and it ends as after a CCR-T. False when gyro knew no open
    /// session of that id.
    pub fn end_session(&self, session_id: &str, now: UnixTime) -> bool {
        let Some(owner) = self.ledger.owner(session_id) else {
            return false;
        };
        let mut acct = self.ledger.lock(owner);
        let Some((bal, s)) = acct.split(session_id) else {
            return false;
        };
        if s.state == SessionState::Terminated {
            return false;
        }
        for r in s.reservations.drain(..) {
            bal.release(r.allowance, r.units);
        }
        s.state = SessionState::Terminated;
        s.expires = now + self.cfg.terminated_linger;
        true
    }

    /// An account's open sessions and their gateways (see
    /// `Ledger::open_sessions`).
    pub fn open_sessions(&self, account: u64) -> Vec<OpenSession> {
        self.ledger.open_sessions(account)
    }

    /// Supervision: Tcc for silent sessions, and forgetting ended ones.
    pub fn expire(&self, now: UnixTime) -> super::ledger::Swept {
        self.ledger.sweep(now, self.cfg.idle_max)
    }
}
