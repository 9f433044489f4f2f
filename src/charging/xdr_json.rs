//! The xDR line, written by hand: the commit thread writes one per rated
//! service, and serde's generic path (every key escaped, numbers through
//! `fmt`) was a tenth of its time. The output is the same JSON as
//! `serde_json::to_writer(Xdr)`; a test holds the two together.

use std::io::Write;

use super::xdr::Xdr;
use crate::model::Used;

/// A JSON string, escaped as RFC 8259 requires.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(out, "\\u{b:04x}");
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt_uint(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => uint(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_display(out: &mut Vec<u8>, v: Option<impl std::fmt::Display>) {
    match v {
        // Decimals go as strings (rust_decimal's serde-str): exact, no float.
        Some(v) => string(out, &v.to_string()),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `x` as one JSON object (no newline).
pub fn write(out: &mut Vec<u8>, x: &Xdr) {
    out.extend_from_slice(b"{\"seq\":");
    uint(out, x.seq);
    request(out, x);
    usage(out, x);
    if let Some(u) = &x.used_after {
        used_after(out, u);
    }
    if let Some(f) = &x.fup {
        out.extend_from_slice(b",\"fup\":");
        // Once per account and bundle: the generic path is fine here.
        let _ = serde_json::to_writer(&mut *out, f);
    }
    proxy(out, x);
    if let Some(a) = &x.answer {
        answer(out, a);
    }
    out.push(b'}');
}

/// The kept answer, base64 (no character of it needs escaping).
fn answer(out: &mut Vec<u8>, a: &[u8]) {
    use base64::Engine as _;
    out.extend_from_slice(b",\"answer\":\"");
    let at = out.len();
    let n = base64::encoded_len(a.len(), true).unwrap_or(0);
    out.resize(at + n, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(a, &mut out[at..])
        .unwrap_or(0);
    out.truncate(at + written);
    out.push(b'"');
}

/// What was charged for whom: the request, the subscriber, the network.
fn request(out: &mut Vec<u8>, x: &Xdr) {
    out.extend_from_slice(b",\"time\":");
    out.extend_from_slice(itoa::Buffer::new().format(x.time).as_bytes());
    out.extend_from_slice(b",\"session_id\":");
    string(out, &x.session_id);
    out.extend_from_slice(b",\"request_type\":");
    string(out, x.request_type);
    if let Some(a) = x.requested_action {
        out.extend_from_slice(b",\"requested_action\":");
        string(out, a);
    }
    out.extend_from_slice(b",\"request_number\":");
    uint(out, x.request_number.into());
    out.extend_from_slice(b",\"end_to_end\":");
    uint(out, x.end_to_end.into());
    out.extend_from_slice(b",\"account\":");
    uint(out, x.account);
    out.extend_from_slice(b",\"iccid\":");
    string(out, &x.iccid);
    out.extend_from_slice(b",\"imsi\":");
    string(out, &x.imsi);
    out.extend_from_slice(b",\"sponsor\":");
    string(out, &x.sponsor);
    out.extend_from_slice(b",\"rate_code\":");
    string(out, &x.rate_code);
    out.extend_from_slice(b",\"rating_group\":");
    opt_uint(out, x.rating_group.map(u64::from));
    out.extend_from_slice(b",\"service_identifier\":");
    opt_uint(out, x.service_identifier.map(u64::from));
}

/// The units used and what they consumed and cost.
fn usage(out: &mut Vec<u8>, x: &Xdr) {
    if let Some(r) = x.reporting_reason {
        out.extend_from_slice(b",\"reporting_reason\":");
        out.extend_from_slice(itoa::Buffer::new().format(r).as_bytes());
    }
    if let Some(t) = x.tariff_change_usage {
        out.extend_from_slice(b",\"tariff_change_usage\":");
        out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
    }
    for (key, n) in [
        (&b",\"octets_up\":"[..], x.octets_up),
        (b",\"octets_down\":", x.octets_down),
        (b",\"seconds\":", x.seconds),
        (b",\"allowance_consumed\":", x.allowance_consumed),
        (b",\"allowance_refunded\":", x.allowance_refunded),
    ] {
        out.extend_from_slice(key);
        uint(out, n);
    }
    out.extend_from_slice(b",\"allowance\":");
    string(out, x.allowance);
    out.extend_from_slice(b",\"cost\":");
    opt_display(out, x.cost);
    out.extend_from_slice(b",\"cost_currency\":");
    opt_display(out, x.cost_currency.as_deref());
    out.extend_from_slice(b",\"cost_reporting\":");
    opt_display(out, x.cost_reporting);
    out.extend_from_slice(b",\"reporting_currency\":");
    string(out, &x.reporting_currency);
}

/// The account's totals after this usage.
fn used_after(out: &mut Vec<u8>, u: &Used) {
    out.extend_from_slice(b",\"used_after\":{\"data_octets\":");
    uint(out, u.data_octets);
    out.extend_from_slice(b",\"voice_seconds\":");
    uint(out, u.voice_seconds);
    out.extend_from_slice(b",\"sms\":");
    uint(out, u.sms);
    out.extend_from_slice(if u.fup_crossed {
        b",\"fup_crossed\":true"
    } else {
        b",\"fup_crossed\":false"
    });
    out.extend_from_slice(b",\"period\":");
    uint(out, u.period);
    out.push(b'}');
}

/// Proxy mode: how the request went upstream and what the OCS answered.
fn proxy(out: &mut Vec<u8>, x: &Xdr) {
    if let Some(m) = x.mode {
        out.extend_from_slice(b",\"mode\":");
        string(out, m);
    }
    if let Some(u) = &x.upstream {
        out.extend_from_slice(b",\"upstream\":");
        string(out, u);
    }
    if let Some(r) = x.upstream_result {
        out.extend_from_slice(b",\"upstream_result\":");
        uint(out, r.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::usage::FupEvent;
    use crate::model::Used;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn xdr(session: String, cost: Option<Decimal>, fup: bool, rr: Option<i32>) -> Xdr {
        Xdr {
            seq: 7,
            time: -5,
            session_id: session,
            request_type: "UPDATE",
            requested_action: rr.map(|_| "REFUND_ACCOUNT"),
            request_number: u32::MAX,
            end_to_end: 77,
            account: u64::MAX,
            iccid: "894910262010000012345".into(),
            imsi: "213779000000001".into(),
            sponsor: "Partner \"X\" \\ Ltd\u{1}\u{7f}é".into(),
            rate_code: "E212-213-77".into(),
            rating_group: Some(10),
            service_identifier: None,
            reporting_reason: rr,
            tariff_change_usage: rr.map(|r| r + 1),
            octets_up: 1,
            octets_down: 2,
            seconds: 3,
            allowance_consumed: 4,
            allowance_refunded: 5,
            allowance: "data",
            cost,
            cost_currency: cost.map(|_| "EUR".into()),
            cost_reporting: cost,
            reporting_currency: "EUR".into(),
            used_after: rr.is_none().then_some(Used {
                data_octets: 9,
                voice_seconds: 8,
                sms: 6,
                fup_crossed: fup,
                period: 17,
            }),
            mode: rr.map(|_| "proxy"),
            upstream: rr.map(|_| "ocs1.\"x\"".into()),
            upstream_result: rr.map(|r| r as u32 + 2001),
            answer: rr.map(|r| bytes::Bytes::from(vec![r as u8; r as usize * 7])),
            fup: fup.then(|| FupEvent {
                account: 1,
                iccid: "x".into(),
                at: 2,
                used_octets: 3,
                threshold_octets: 4,
            }),
        }
    }

    proptest! {
        #[test]
        fn same_json_as_serde(session in ".{0,40}", cents in proptest::option::of(0i64..1_000_000), fup: bool, rr in proptest::option::of(0i32..9)) {
            let x = xdr(session, cents.map(|c| Decimal::new(c, 6)), fup, rr);
            let mut mine = vec![];
            write(&mut mine, &x);
            let parsed: serde_json::Value = serde_json::from_slice(&mine).expect("valid JSON");
            prop_assert_eq!(parsed, serde_json::to_value(&x).unwrap());
            prop_assert_eq!(mine, serde_json::to_vec(&x).unwrap());
        }
    }
}
