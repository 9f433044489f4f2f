//! The validator in both modes: strict (RFC 6733) and lax `strict_m_bit`.

use bytes::BytesMut;

use super::*;
use crate::diameter::builder::{AvpDef, MessageBuilder};
use crate::diameter::codes;
use crate::diameter::dictionary::VENDOR_3GPP;

const LAX: ValidateOptions = ValidateOptions {
    strict_m_bit: false,
};
/// A vendor no dictionary knows, and a code no base dictionary uses.
const UNKNOWN_VENDOR: u32 = 99_999;
const UNKNOWN_BASE_CODE: u32 = 3_999;
const MSCC: u32 = 456;
const REPORTING_REASON: AvpDef = AvpDef::vendor(872, VENDOR_3GPP, true);

fn dict() -> &'static Dictionary {
    static D: std::sync::OnceLock<Dictionary> = std::sync::OnceLock::new();
    D.get_or_init(Dictionary::builtin)
}

/// A CCR with every AVP its grammar requires, one MSCC, and what `top` and
/// `mscc` add at top level and inside the MSCC.
fn ccr(
    kind: i32,
    top: impl FnOnce(&mut MessageBuilder<'_>),
    mscc: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 1, 1);
    b.utf8(codes::SESSION_ID, "validate;1")
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(461), "32251@3gpp.org")
        .i32(AvpDef::base(416), kind)
        .u32(AvpDef::base(415), 0);
    top(&mut b);
    b.group(AvpDef::base(MSCC), |b| {
        b.u32(AvpDef::base(432), 10);
        mscc(b);
    });
    b.finish();
    buf.to_vec()
}

fn unknown_vendor_avp(b: &mut MessageBuilder<'_>) {
    b.u32(AvpDef::vendor(1, UNKNOWN_VENDOR, true), 7);
}

/// The verdict, and what was tolerated on the way.
fn check(bytes: &[u8], opts: ValidateOptions) -> (Result<(), Violation<'_>>, Vec<Tolerated>) {
    let m = Message::new(bytes).expect("a whole message");
    let mut seen = vec![];
    let r = validate_with(dict(), &m, opts, &mut |t| seen.push(t));
    (r, seen)
}

fn raw_top(bytes: &[u8], code: u32, vendor: u32) -> Vec<u8> {
    let m = Message::new(bytes).unwrap();
    m.find(code, vendor).unwrap().raw().to_vec()
}

fn raw_in_mscc(bytes: &[u8], code: u32, vendor: u32) -> Vec<u8> {
    let m = Message::new(bytes).unwrap();
    let mscc = m.find(MSCC, 0).unwrap();
    mscc.member(code, vendor).unwrap().raw().to_vec()
}

fn failed_raw(v: &Violation<'_>) -> Vec<u8> {
    match v.failed_avp {
        FailedAvp::Raw(r) => r.to_vec(),
        ref other => panic!("Failed-AVP is {other:?}, not the AVP as received"),
    }
}

#[test]
fn the_default_is_strict() {
    assert!(ValidateOptions::default().strict_m_bit);
    let good = ccr(1, |_| {}, |_| {});
    assert_eq!(check(&good, LAX), (Ok(()), vec![]));
    let m = ccr(1, unknown_vendor_avp, |_| {});
    let msg = Message::new(&m).unwrap();
    assert_eq!(validate(dict(), &msg).unwrap_err().result_code, 5001);
}

#[test]
fn unknown_m_bit_vendor_avp_at_top_level() {
    let m = ccr(1, unknown_vendor_avp, |_| {});
    let (r, seen) = check(&m, ValidateOptions::default());
    let v = r.unwrap_err();
    assert_eq!(v.result_code, 5001);
    assert_eq!(failed_raw(&v), raw_top(&m, 1, UNKNOWN_VENDOR));
    assert!(seen.is_empty(), "strict tolerates nothing");

    let (r, seen) = check(&m, LAX);
    assert_eq!(r, Ok(()));
    let want = Tolerated {
        code: 1,
        vendor: UNKNOWN_VENDOR,
        tolerance: Tolerance::UnknownMBit,
    };
    assert_eq!(seen, vec![want]);
    assert_eq!(want.tolerance.label(), "unknown_m_bit");
}

