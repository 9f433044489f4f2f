//! Dictionary-driven validation of received messages: finds the first thing
//! wrong and names the RFC 6733 result code and Failed-AVP for it.
//!
//! Strict by default (RFC 6733 §4.1, §7.1.5). With `strict_m_bit` off, what
//! production gateways send ahead of gyro's dictionary gets through: unknown
//! AVPs with the M bit, and M-bit enumerations with values the dictionary does
//! not list. Each one is handed to the caller, who counts and logs it: this
//! module does no I/O. Framing, data sizes and grammar are checked the same
//! either way.

use super::avp::{avp_flags, Avp, AvpFramingError, AvpIter};
use super::codes::avp::CC_REQUEST_TYPE;
use super::dictionary::{AvpId, Check, Dictionary, RuleSet};
use super::header::{command, HEADER_LEN, VERSION};
use super::message::Message;

/// Grouped AVPs nested deeper than this are refused rather than recursed into.
const MAX_DEPTH: usize = 16;

/// Enumerations whose value says what the command is to do, as (code, vendor).
/// An unknown value leaves nothing sound to do, so it stays 5004 even when
/// lax: CC-Request-Type picks the session step (a CCR without a known one
/// cannot be rated), Requested-Action what an EVENT asks for (debit, refund,
/// balance check, price enquiry). Any other enumeration only describes the
/// request, and its reader treats an unknown value as absent.
const ESSENTIAL_ENUMS: &[(u32, u32)] = &[(CC_REQUEST_TYPE, 0), (REQUESTED_ACTION, 0)];
const REQUESTED_ACTION: u32 = 436;

/// How strictly a received message is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions {
    /// `true` (RFC 6733): an unknown AVP with the M bit is 5001 and an
    /// unknown value of an M-bit enumeration 5004. `false`: both are accepted
    /// and reported, except the values of `ESSENTIAL_ENUMS`.
    pub strict_m_bit: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions { strict_m_bit: true }
    }
}

/// What a lax validation let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// An AVP no dictionary knows, with the M bit set.
    UnknownMBit,
    /// An M-bit Enumerated AVP carrying this value, which its dictionary lacks.
    UnknownEnum(i32),
}

impl Tolerance {
    /// The `kind` label of `gyro_diameter_tolerated_avps_total`.
    pub fn label(self) -> &'static str {
        match self {
            Tolerance::UnknownMBit => "unknown_m_bit",
            Tolerance::UnknownEnum(_) => "unknown_enum",
        }
    }
}

/// One AVP accepted only because validation was lax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerated {
    pub code: u32,
    pub vendor: u32,
    pub tolerance: Tolerance,
}

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

/// Strict validation (RFC 6733): header, every AVP (recursively) and the
/// command grammar.
pub fn validate<'a>(dict: &Dictionary, msg: &Message<'a>) -> Result<(), Violation<'a>> {
    validate_with(dict, msg, ValidateOptions::default(), &mut |_| {})
}

/// Validation as `opts` say; `tolerated` hears of every AVP that passed only
/// because `opts` are lax, including in a message then refused for another
/// fault.
pub fn validate_with<'a>(
    dict: &Dictionary,
    msg: &Message<'a>,
    opts: ValidateOptions,
    tolerated: &mut dyn FnMut(Tolerated),
) -> Result<(), Violation<'a>> {
    header(msg)?;
    let h = &msg.header;
    let rules = dict.command(h.application, h.command).map(|c| {
        if h.is_request() {
            &c.request
        } else {
            &c.answer
        }
    });
    Walker {
        dict,
        opts,
        tolerated,
    }
    .walk(msg.avps(), rules, 0)
}

fn header<'a>(msg: &Message<'a>) -> Result<(), Violation<'a>> {
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
    Ok(())
}

struct Walker<'d, 't> {
    dict: &'d Dictionary,
    opts: ValidateOptions,
    tolerated: &'t mut dyn FnMut(Tolerated),
}

