//! The embedded OCS's decisions, sans-IO: a CCR and `now` in; result codes,
//! grants and the usage to make durable out. No socket, no disk, no clock.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use super::balance::{Allowance, Balances, Used};
use super::ccr::{Ccr, RequestType, ServiceContext};
use super::session::{Reservation, Session, SessionState, Sessions};
use crate::diameter::codes::result;
use crate::inventory::model::UnixTime;
use crate::rating::{self, Rating};
use crate::resolver::index::iccid_string;
use crate::resolver::location::{decode_uli, plmn_from_visited_network, Plmn};
use crate::resolver::{Index, Subscriber};

pub const CREDIT_LIMIT_REACHED: u32 = 4012;
pub const END_USER_SERVICE_DENIED: u32 = 4010;
pub const USER_UNKNOWN: u32 = 5030;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Copy the first failing MSCC Result-Code to command level (for
    /// gateways that read only the top level).
    pub raise_mscc_result: bool,
    /// Final-Unit-Action on the last grant: 0 TERMINATE, 1 REDIRECT.
    pub final_unit_action: i32,
    pub redirect_url: Option<String>,
    /// How long a terminated session's last answer is kept for retransmissions.
    pub terminated_linger: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            raise_mscc_result: false,
            final_unit_action: 0,
            redirect_url: None,
            terminated_linger: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAnswer {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    pub result_code: u32,
    pub granted: Option<(Allowance, u64)>,
    pub validity_time: Option<u32>,
    pub final_unit: bool,
}

/// One record per service per CCR-U/T/EVENT.
#[derive(Debug, Clone, Serialize)]
pub struct Xdr {
    pub time: UnixTime,
    pub session_id: String,
    pub request_type: &'static str,
    pub account: u64,
    pub iccid: String,
    pub imsi: String,
    pub sponsor: String,
    pub rate_code: String,
    pub rating_group: Option<u32>,
    pub octets_up: u64,
    pub octets_down: u64,
    pub seconds: u64,
    pub allowance_consumed: u64,
    pub allowance: &'static str,
    pub cost: Option<Decimal>,
    pub cost_currency: Option<String>,
    pub cost_reporting: Option<Decimal>,
    pub reporting_currency: String,
}

/// The fair-usage threshold was crossed: throttle every IMSI of the profile.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FupEvent {
    pub account: u64,
    pub iccid: String,
    pub at: UnixTime,
    pub used_octets: u64,
    pub threshold_octets: u64,
}

/// What must be durable before the answer goes out.
#[derive(Debug, Clone)]
pub struct Commit {
    pub account: u64,
    pub used: Used,
    pub xdrs: Vec<Xdr>,
    pub fup: Option<FupEvent>,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub result_code: u32,
    pub services: Vec<ServiceAnswer>,
    pub commit: Option<Commit>,
    pub error_message: Option<String>,
}

impl Decision {
    fn fail(code: u32, why: impl Into<String>) -> Decision {
        Decision {
            result_code: code,
            services: vec![],
            commit: None,
            error_message: Some(why.into()),
        }
    }
}

pub struct Engine {
    pub index: Arc<Index>,
    pub rating: Arc<Rating>,
    pub sessions: Sessions,
    pub balances: Balances,
    pub cfg: EngineConfig,
}

/// Where the subscriber is: SGSN-MCC-MNC, else the ULI, else the IMS visited network.
pub fn location(ccr: &Ccr<'_>) -> Option<Plmn> {
    ccr.sgsn_mcc_mnc
        .and_then(|s| Plmn::parse(s).ok())
        .or_else(|| ccr.uli.and_then(|u| decode_uli(u).ok()).map(|l| l.plmn))
        .or_else(|| {
            ccr.ims_visited_network
                .and_then(|v| plmn_from_visited_network(v).ok())
        })
}