#[test]
fn unknown_m_bit_avps_inside_a_grouped_avp() {
    let m = ccr(1, |_| {}, unknown_vendor_avp);
    let v = check(&m, ValidateOptions::default()).0.unwrap_err();
    assert_eq!(v.result_code, 5001);
    assert_eq!(failed_raw(&v), raw_in_mscc(&m, 1, UNKNOWN_VENDOR));
    let (r, seen) = check(&m, LAX);
    assert_eq!((r, seen.len()), (Ok(()), 1));

    // An unknown base AVP is just as unknown as a vendor's.
    assert!(dict().avp(UNKNOWN_BASE_CODE, 0).is_none());
    let m = ccr(
        1,
        |_| {},
        |b| {
            b.octets(AvpDef::base(UNKNOWN_BASE_CODE), b"new");
        },
    );
    let v = check(&m, ValidateOptions::default()).0.unwrap_err();
    assert_eq!(failed_raw(&v), raw_in_mscc(&m, UNKNOWN_BASE_CODE, 0));
    let (r, seen) = check(&m, LAX);
    assert_eq!(r, Ok(()));
    assert_eq!(
        (seen[0].code, seen[0].vendor, seen[0].tolerance),
        (UNKNOWN_BASE_CODE, 0, Tolerance::UnknownMBit)
    );
}

#[test]
fn unknown_value_of_a_descriptive_enumeration() {
    // Reporting-Reason 99: newer than the dictionary, and only informative.
    let m = ccr(
        1,
        |_| {},
        |b| {
            b.i32(REPORTING_REASON, 99);
        },
    );
    let v = check(&m, ValidateOptions::default()).0.unwrap_err();
    assert_eq!(v.result_code, 5004);
    assert_eq!(failed_raw(&v), raw_in_mscc(&m, 872, VENDOR_3GPP));
    let (r, seen) = check(&m, LAX);
    assert_eq!(r, Ok(()));
    assert_eq!(
        seen,
        vec![Tolerated {
            code: 872,
            vendor: VENDOR_3GPP,
            tolerance: Tolerance::UnknownEnum(99),
        }]
    );
    assert_eq!(seen[0].tolerance.label(), "unknown_enum");
}

#[test]
fn unknown_value_of_an_essential_enumeration_fails_in_both_modes() {
    // CC-Request-Type 9 names no session step: nothing can be rated.
    let m = ccr(9, |_| {}, |_| {});
    for opts in [ValidateOptions::default(), LAX] {
        let (r, seen) = check(&m, opts);
        let v = r.unwrap_err();
        assert_eq!(v.result_code, 5004, "{opts:?}");
        assert_eq!(failed_raw(&v), raw_top(&m, 416, 0));
        assert!(seen.is_empty());
    }
    // Requested-Action 7 names no EVENT operation.
    let m = ccr(
        4,
        |b| {
            b.i32(AvpDef::base(436), 7);
        },
        |_| {},
    );
    let v = check(&m, LAX).0.unwrap_err();
    assert_eq!((v.result_code, failed_raw(&v)), (5004, raw_top(&m, 436, 0)));
}

/// Appends raw octets as the message's last AVP and fixes its length.
fn append_raw(mut msg: Vec<u8>, avp: &[u8]) -> Vec<u8> {
    msg.extend_from_slice(avp);
    let len = (msg.len() as u32).to_be_bytes();
    msg[1..4].copy_from_slice(&len[1..]);
    msg
}

#[test]
fn lax_m_bit_is_not_lax_framing() {
    // An unknown M-bit AVP whose length runs past the message: 5014.
    let mut broken = vec![0, 0, 0, 1, 0xc0, 0, 0, 100];
    broken.extend_from_slice(&UNKNOWN_VENDOR.to_be_bytes());
    broken.extend_from_slice(&[0, 0, 0, 7]);
    let m = append_raw(ccr(1, |_| {}, |_| {}), &broken);
    assert_eq!(check(&m, LAX).0.unwrap_err().result_code, 5014);

    // Reserved flag bits on an unknown AVP: 3009.
    let mut reserved = broken.clone();
    reserved[4] |= 0x01;
    reserved[7] = 16;
    let m = append_raw(ccr(1, |_| {}, |_| {}), &reserved);
    assert_eq!(check(&m, LAX).0.unwrap_err().result_code, 3009);

    // A known Unsigned32 with three octets of data: 5014.
    let m = ccr(
        1,
        |_| {},
        |b| {
            b.octets(AvpDef::base(432), &[0, 0, 1]);
        },
    );
    assert_eq!(check(&m, LAX).0.unwrap_err().result_code, 5014);

    // A required AVP missing still is 5005, even past a tolerated AVP
    // (which the caller hears of, and need not count for a refusal).
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 1, 1);
    b.utf8(codes::SESSION_ID, "validate;2")
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(461), "32251@3gpp.org")
        .i32(AvpDef::base(416), 1);
    unknown_vendor_avp(&mut b);
    b.finish();
    let (r, seen) = check(&buf, LAX);
    assert_eq!((r.unwrap_err().result_code, seen.len()), (5005, 1));
}
