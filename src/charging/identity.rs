//! Who a request charges and where the subscriber is: the IMSI (a PGW's
//! Subscription-Id or User-Name), or the number an IMS or SMS node gives
//! (E.164 MSISDN, `sip:+49…@…`, `tel:+49…`, `<MSISDN>@msisdn`); and the
//! visited network from the location AVPs.

use super::ccr::Ccr;
use crate::model::Plmn;
use crate::model::UnixTime;
use crate::resolver::serving_network::{decode_uli, plmn_from_visited_network};
use crate::resolver::{Index, Miss, Subscriber};

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

/// The E.164 digits of a number as IMS writes it: `tel:+49-170…`,
/// `sip:+49170…@ims.example;user=phone`, `+49170…` or plain digits. None
/// when the user part is not a number (`sip:alice@example.org`).
pub fn e164(addr: &str) -> Option<String> {
    let s = addr
        .strip_prefix("tel:")
        .or_else(|| addr.strip_prefix("sip:"))
        .or_else(|| addr.strip_prefix("sips:"))
        .unwrap_or(addr);
    let user = s.split(['@', ';']).next().unwrap_or("");
    let user = user.strip_prefix('+').unwrap_or(user);
    let ok = !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
        && user.bytes().any(|b| b.is_ascii_digit());
    ok.then(|| user.chars().filter(char::is_ascii_digit).collect())
}

/// Why no subscriber was found, as the Error-Message says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved(pub String);

/// The subscriber a request charges. An IMSI names the profile (and the
/// sponsor whose IMSI is in use); a number names only the account.
pub fn subscriber(index: &Index, ccr: &Ccr<'_>, now: UnixTime) -> Result<Subscriber, Unresolved> {
    let why = |what: &str, id: &str, m: Miss| Unresolved(format!("{what} {id}: {m}"));
    if let Some(imsi) = ccr.imsi {
        return index
            .resolve_imsi(imsi, Some(ccr.origin_host), now)
            .map_err(|m| why("IMSI", imsi, m));
    }
    if let Some(m) = ccr.msisdn {
        let digits = e164(m).ok_or_else(|| why("MSISDN", m, Miss::Malformed))?;
        return index
            .resolve_msisdn(&digits, now)
            .map_err(|e| why("MSISDN", m, e));
    }
    if let Some(uri) = ccr.sip_uri {
        let digits = e164(uri).ok_or_else(|| {
            Unresolved(format!(
                "SIP URI {uri}: gyro finds accounts by number (sip:+<E.164>@… or tel:)"
            ))
        })?;
        return index
            .resolve_msisdn(&digits, now)
            .map_err(|e| why("SIP URI", uri, e));
    }
    Err(Unresolved("no Subscription-Id or User-Name".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_ims_writes_them() {
        for (a, want) in [
            ("tel:+49-170-0000001", Some("491700000001")),
            (
                "sip:+491700000001@ims.mnc001.mcc262.3gppnetwork.org;user=phone",
                Some("491700000001"),
            ),
            ("sips:491700000001@ims.example", Some("491700000001")),
            ("+491700000001", Some("491700000001")),
            ("491700000001", Some("491700000001")),
            ("sip:alice@example.org", None),
            ("tel:", None),
            ("sip:+@x", None),
        ] {
            assert_eq!(e164(a).as_deref(), want, "{a}");
        }
    }
}