/// The E.164 digits of a tel: or sip: Called-Party-Address.
fn e164(addr: &str) -> String {
    let s = addr
        .strip_prefix("tel:")
        .or_else(|| addr.strip_prefix("sip:"))
        .unwrap_or(addr);
    s.split(['@', ';'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect()
}

fn type_name(t: RequestType) -> &'static str {
    match t {
        RequestType::Initial => "INITIAL",
        RequestType::Update => "UPDATE",
        RequestType::Termination => "TERMINATION",
        RequestType::Event => "EVENT",
    }
}

impl Engine {
    pub fn new(index: Arc<Index>, rating: Arc<Rating>, cfg: EngineConfig) -> Engine {
        Engine {
            index,
            rating,
            sessions: Sessions::default(),
            balances: Balances::default(),
            cfg,
        }
    }

    fn validity(&self) -> u32 {
        self.rating.grant.validity_time.0.as_secs() as u32
    }

    fn resolve(&self, ccr: &Ccr<'_>, now: UnixTime) -> Result<Subscriber, String> {
        if let Some(imsi) = ccr.imsi {
            return self
                .index
                .resolve_imsi(imsi, Some(ccr.origin_host), now)
                .map_err(|m| format!("IMSI {imsi}: {m}"));
        }
        Err(match ccr.msisdn {
            // gyro charges per profile, which only an IMSI identifies.
            Some(m) => format!("MSISDN {m}: an IMSI is needed to find the profile"),
            None => "no Subscription-Id or User-Name".into(),
        })
    }

    /// The stored answer for a retransmitted request, if this is one.
    pub fn duplicate(&self, ccr: &Ccr<'_>, end_to_end: u32) -> Option<(bytes::Bytes, u64)> {
        self.sessions
            .map
            .get(ccr.session_id)
            .and_then(|s| s.answer_for(ccr.request_number, end_to_end))
    }

    /// Keeps the encoded answer for retransmissions of this request.
    pub fn remember(&self, ccr: &Ccr<'_>, end_to_end: u32, answer: bytes::Bytes, seq: u64) {
        if let Some(mut s) = self.sessions.map.get_mut(ccr.session_id) {
            s.remember(ccr.request_number, end_to_end, answer, seq);
        }
    }

    pub fn charge(&self, ccr: &Ccr<'_>, now: UnixTime) -> Decision {
        let Some(rt) = ccr.request_type else {
            return Decision::fail(result::INVALID_AVP_VALUE, "CC-Request-Type");
        };
        let validity = self.validity() as i64;
        let mut entry = match rt {
            RequestType::Initial | RequestType::Event => {
                let sub = match self.resolve(ccr, now) {
                    Ok(s) => s,
                    Err(why) => return Decision::fail(USER_UNKNOWN, why),
                };
                let Some(plmn) = location(ccr) else {
                    return Decision::fail(
                        END_USER_SERVICE_DENIED,
                        "no location (3GPP-SGSN-MCC-MNC, ULI or IMS visited network)",
                    );
                };
                self.sessions.map.insert(
                    ccr.session_id.to_string(),
                    Session::new(sub, plmn.rate_code(), now + 2 * validity),
                );
                match self.sessions.map.get_mut(ccr.session_id) {
                    Some(e) => e,
                    None => return Decision::fail(result::UNABLE_TO_COMPLY, "session vanished"),
                }
            }
            RequestType::Update | RequestType::Termination => {
                match self.sessions.map.get_mut(ccr.session_id) {
                    Some(s) if s.state == SessionState::Open => s,
                    _ => {
                        return Decision::fail(
                            result::UNKNOWN_SESSION_ID,
                            "unknown or terminated session",
                        )
                    }
                }
            }
        };
        let session = &mut *entry;
        if let Some(plmn) = location(ccr) {
            session.rate_code = plmn.rate_code();
        }
        session.expires = now + 2 * validity;
        let sub = session.subscriber;
        let catalog = self.index.catalog();
        let Some(product) = catalog.products.get(sub.product as usize) else {
            return Decision::fail(USER_UNKNOWN, "account has no known product");
        };
        let bundle = self.rating.bundle(&product.name);
        let covered = self.rating.covers(
            catalog.product_rate_codes(sub.product),
            &product.rate_code_groups,
            session.rate_code,
        );
        let sponsor = catalog.sponsors.get(sub.sponsor as usize);
        let voice = ServiceContext::parse(ccr.service_context).is_voice();
        let allowance = if voice {
            Allowance::Voice
        } else {
            Allowance::Data
        };
        let limit = bundle.map_or(0, |b| {
            if voice {
                b.voice_seconds
            } else {
                b.data_octets
            }
        });
        let grant_size = if voice {
            self.rating.grant.voice_seconds
        } else {
            self.rating.grant.data_octets
        };
        let destination_ok = match (voice, ccr.role_of_node, ccr.called_party, bundle) {
            // Incoming calls are free to arrive from anywhere.
            (true, Some(1), _, _) => true,
            (true, _, Some(to), Some(b)) => self.rating.voice_destination_allowed(b, &e164(to)),
            (true, _, None, _) => false,
            _ => true,
        };

        let mut answers = vec![];
        let mut xdrs = vec![];
        let mut committed = false;
        let fup;
        {
            let balances = &self.balances;
            let rating = &*self.rating;
            fup = balances.with(sub.account, |bal| {
                for svc in &ccr.services {
                    let key = svc.rating_group.or(svc.service_identifier).unwrap_or(0);
                    if let Some(r) = session.take_reservation(key) {
                        bal.release(r.allowance, r.units);
                    }
                    let used = if voice {
                        svc.used.time.unwrap_or(0) as u64
                    } else {
                        svc.used.octets()
                    };
                    let reports = matches!(
                        rt,
                        RequestType::Update | RequestType::Termination | RequestType::Event
                    );
                    if used > 0 {
                        bal.commit(allowance, used);
                        committed = true;
                    }
                    if reports && (used > 0 || !svc.used.is_empty()) {
                        let plmn = session.rate_code.plmn();
                        let cost = sponsor
                            .filter(|_| !voice)
                            .and_then(|s| rating.wholesale(&s.id, &s.currency, plmn, used));
                        xdrs.push(Xdr {
                            time: now,
                            session_id: ccr.session_id.to_string(),
                            request_type: type_name(rt),
                            account: sub.account,
                            iccid: iccid_string(sub.iccid),
                            imsi: sub.imsi.to_string(),
                            sponsor: sponsor.map_or_else(String::new, |s| s.name.clone()),
                            rate_code: session.rate_code.to_string(),
                            rating_group: svc.rating_group,
                            octets_up: svc.used.input_octets.unwrap_or(0),
                            octets_down: svc.used.output_octets.unwrap_or(0),
                            seconds: svc.used.time.unwrap_or(0) as u64,
                            allowance_consumed: used,
                            allowance: if voice { "voice" } else { "data" },
                            cost: cost.map(|c| c.amount),
                            cost_currency: cost.and(sponsor.map(|s| s.currency.clone())),
                            cost_reporting: cost.map(|c| c.reporting_amount),
                            reporting_currency: rating.reporting_currency.clone(),
                        });
                    }
                    let mut a = ServiceAnswer {
                        rating_group: svc.rating_group,
                        service_identifier: svc.service_identifier,
                        result_code: result::SUCCESS,
                        granted: None,
                        validity_time: None,
                        final_unit: false,
                    };
                    let wants = svc.requested.is_some() && rt != RequestType::Termination;
                    if wants {
                        if !covered || !destination_ok {
                            a.result_code = END_USER_SERVICE_DENIED;
                        } else {
                            let req = svc
                                .requested
                                .map(|u| {
                                    if voice {
                                        u.time.map(u64::from)
                                    } else {
                                        u.total_octets.or(if u.is_empty() {
                                            None
                                        } else {
                                            Some(u.octets())
                                        })
                                    }
                                })
                                .unwrap_or(None);
                            let remaining = bal.remaining(allowance, limit);
                            let g = rating::grant(req, grant_size, remaining);
                            if g == 0 {
                                a.result_code = CREDIT_LIMIT_REACHED;
                            } else if rt == RequestType::Event {
                                // Direct debiting: the units are used now.
                                bal.commit(allowance, g);
                                committed = true;
                                a.granted = Some((allowance, g));
                            } else {
                                bal.reserve(allowance, g);
                                session.reservations.push(Reservation {
                                    key,
                                    allowance,
                                    units: g,
                                });
                                a.granted = Some((allowance, g));
                                a.validity_time = Some(validity as u32);
                                a.final_unit = g == remaining;
                            }
                        }
                    }
                    answers.push(a);
                }
                if rt == RequestType::Termination {
                    for r in session.reservations.drain(..) {
                        bal.release(r.allowance, r.units);
                    }
                }
                // Fair usage: one event when the threshold is first crossed.
                match bundle.and_then(|b| b.fup_octets) {
                    Some(t) if !bal.used.fup_crossed && bal.used.data_octets >= t => {
                        bal.used.fup_crossed = true;
                        committed = true;
                        Some((t, bal.used))
                    }
                    _ => None,
                }
            });
        }
        if matches!(rt, RequestType::Termination | RequestType::Event) {
            session.state = SessionState::Terminated;
            session.expires = now + self.cfg.terminated_linger;
        }
        // A network outside the bundle refuses the whole session, at command
        // level; usage already reported is still charged.
        let mut result_code = if !covered && rt != RequestType::Termination {
            END_USER_SERVICE_DENIED
        } else {
            result::SUCCESS
        };
        if self.cfg.raise_mscc_result {
            if let Some(f) = answers.iter().find(|a| a.result_code != result::SUCCESS) {
                result_code = f.result_code;
            }
        }
        let used = self.balances.get(sub.account).used;
        let commit = (committed || !xdrs.is_empty()).then(|| Commit {
            account: sub.account,
            used,
            xdrs,
            fup: fup.map(|(t, u)| FupEvent {
                account: sub.account,
                iccid: iccid_string(sub.iccid),
                at: now,
                used_octets: u.data_octets,
                threshold_octets: t,
            }),
        });
        let error_message = (!covered)
            .then(|| format!("visited network {} is not in the bundle", session.rate_code));
        // A refused CCR-I ends the session before it starts: a later CCR-U/T
        // for it is unknown (5002) and nothing more is charged.
        let refused_start = rt == RequestType::Initial && result_code != result::SUCCESS;
        drop(entry);
        if refused_start {
            if let Some((_, s)) = self.sessions.map.remove(ccr.session_id) {
                self.balances.with(s.subscriber.account, |b| {
                    for r in &s.reservations {
                        b.release(r.allowance, r.units);
                    }
                });
            }
        }
        Decision {
            result_code,
            services: answers,
            commit,
            error_message,
        }
    }

    /// Tcc: releases the reservations of sessions silent past their expiry.
    pub fn expire(&self, now: UnixTime) -> usize {
        let dead = self.sessions.expire(now);
        for (_, s) in &dead {
            self.balances.with(s.subscriber.account, |b| {
                for r in &s.reservations {
                    b.release(r.allowance, r.units);
                }
            });
        }
        dead.len()
    }
}