impl Walker<'_, '_> {
    fn walk<'a>(
        &mut self,
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
            let avp = item.map_err(|e| self.bad_length(e))?;
            let Some(id) = self.known(&avp)? else {
                continue;
            };
            self.value(&avp, id, depth)?;
            self.enumeration(&avp, id)?;
            if let Some(rules) = rules {
                self.occurrence(rules, counts, id, &avp)?;
            }
        }
        match rules {
            Some(rules) => self.required(rules, counts),
            None => Ok(()),
        }
    }

    fn bad_length<'a>(&self, e: AvpFramingError<'a>) -> Violation<'a> {
        let data_len = self
            .dict
            .avp(e.code, e.vendor)
            .map_or(0, |d| d.data_type.minimal_len());
        v(
            5014,
            FailedAvp::Example {
                code: e.code,
                vendor: e.vendor,
                flags: e.flags,
                data_len,
            },
            format!("AVP {} has a bad length {}", e.code, e.declared_len),
        )
    }

    /// The AVP's definition; None for an unknown AVP that may be skipped.
    fn known<'a>(&mut self, avp: &Avp<'a>) -> Result<Option<AvpId>, Violation<'a>> {
        if avp.flags & avp_flags::RESERVED != 0 {
            return Err(v(
                3009,
                FailedAvp::Raw(avp.raw()),
                format!("AVP {} has reserved flag bits set", avp.code),
            ));
        }
        let Some(id) = self.dict.avp_id(avp.code, avp.vendor) else {
            if !avp.is_mandatory() {
                return Ok(None);
            }
            if !self.opts.strict_m_bit {
                self.tolerate(avp, Tolerance::UnknownMBit);
                return Ok(None);
            }
            return Err(v(
                5001,
                FailedAvp::Raw(avp.raw()),
                format!(
                    "unknown AVP {} (vendor {}) with the M bit",
                    avp.code, avp.vendor
                ),
            ));
        };
        if avp.flags & self.dict.meta(id).must_not != 0 {
            let name = &self.dict.def(id).name;
            return Err(v(
                3009,
                FailedAvp::Raw(avp.raw()),
                format!("{name}: flag bits not allowed for this AVP"),
            ));
        }
        Ok(Some(id))
    }

    /// The data against its type; a grouped AVP's members recursively.
    fn value<'a>(&mut self, avp: &Avp<'a>, id: AvpId, depth: usize) -> Result<(), Violation<'a>> {
        let data = avp.data();
        let fault: Option<(u32, &str)> = match self.dict.meta(id).check {
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
                    let dict = self.dict;
                    self.walk(avp.grouped(), dict.def(id).group.as_ref(), depth + 1)?;
                    None
                }
            }
        };
        let Some((code, why)) = fault else {
            return Ok(());
        };
        let def = self.dict.def(id);
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
        Err(v(code, failed, format!("{}: {why}", def.name)))
    }

    /// An M-bit enumeration must carry a listed value (unless lax).
    fn enumeration<'a>(&mut self, avp: &Avp<'a>, id: AvpId) -> Result<(), Violation<'a>> {
        if !self.dict.meta(id).closed_enum || !avp.is_mandatory() {
            return Ok(());
        }
        let def = self.dict.def(id);
        // The data length was checked by `value`.
        let val = avp.enumerated().unwrap_or_default();
        if def.enum_name(val).is_some() {
            return Ok(());
        }
        let essential = ESSENTIAL_ENUMS.contains(&(avp.code, avp.vendor));
        if !self.opts.strict_m_bit && !essential {
            self.tolerate(avp, Tolerance::UnknownEnum(val));
            return Ok(());
        }
        Err(v(
            5004,
            FailedAvp::Raw(avp.raw()),
            format!("{}: unknown value {val}", def.name),
        ))
    }

    /// Counts the AVP against its rule: too many is known the moment it happens.
    fn occurrence<'a>(
        &self,
        rules: &RuleSet,
        counts: &mut [u16],
        id: AvpId,
        avp: &Avp<'a>,
    ) -> Result<(), Violation<'a>> {
        let Some(slot) = rules.slot(id) else {
            return Ok(());
        };
        counts[slot] = counts[slot].saturating_add(1);
        let rule = &rules.rules[slot];
        if counts[slot] as u32 <= rule.max {
            return Ok(());
        }
        Err(v(
            if rule.max == 0 { 5008 } else { 5009 },
            FailedAvp::Raw(avp.raw()),
            format!(
                "AVP {} occurs more than {} times",
                self.dict.def(id).name,
                rule.max
            ),
        ))
    }

    /// Only rules with a minimum can be unmet at the end: checking just those
    /// keeps large optional grammars (PS-Information, MSCC) cheap.
    fn required<'a>(&self, rules: &RuleSet, counts: &[u16]) -> Result<(), Violation<'a>> {
        for (slot, rule) in rules.required() {
            if (counts[slot] as u32) < rule.min {
                let def = self.dict.def(rule.avp);
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
        Ok(())
    }

    fn tolerate(&mut self, avp: &Avp<'_>, tolerance: Tolerance) {
        (self.tolerated)(Tolerated {
            code: avp.code,
            vendor: avp.vendor,
            tolerance,
        });
    }
}

#[cfg(test)]
mod tests;
