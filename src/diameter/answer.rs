//! Error answers built from a request and the `Violation` found in it
//! (RFC 6733 §7.2 layout; 5xxx in the command's own answer format).

use bytes::BytesMut;

use super::builder::MessageBuilder;
use super::codes::{self, result};
use super::dictionary::Dictionary;
use super::message::Message;
use super::validate::{FailedAvp, Violation};

/// Who is answering: written into every answer's Origin-Host and Origin-Realm.
#[derive(Debug, Clone)]
pub struct Origin {
    pub host: String,
    pub realm: String,
    pub state_id: u32,
}

/// Writes the standard answer preamble: header, Session-Id (if the request has
/// one), Result-Code, Origin-Host, Origin-Realm.
pub fn begin_answer<'b>(
    buf: &'b mut BytesMut,
    origin: &Origin,
    req: &Message<'_>,
    result_code: u32,
) -> MessageBuilder<'b> {
    let error = (3000..4000).contains(&result_code);
    let mut b = MessageBuilder::answer(buf, &req.header, error);
    if let Some(sid) = req.find(263, 0) {
        b.raw_avp(sid.raw());
    }
    b.u32(codes::RESULT_CODE, result_code)
        .utf8(codes::ORIGIN_HOST, &origin.host)
        .utf8(codes::ORIGIN_REALM, &origin.realm);
    b
}

/// Builds the answer a request that broke a rule deserves. For 5xxx on an
/// application command, the AVPs its answer grammar requires are copied from
/// the request where it has them (e.g. CC-Request-Type/Number for a CCA).
pub fn error_answer(
    buf: &mut BytesMut,
    dict: &Dictionary,
    origin: &Origin,
    req: &Message<'_>,
    violation: &Violation<'_>,
) -> usize {
    let mut b = begin_answer(buf, origin, req, violation.result_code);
    let h = req.header;
    if !violation.is_protocol_error() && h.application != 0 {
        if let Some(cmd) = dict.command(h.application, h.command) {
            for rule in cmd.answer.rules.iter().filter(|r| r.min > 0) {
                let d = dict.def(rule.avp);
                if matches!((d.code, d.vendor), (263 | 264 | 268 | 296, 0)) {
                    continue;
                }
                if let Some(a) = req.find(d.code, d.vendor) {
                    b.raw_avp(a.raw());
                }
            }
        }
    }
    if !violation.message.is_empty() {
        b.utf8(codes::ERROR_MESSAGE, &violation.message);
    }
    write_failed_avp(&mut b, &violation.failed_avp);
    for p in req.find_all(284, 0) {
        b.raw_avp(p.raw());
    }
    b.finish()
}

fn write_failed_avp(b: &mut MessageBuilder<'_>, f: &FailedAvp<'_>) {
    match *f {
        FailedAvp::None => {}
        FailedAvp::Raw(raw) => {
            b.group(codes::FAILED_AVP, |b| {
                b.raw_avp(raw);
            });
        }
        FailedAvp::Example {
            code,
            vendor,
            flags,
            data_len,
        } => {
            let zeros = [0u8; 8];
            let def = super::builder::AvpDef {
                code,
                vendor,
                flags: flags & !super::avp::avp_flags::VENDOR & !super::avp::avp_flags::RESERVED,
            };
            b.group(codes::FAILED_AVP, |b| {
                b.octets(def, &zeros[..data_len.min(8)]);
            });
        }
    }
}

/// A request whose application nobody serves (3007) or whose command the
/// dictionary does not know (3001).
pub fn simple_error(
    buf: &mut BytesMut,
    origin: &Origin,
    req: &Message<'_>,
    result_code: u32,
    message: &str,
) -> usize {
    debug_assert!(result_code != result::SUCCESS);
    let mut b = begin_answer(buf, origin, req, result_code);
    if !message.is_empty() {
        b.utf8(codes::ERROR_MESSAGE, message);
    }
    for p in req.find_all(284, 0) {
        b.raw_avp(p.raw());
    }
    b.finish()
}
