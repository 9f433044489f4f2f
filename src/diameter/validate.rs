//! Dictionary-driven validation of received messages: finds the first thing
//! wrong and names the RFC 6733 result code and Failed-AVP for it.

use super::avp::{avp_flags, AvpIter};
use super::dictionary::{Check, Dictionary, RuleSet};
use super::header::{command, HEADER_LEN, VERSION};
use super::message::Message;

/// Grouped AVPs nested deeper than this are refused rather than recursed into.
const MAX_DEPTH: usize = 16;

/// What goes into Failed-AVP (RFC 6733 §7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedAvp<'a> {
    None,
    /// The offending AVP as received.
    Raw(&'a [u8]),
    /// A zero-filled example: for a missing AVP, or one whose length is broken.
    Example {
        code: u32,
        vendor: u32,
        flags: u8,
        data_len: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation<'a> {
    pub result_code: u32,
    pub failed_avp: FailedAvp<'a>,
    /// For Error-Message and the log.
    pub message: String,
}

impl Violation<'_> {
    /// 3xxx protocol errors are answered with the E bit (RFC 6733 §7.1.3).
    pub fn is_protocol_error(&self) -> bool {
        (3000..4000).contains(&self.result_code)
    }
}

fn v<'a>(result_code: u32, failed_avp: FailedAvp<'a>, message: String) -> Violation<'a> {
    Violation {
        result_code,
        failed_avp,
        message,
    }
}

/// Checks header, every AVP (recursively) and the command grammar.
pub fn validate<'a>(dict: &Dictionary, msg: &Message<'a>) -> Result<(), Violation<'a>> {
    let h = &msg.header;
    if h.version != VERSION {
        return Err(v(
            5011,
            FailedAvp::None,
            format!("unsupported version {}", h.version),
        ));
    }
    if h.length % 4 != 0 || (h.length as usize) < HEADER_LEN {
        return Err(v(
            5015,
            FailedAvp::None,
            format!("message length {} is not a multiple of 4", h.length),
        ));
    }
    if h.is_request() && h.is_error() {
        return Err(v(3008, FailedAvp::None, "E bit set in a request".into()));
    }
    let base = matches!(
        h.command,
        command::CAPABILITIES_EXCHANGE | command::DEVICE_WATCHDOG | command::DISCONNECT_PEER
    );
    if base && h.is_proxiable() {
        return Err(v(
            3008,
            FailedAvp::None,
            "P bit set on a peer-control command".into(),
        ));
    }
    let rules = dict.command(h.application, h.command).map(|c| {
        if h.is_request() {
            &c.request
        } else {
            &c.answer
        }
    });
    walk(dict, msg.avps(), rules, 0)
}

