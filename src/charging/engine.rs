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
use super::ccr::{Ccr, RequestType};
use super::commit::Commit;
use super::decision::{action, fair_usage};
pub use super::decision::{Cost, Decision};
use super::gateway::{Gateways, OpenSession};
use super::identity::{location, subscriber};
use super::ledger::Ledger;
use super::rate::{rate_service, Rated};
use super::retained::Retained;
use super::session::{KeptAnswer, Session, SessionState};
use crate::diameter::codes::{result, value};
use crate::model::Plmn;
use crate::model::UnixTime;
use crate::rating::Rating;
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
    /// How long a terminated session stays in the ledger (a late CCR-U
    /// for it gets 5002).
    pub terminated_linger: i64,
    /// How long an answer is kept for retransmissions after it was sent,
    /// across its session's end and across restarts (see `retained`).
    pub retransmission_window: i64,
    /// How long a session that holds no quota may stay silent before it is
    /// forgotten (Tcc never cuts such a bearer).
    pub idle_max: i64,
    /// Arm the location triggers in CCAs that grant.
    pub location_triggers: bool,
    /// Proxy mode answering locally while no upstream answers: grants are
    /// capped (octets, seconds) and every xDR is tagged `mode: local`, the
    /// journal replayed to the upstream later.
    pub failsafe: Option<(u64, u64)>,
    /// A lapsed bundle's 4012 redirects here (`lifecycle.topup_url`).
    pub topup_url: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            raise_mscc_result: false,
            final_unit_action: value::FINAL_UNIT_TERMINATE,
            redirect_url: None,
            filter_id: None,
            terminated_linger: 60,
            // Tcc for the default Validity-Time of 10 minutes.
            retransmission_window: 1200,
            idle_max: 86_400,
            location_triggers: true,
            failsafe: None,
            topup_url: None,
        }
    }
}

/// How long a retransmission of a request can still come: as long as its
/// session may live unheard, Tcc (twice the Validity-Time gyro grants
/// with), and never less than an ended session lingers.
pub fn retransmission_window(rating: &Rating, terminated_linger: i64) -> i64 {
    let validity = rating.grant.validity_time.0.as_secs() as i64;
    (2 * validity).max(terminated_linger)
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

impl Charged {
    /// A retransmission, answered with what the request got the first time.
    fn again(k: &KeptAnswer) -> Charged {
        Charged {
            answer: k.bytes.clone(),
            seq: k.seq,
            duplicate: true,
            result_code: 0,
        }
    }
}

pub struct Engine {
    pub index: Arc<Index>,
    /// Swapped whole by a reload; each request rates on the one version it
    /// loaded first.
    rating: ArcSwap<Rating>,
    pub ledger: Ledger,
    /// Answers kept past their session and across a restart.
    pub retained: Retained,
    pub cfg: EngineConfig,
    gateways: Gateways,
    /// Each account's current bundle period start (see `period`).
    pub(super) periods: dashmap::DashMap<u64, u64, rustc_hash::FxBuildHasher>,
}

/// Encodes a decision as the answer to send.
pub type Encode<'a> = dyn Fn(&Decision) -> Bytes + 'a;

const BUSY: &str = "usage cannot be made durable in time; retry";
const STALE: &str =
    "CC-Request-Number below one already answered: an old copy, charged when first answered";

/// Tries at locating a session that other requests keep moving.
const LOCATE_TRIES: usize = 4;

impl Engine {
    pub fn new(index: Arc<Index>, rating: Arc<Rating>, cfg: EngineConfig) -> Engine {
        Engine {
            index,
            rating: ArcSwap::new(rating),
            ledger: Ledger::default(),
            retained: Retained::new(cfg.retransmission_window),
            cfg,
            gateways: Gateways::default(),
            periods: Default::default(),
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
                        return Charged::again(k);
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
            // A session the ledger does not know: a retransmission of an
            // answer kept past its session (ended, or before a restart)?
            let number = ccr.request_number;
            if let Some(k) = self.retained.answer_for(ccr.session_id, number, end_to_end) {
                return Charged::again(&k);
            }
            // Else a new one, or one it lost (a restart, Tcc, another
            // node). Its usage is charged all the same.
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
            let mut session = Session::new(sub, plmn.rate_code(), now);
            session.answers.extend(self.retained.take(ccr.session_id));
            let (bal, s) = acct.open(ccr.session_id, session);
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
        let starts = matches!(rt, RequestType::Initial | RequestType::Event);
        let refusal = if !starts && session.is_stale(ccr.request_number) {
            Some(Decision::fail(result::UNABLE_TO_COMPLY, STALE))
        } else if !seq.accepting() {
            Some(Decision::fail(result::TOO_BUSY, BUSY))
        } else {
            None
        };
        if let Some(d) = refusal {
            return Charged {
                result_code: d.result_code,
                answer: encode(&d),
                seq: 0,
                duplicate: false,
            };
        }
        if let Some(start) = self.period_of(account) {
            bal.align_period(start);
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
                x.mode = Some(super::xdr::LOCAL);
            }
        }
        let answer = encode(&decision);
        // The answer is made durable with its usage, on the request's first
        // line: a retransmission after a restart is answered from it.
        if let Some(first) = rated.xdrs.first_mut() {
            first.answer = Some(answer.clone());
        }
        let commit_seq = if rated.charged || !rated.xdrs.is_empty() || fup.is_some() {
            seq.submit(Commit {
                account,
                used: Some(bal.used),
                xdrs: rated.xdrs,
                fup,
                fup_restore: false,
            })
        } else {
            0
        };
        session.remember(KeptAnswer {
            number: ccr.request_number,
            end_to_end,
            bytes: answer.clone(),
            seq: commit_seq,
            at: now,
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

    /// Supervision: Tcc for silent sessions, and forgetting ended ones;
    /// a forgotten session's last answer stays retained for the rest of
    /// its window, and retained answers past it go.
    pub fn expire(&self, now: UnixTime) -> super::ledger::Swept {
        let swept = self
            .ledger
            .sweep(now, self.cfg.idle_max, &|id: &str, s: &Session| {
                self.retained.keep(id, s.answers.back(), now);
            });
        self.retained.sweep(now);
        swept
    }
}
