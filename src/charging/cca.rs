//! Encodes a `Decision` as a Credit-Control-Answer.

use bytes::BytesMut;

use super::balance::Allowance;
use super::engine::Decision;
use crate::diameter::answer::{begin_answer, Origin};
use crate::diameter::builder::AvpDef;
use crate::diameter::{codes, Message};

const CC_REQUEST_TYPE: AvpDef = AvpDef::base(416);
const CC_REQUEST_NUMBER: AvpDef = AvpDef::base(415);
const MSCC: AvpDef = AvpDef::base(456);
const GSU: AvpDef = AvpDef::base(431);
const CC_TOTAL_OCTETS: AvpDef = AvpDef::base(421);
const CC_TIME: AvpDef = AvpDef::base(420);
const RATING_GROUP: AvpDef = AvpDef::base(432);
const SERVICE_IDENTIFIER: AvpDef = AvpDef::base(439);
const VALIDITY_TIME: AvpDef = AvpDef::base(448);
const FINAL_UNIT_INDICATION: AvpDef = AvpDef::base(430);
const FINAL_UNIT_ACTION: AvpDef = AvpDef::base(449);
const REDIRECT_SERVER: AvpDef = AvpDef::base(434);
const REDIRECT_ADDRESS_TYPE: AvpDef = AvpDef::base(433);
const REDIRECT_SERVER_ADDRESS: AvpDef = AvpDef::base(435);

pub struct FinalUnit<'a> {
    pub action: i32,
    pub redirect_url: Option<&'a str>,
}

pub fn encode(
    buf: &mut BytesMut,
    origin: &Origin,
    req: &Message<'_>,
    d: &Decision,
    fui: &FinalUnit<'_>,
) -> usize {
    let mut b = begin_answer(buf, origin, req, d.result_code);
    b.u32(codes::AUTH_APPLICATION_ID, 4);
    for code in [416u32, 415] {
        match req.find(code, 0) {
            Some(a) => {
                b.raw_avp(a.raw());
            }
            None => {
                b.u32(
                    if code == 416 {
                        CC_REQUEST_TYPE
                    } else {
                        CC_REQUEST_NUMBER
                    },
                    0,
                );
            }
        }
    }
    for s in &d.services {
        b.group(MSCC, |b| {
            if let Some((allowance, units)) = s.granted {
                b.group(GSU, |b| {
                    match allowance {
                        Allowance::Data => b.u64(CC_TOTAL_OCTETS, units),
                        Allowance::Voice => b.u32(CC_TIME, units.min(u32::MAX as u64) as u32),
                    };
                });
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
            if s.final_unit {
                b.group(FINAL_UNIT_INDICATION, |b| {
                    let redirect = fui.action == 1 && fui.redirect_url.is_some();
                    b.i32(FINAL_UNIT_ACTION, if redirect { 1 } else { 0 });
                    if let (true, Some(url)) = (redirect, fui.redirect_url) {
                        b.group(REDIRECT_SERVER, |b| {
                            b.i32(REDIRECT_ADDRESS_TYPE, 2)
                                .utf8(REDIRECT_SERVER_ADDRESS, url);
                        });
                    }
                });
            }
        });
    }
    if let Some(m) = &d.error_message {
        if d.result_code != 2001 {
            b.utf8(codes::ERROR_MESSAGE, m);
        }
    }
    b.finish()
}
