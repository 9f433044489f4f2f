//! The failsafe journal: usage gyro answered itself while no upstream OCS
//! answered. Its records are the xDR lines tagged `mode: local` (already
//! durable before their answers left); each is replayed to the upstream as
//! one CCR-EVENT DIRECT_DEBITING whose Session-Id and End-to-End id derive
//! from the record, so a resend after a crash is the same request (T flag)
//! and the OCS charges it once. Sans-IO: records in, requests out.

use bytes::BytesMut;
use serde::Deserialize;

use super::rewrite::Canonical;
use crate::charging::xdr::{Sequenced, LOCAL};
use crate::diameter::builder::AvpDef;
use crate::diameter::codes::{self, avp, value};
use crate::diameter::dictionary::VENDOR_3GPP;
use crate::diameter::header::{application, command, flags};
use crate::diameter::MessageBuilder;
use crate::model::RateCode;

/// Seconds from 1900 (NTP, Event-Timestamp) to 1970.
const NTP_OFFSET: i64 = 2_208_988_800;

/// One journalled Used-Service-Unit (or direct debit), as its xDR line says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Record {
    pub seq: u64,
    #[serde(default)]
    pub mode: Option<String>,
    pub time: i64,
    pub session_id: String,
    pub account: u64,
    pub iccid: String,
    pub rate_code: String,
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    pub octets_up: u64,
    pub octets_down: u64,
    pub seconds: u64,
    pub allowance: String,
    #[serde(default)]
    pub allowance_consumed: u64,
}

impl Sequenced for Record {
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// A record's place in the journal: its commit, and its line within it.
pub type Position = (u64, u32);

/// The journalled records past `cursor` and up to the durable watermark,
/// numbered within their commit, oldest first.
pub fn pending(lines: Vec<Record>, cursor: Position, durable: u64) -> Vec<(Position, Record)> {
    let mut out = vec![];
    let mut last = (0, 0);
    for r in lines {
        let pos = if r.seq == last.0 {
            (r.seq, last.1 + 1)
        } else {
            (r.seq, 0)
        };
        last = pos;
        if r.mode.as_deref() == Some(LOCAL) && pos > cursor && r.seq <= durable {
            out.push((pos, r));
        }
    }
    out
}

/// The Session-Id of a record's replay: the same on every resend.
pub fn session_id(our_host: &str, pos: Position) -> String {
    format!("{our_host};replay;{};{}", pos.0, pos.1)
}

/// A deterministic End-to-End id, so that an OCS that keys duplicates by it
/// recognises a resend.
pub fn end_to_end(pos: Position) -> u32 {
    (pos.0 as u32).wrapping_mul(0x9e37_79b9) ^ pos.1.rotate_left(24)
}

/// How a replay request is addressed.
pub struct Replay<'a> {
    pub our_host: &'a str,
    pub our_realm: &'a str,
    pub upstream_host: &'a str,
    pub canonical: &'a Canonical,
    /// A resend (or the first send after a restart): the T flag.
    pub retransmit: bool,
}

fn context(allowance: &str) -> &'static str {
    match allowance {
        "voice" => "32260@3gpp.org",
        "sms" => "32274@3gpp.org",
        _ => "32251@3gpp.org",
    }
}

/// The CCR-EVENT DIRECT_DEBITING that charges one record upstream.
pub fn replay_request(buf: &mut BytesMut, pos: Position, r: &Record, how: &Replay<'_>) -> usize {
    let e2e = end_to_end(pos);
    let mut b = MessageBuilder::request(
        buf,
        command::CREDIT_CONTROL,
        application::CREDIT_CONTROL,
        true,
        e2e,
        e2e,
    );
    b.utf8(codes::SESSION_ID, &session_id(how.our_host, pos))
        .utf8(codes::ORIGIN_HOST, how.our_host)
        .utf8(codes::ORIGIN_REALM, how.our_realm)
        .utf8(codes::DESTINATION_REALM, how.our_realm)
        .utf8(codes::DESTINATION_HOST, how.upstream_host)
        .u32(codes::AUTH_APPLICATION_ID, application::CREDIT_CONTROL)
        .utf8(AvpDef::base(avp::SERVICE_CONTEXT_ID), context(&r.allowance))
        .i32(AvpDef::base(avp::CC_REQUEST_TYPE), 4)
        .u32(AvpDef::base(avp::CC_REQUEST_NUMBER), 0)
        .u32(codes::EVENT_TIMESTAMP, (r.time + NTP_OFFSET) as u32);
    b.group(AvpDef::base(avp::SUBSCRIPTION_ID), |b| {
        b.i32(AvpDef::base(avp::SUBSCRIPTION_ID_TYPE), how.canonical.kind)
            .utf8(AvpDef::base(avp::SUBSCRIPTION_ID_DATA), &how.canonical.data);
    });
    b.utf8(codes::USER_NAME, &how.canonical.user_name);
    b.i32(AvpDef::base(avp::REQUESTED_ACTION), value::DIRECT_DEBITING);
    b.i32(AvpDef::base(avp::MULTIPLE_SERVICES_INDICATOR), 1);
    b.group(AvpDef::base(avp::MULTIPLE_SERVICES_CREDIT_CONTROL), |b| {
        b.group(AvpDef::base(avp::REQUESTED_SERVICE_UNIT), |b| units(b, r));
        if let Some(si) = r.service_identifier {
            b.u32(AvpDef::base(avp::SERVICE_IDENTIFIER), si);
        }
        if let Some(rg) = r.rating_group {
            b.u32(AvpDef::base(avp::RATING_GROUP), rg);
        }
    });
    if let Ok(rc) = RateCode::parse(&r.rate_code) {
        let si = AvpDef::vendor(avp::SERVICE_INFORMATION, VENDOR_3GPP, true);
        let ps = AvpDef::vendor(avp::PS_INFORMATION, VENDOR_3GPP, true);
        b.group(si, |b| {
            b.group(ps, |b| {
                b.utf8(
                    AvpDef::vendor(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP, false),
                    &rc.plmn().to_string(),
                );
            });
        });
    }
    let n = b.finish();
    if how.retransmit {
        let at = buf.len() - n + 4;
        buf[at] |= flags::RETRANSMIT;
    }
    n
}

fn units(b: &mut MessageBuilder<'_>, r: &Record) {
    match r.allowance.as_str() {
        "voice" => {
            b.u32(
                AvpDef::base(avp::CC_TIME),
                r.seconds.min(u32::MAX as u64) as u32,
            );
        }
        "sms" => {
            b.u64(
                AvpDef::base(avp::CC_SERVICE_SPECIFIC_UNITS),
                r.allowance_consumed.max(1),
            );
        }
        _ => {
            // A gateway that reports a total only leaves up/down at 0.
            let split = r.octets_up + r.octets_down;
            let total = if split > 0 {
                split
            } else {
                r.allowance_consumed
            };
            b.u64(AvpDef::base(avp::CC_TOTAL_OCTETS), total);
        }
    }
}

#[cfg(test)]
mod tests;