fn walk<'a>(
    dict: &Dictionary,
    avps: AvpIter<'a>,
    rules: Option<&RuleSet>,
    depth: usize,
) -> Result<(), Violation<'a>> {
    let n = rules.map_or(0, |r| r.rules.len());
    let mut small = [0u16; 64];
    let mut large;
    let counts: &mut [u16] = if n <= small.len() {
        &mut small[..n]
    } else {
        large = vec![0u16; n];
        &mut large
    };
    for item in avps {
        let avp = match item {
            Ok(a) => a,
            Err(e) => {
                let data_len = dict
                    .avp(e.code, e.vendor)
                    .map_or(0, |d| d.data_type.minimal_len());
                return Err(v(
                    5014,
                    FailedAvp::Example {
                        code: e.code,
                        vendor: e.vendor,
                        flags: e.flags,
                        data_len,
                    },
                    format!("AVP {} has a bad length {}", e.code, e.declared_len),
                ));
            }
        };
        if avp.flags & avp_flags::RESERVED != 0 {
            return Err(v(
                3009,
                FailedAvp::Raw(avp.raw()),
                format!("AVP {} has reserved flag bits set", avp.code),
            ));
        }
        let Some(id) = dict.avp_id(avp.code, avp.vendor) else {
            if avp.is_mandatory() {
                return Err(v(
                    5001,
                    FailedAvp::Raw(avp.raw()),
                    format!(
                        "unknown AVP {} (vendor {}) with the M bit",
                        avp.code, avp.vendor
                    ),
                ));
            }
            continue;
        };
        let meta = dict.meta(id);
        if avp.flags & meta.must_not != 0 {
            let name = &dict.def(id).name;
            return Err(v(
                3009,
                FailedAvp::Raw(avp.raw()),
                format!("{name}: flag bits not allowed for this AVP"),
            ));
        }
        let data = avp.data();
        let fault: Option<(u32, &str)> = match meta.check {
            Check::Any => None,
            Check::Fixed(n) => {
                (data.len() != n as usize).then_some((5014, "wrong data length for its type"))
            }
            Check::Utf8 => avp.utf8().is_err().then_some((5004, "not valid UTF-8")),
            Check::Identity => avp
                .identity()
                .is_err()
                .then_some((5004, "not an ASCII DiameterIdentity")),
            Check::Uri => avp.uri().is_err().then_some((5004, "not a DiameterURI")),
            Check::Address => match data {
                [0, 1, ..] | [0, 2, ..] => avp
                    .address()
                    .is_err()
                    .then_some((5004, "bad address for its family")),
                // Other IANA families (E.164 and friends) carry free-form octets.
                [_, _, ..] => None,
                _ => Some((5004, "address shorter than its family")),
            },
            Check::Grouped => {
                if depth >= MAX_DEPTH {
                    Some((5004, "grouped AVPs nested too deep"))
                } else {
                    // Errors inside a group name the innermost AVP at fault.
                    walk(dict, avp.grouped(), dict.def(id).group.as_ref(), depth + 1)?;
                    None
                }
            }
        };
        if let Some((code, why)) = fault {
            let def = dict.def(id);
            let failed = if code == 5014 {
                FailedAvp::Example {
                    code: avp.code,
                    vendor: avp.vendor,
                    flags: avp.flags,
                    data_len: def.data_type.minimal_len(),
                }
            } else {
                FailedAvp::Raw(avp.raw())
            };
            return Err(v(code, failed, format!("{}: {why}", def.name)));
        }
        if meta.closed_enum && avp.is_mandatory() {
            let def = dict.def(id);
            let val = avp.enumerated().unwrap_or_default();
            if def.enum_name(val).is_none() {
                return Err(v(
                    5004,
                    FailedAvp::Raw(avp.raw()),
                    format!("{}: unknown value {val}", def.name),
                ));
            }
        }
        if let Some(rules) = rules {
            if let Some(slot) = rules.slot(id) {
                counts[slot] = counts[slot].saturating_add(1);
                // Too many is known the moment it happens.
                let rule = &rules.rules[slot];
                if counts[slot] as u32 > rule.max {
                    return Err(v(
                        if rule.max == 0 { 5008 } else { 5009 },
                        FailedAvp::Raw(avp.raw()),
                        format!(
                            "AVP {} occurs more than {} times",
                            dict.def(id).name,
                            rule.max
                        ),
                    ));
                }
            }
        }
    }
    // Only rules with a minimum can be unmet at the end: checking just those
    // keeps large optional grammars (PS-Information, MSCC) cheap.
    if let Some(rules) = rules {
        for (slot, rule) in rules.required() {
            if (counts[slot] as u32) < rule.min {
                let def = dict.def(rule.avp);
                return Err(v(
                    5005,
                    FailedAvp::Example {
                        code: def.code,
                        vendor: def.vendor,
                        flags: def.must & (avp_flags::MANDATORY | avp_flags::VENDOR),
                        data_len: def.data_type.minimal_len(),
                    },
                    format!("missing AVP {}", def.name),
                ));
            }
        }
    }
    Ok(())
}
