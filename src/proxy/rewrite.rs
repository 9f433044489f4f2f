//! What a forwarded request and its relayed answer look like (RFC 6733
//! §6.1.8, §6.2): every AVP of the gateway's CCR copied byte for byte,
//! except the identities, which become the profile's one canonical charging
//! identity; the visited network added when the gateway left it out; our
//! Route-Record appended; Destination-Host set to the chosen upstream. The
//! answer goes back as the upstream sent it, with the gateway's identities.

use bytes::BytesMut;

use crate::diameter::builder::AvpDef;
use crate::diameter::codes::{self, avp, value};
use crate::diameter::dictionary::VENDOR_3GPP;
use crate::diameter::header::{flags, Header};
use crate::diameter::{Avp, Message, MessageBuilder};

const SUBSCRIPTION_ID: AvpDef = AvpDef::base(avp::SUBSCRIPTION_ID);
const SUBSCRIPTION_ID_TYPE: AvpDef = AvpDef::base(avp::SUBSCRIPTION_ID_TYPE);
const SUBSCRIPTION_ID_DATA: AvpDef = AvpDef::base(avp::SUBSCRIPTION_ID_DATA);
const SERVICE_INFORMATION: AvpDef = AvpDef::vendor(avp::SERVICE_INFORMATION, VENDOR_3GPP, true);
const PS_INFORMATION: AvpDef = AvpDef::vendor(avp::PS_INFORMATION, VENDOR_3GPP, true);
const SGSN_MCC_MNC: AvpDef = AvpDef::vendor(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP, false);

/// The identity an upstream charges: one per profile, whichever IMSI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// Subscription-Id-Type.
    pub kind: i32,
    pub data: String,
    /// User-Name: `<data>@msisdn`, `@imsi` or `@iccid`.
    pub user_name: String,
}

impl Canonical {
    pub fn msisdn(m: &str) -> Self {
        Self::new(value::END_USER_E164, m, "msisdn")
    }
    pub fn imsi(i: &str) -> Self {
        Self::new(value::END_USER_IMSI, i, "imsi")
    }
    pub fn iccid(i: &str) -> Self {
        let nai = format!("{i}@iccid");
        Canonical {
            kind: value::END_USER_NAI,
            data: nai.clone(),
            user_name: nai,
        }
    }
    fn new(kind: i32, data: &str, suffix: &str) -> Self {
        Canonical {
            kind,
            data: data.to_string(),
            user_name: format!("{data}@{suffix}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// Our own Route-Record is already on the request (RFC 6733 §6.1.7).
    #[error("the request already passed through this node")]
    Loop,
}

/// What a forwarded request says about the subscriber.
#[derive(Clone, Copy)]
pub enum Names<'a> {
    /// Up to the OCS: the one canonical identity.
    Canonical(&'a Canonical),
    /// Down to the gateway: its own Subscription-Id/User-Name AVPs, as it
    /// sent them.
    Original(&'a [u8]),
    /// As received (a request that names no subscriber, such as an STR).
    Unchanged,
}

/// How one request is forwarded.
pub struct Forward<'a> {
    pub our_host: &'a str,
    /// Destination-Host to set (None: leave it as it is).
    pub destination_host: Option<&'a str>,
    pub names: Names<'a>,
    /// 3GPP-SGSN-MCC-MNC to add when the request has none.
    pub visited: Option<&'a str>,
    /// A failover resend: the T flag (RFC 6733 §5.5.4).
    pub retransmit: bool,
}

fn is_identity(a: &Avp<'_>) -> bool {
    a.vendor == 0 && matches!(a.code, avp::SUBSCRIPTION_ID | avp::USER_NAME)
}

fn write_identity(b: &mut MessageBuilder<'_>, names: Names<'_>) {
    match names {
        Names::Canonical(c) => {
            b.group(SUBSCRIPTION_ID, |b| {
                b.i32(SUBSCRIPTION_ID_TYPE, c.kind)
                    .utf8(SUBSCRIPTION_ID_DATA, &c.data);
            });
            b.utf8(codes::USER_NAME, &c.user_name);
        }
        Names::Original(raw) => {
            b.raw_avp(raw);
        }
        Names::Unchanged => {}
    }
}

/// The request's Subscription-Id and User-Name AVPs, byte for byte, to put
/// back on what goes to the gateway later.
pub fn identities(m: &Message<'_>) -> Vec<u8> {
    m.avps()
        .map_while(Result::ok)
        .filter(is_identity)
        .flat_map(|a| a.raw().to_vec())
        .collect()
}

/// Whether the request names the visited network the way rating upstream
/// reads it (3GPP-SGSN-MCC-MNC, in PS-Information or at top level).
pub fn has_sgsn_mcc_mnc(m: &Message<'_>) -> bool {
    m.find(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP).is_some()
        || m.find(avp::SERVICE_INFORMATION, VENDOR_3GPP)
            .and_then(|si| si.member(avp::PS_INFORMATION, VENDOR_3GPP))
            .and_then(|ps| ps.member(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP))
            .is_some()
}

/// Service-Information with 3GPP-SGSN-MCC-MNC added to its PS-Information.
fn service_information(b: &mut MessageBuilder<'_>, si: Option<&Avp<'_>>, visited: &str) {
    b.group(SERVICE_INFORMATION, |b| {
        let mut had_ps = false;
        for m in si
            .into_iter()
            .flat_map(|s| s.grouped().map_while(Result::ok))
        {
            if m.code == avp::PS_INFORMATION && m.vendor == VENDOR_3GPP {
                had_ps = true;
                b.group(PS_INFORMATION, |b| {
                    for x in m.grouped().map_while(Result::ok) {
                        b.raw_avp(x.raw());
                    }
                    b.utf8(SGSN_MCC_MNC, visited);
                });
            } else {
                b.raw_avp(m.raw());
            }
        }
        if !had_ps {
            b.group(PS_INFORMATION, |b| {
                b.utf8(SGSN_MCC_MNC, visited);
            });
        }
    });
}

/// Encodes the request to send upstream. The Hop-by-Hop id is the
/// gateway's; the transport gives it a fresh one per upstream connection.
pub fn forward_request(
    buf: &mut BytesMut,
    req: &Message<'_>,
    f: &Forward<'_>,
) -> Result<usize, RewriteError> {
    let route = req.find_all(avp::ROUTE_RECORD, 0);
    if route
        .filter_map(|r| r.utf8().ok())
        .any(|h| h.eq_ignore_ascii_case(f.our_host))
    {
        return Err(RewriteError::Loop);
    }
    let mut h: Header = req.header;
    if f.retransmit {
        h.flags |= flags::RETRANSMIT;
    }
    let fill = f.visited.filter(|_| !has_sgsn_mcc_mnc(req));
    let mut b = MessageBuilder::new(buf, h);
    let mut identity_written = false;
    let mut si_written = false;
    let replace = !matches!(f.names, Names::Unchanged);
    for a in req.avps().map_while(Result::ok) {
        if replace && is_identity(&a) {
            if !identity_written {
                write_identity(&mut b, f.names);
                identity_written = true;
            }
            continue;
        }
        match (a.code, a.vendor, f.destination_host) {
            (avp::DESTINATION_HOST, 0, Some(_)) => continue,
            (avp::DESTINATION_REALM, 0, Some(host)) => {
                b.raw_avp(a.raw());
                b.utf8(codes::DESTINATION_HOST, host);
            }
            (avp::SERVICE_INFORMATION, VENDOR_3GPP, _) if fill.is_some() => {
                service_information(&mut b, Some(&a), fill.unwrap_or_default());
                si_written = true;
            }
            _ => {
                b.raw_avp(a.raw());
            }
        }
    }
    if replace && !identity_written {
        write_identity(&mut b, f.names);
    }
    if let (Some(v), false) = (fill, si_written) {
        service_information(&mut b, None, v);
    }
    b.utf8(codes::ROUTE_RECORD, f.our_host);
    Ok(b.finish())
}

/// Encodes the answer to send the gateway: the upstream's, byte for byte,
/// except identities it echoed, which go back as the gateway sent them.
/// The header (with the gateway's Hop-by-Hop id) is `gateway_header`'s.
pub fn relay_answer(buf: &mut BytesMut, answer: &Message<'_>, request: &Message<'_>) -> usize {
    let mut h = answer.header;
    h.hop_by_hop = request.header.hop_by_hop;
    h.end_to_end = request.header.end_to_end;
    let mut b = MessageBuilder::new(buf, h);
    let mut restored = false;
    for a in answer.avps().map_while(Result::ok) {
        if is_identity(&a) {
            if !restored {
                for orig in request.avps().map_while(Result::ok).filter(is_identity) {
                    b.raw_avp(orig.raw());
                }
                restored = true;
            }
            continue;
        }
        b.raw_avp(a.raw());
    }
    b.finish()
}

#[cfg(test)]
mod tests;
