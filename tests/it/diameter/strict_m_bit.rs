//! `diameter.strict_m_bit` over a real socket against `gyro serve`: a CCR-I
//! with an unknown vendor AVP carrying the M bit, and one with a
//! Reporting-Reason value newer than the dictionary. Strict (the default),
//! they are refused with 5001 / 5004 naming the AVP and nothing is charged;
//! lax, they are granted as usual and counted. tshark checks every message.

use crate::support::*;
use gyro::diameter::builder::AvpDef;
use gyro::diameter::dictionary::VENDOR_3GPP;
use gyro::diameter::{Message, MessageBuilder};

/// A vendor no dictionary knows.
const UNKNOWN_VENDOR: u32 = 99_999;
/// Reporting-Reason (TS 32.299): the dictionary lists 0 to 9.
const REPORTING_REASON: u32 = 872;
const NEWER_REPORTING_REASON: i32 = 10;
const REQUESTED: u64 = 1000;

fn unknown_vendor_avp(b: &mut MessageBuilder<'_>) {
    b.u32(AvpDef::vendor(1, UNKNOWN_VENDOR, true), 42);
}

fn newer_reporting_reason(b: &mut MessageBuilder<'_>) {
    b.i32(
        AvpDef::vendor(REPORTING_REASON, VENDOR_3GPP, true),
        NEWER_REPORTING_REASON,
    );
}

/// CCR-I number `n` of the test, for the seed's first subscriber.
fn ccr_i(session: &str, n: u32) -> GyCcr<'_> {
    GyCcr {
        session,
        e2e: n,
        requested: Some(REQUESTED),
        ..GyCcr::BASE
    }
}

/// The CCR-I with the unknown vendor AVP at top level.
fn with_unknown_avp(session: &str, n: u32) -> Vec<u8> {
    gy_ccr_with(&ccr_i(session, n), unknown_vendor_avp, |_| {})
}

/// The CCR-I with the newer Reporting-Reason inside its MSCC.
fn with_newer_enum(session: &str, n: u32) -> Vec<u8> {
    gy_ccr_with(&ccr_i(session, n), |_| {}, newer_reporting_reason)
}

fn ask(p: &mut RawPeer, bytes: &[u8]) -> Vec<u8> {
    p.send(bytes);
    p.recv().expect("an answer")
}

/// The one AVP inside the answer's Failed-AVP, as octets.
fn failed_avp(answer: &[u8]) -> Vec<u8> {
    let m = Message::new(answer).unwrap();
    let failed = m.find(279, 0).expect("a Failed-AVP");
    let inner = failed.grouped().next().expect("an AVP in Failed-AVP");
    inner.unwrap().raw().to_vec()
}

fn tolerated_count(g: &Gyro, kind: &str) -> u64 {
    let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    let series = format!("gyro_diameter_tolerated_avps_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Stops the capture and requires every message to dissect clean. tshark's
/// dictionary knows vendor 99999 no better than gyro's: its "Undecoded" note
/// on that AVP is expected once per copy on the wire (the request, and a
/// Failed-AVP that quotes it); any other finding fails.
fn assert_dissects_clean(cap: Option<Capture>, peers: Option<&std::path::Path>, copies: usize) {
    let (Some(mut c), Some(peers)) = (cap, peers) else {
        return;
    };
    let (_, text) = c.dissect(peers);
    assert!(text.contains("Credit-Control Answer"), "{text}");
    for clean in [
        "malformed frames: 0",
        "requests without answer: 0",
        "answers without request: 0",
        "frames with a repeated Session-Id: 0",
    ] {
        assert!(text.contains(clean), "tshark: not {clean:?}:\n{text}");
    }
    // Each note is "COUNT GROUP PROTOCOL SUMMARY", in columns.
    let notes: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("diameter expert warnings/errors:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let expected = [
        format!("{copies} Undecoded Diameter Unknown AVP 1 (vendor=Unknown)"),
        format!("{copies} Undecoded Diameter Unknown Vendor"),
    ];
    assert!(
        notes.len() == expected.len()
            && notes
                .iter()
                .all(|n| expected.iter().any(|e| n.starts_with(e.as_str()))),
        "tshark found problems other than {expected:?}:\n{text}"
    );
}

/// The log without its colour codes.
fn plain_log(g: &Gyro) -> String {
    let mut out = String::new();
    let mut rest = g.log_text();
    while let Some(i) = rest.find('\u{1b}') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('m').map_or(tail.len(), |e| e + 1);
        rest = tail[end..].to_string();
    }
    out + &rest
}

#[test]
fn strict_by_default_refuses_unknown_m_bit_avps_and_enum_values() {
    let g = Gyro::start("strict-m-bit-on", "");
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");

    let req = with_unknown_avp("strict-avp", 1);
    let a = ask(&mut p, &req);
    let m = Message::new(&a).unwrap();
    assert_eq!((m.result_code(), m.header.is_error()), (Some(5001), false));
    let sent = Message::new(&req).unwrap();
    let avp = sent.find(1, UNKNOWN_VENDOR).unwrap();
    assert_eq!(failed_avp(&a), avp.raw(), "Failed-AVP is the AVP as sent");
    assert_eq!(m.find(416, 0).and_then(|x| x.enumerated().ok()), Some(1));

    let req = with_newer_enum("strict-enum", 2);
    let a = ask(&mut p, &req);
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(5004));
    let sent = Message::new(&req).unwrap();
    let rr = sent.find(456, 0).unwrap();
    let rr = rr.member(REPORTING_REASON, VENDOR_3GPP).unwrap();
    assert_eq!(
        failed_avp(&a),
        rr.raw(),
        "Failed-AVP is the Reporting-Reason"
    );

    assert_eq!(data_balance(&g, "262019000000001").1, 0, "nothing charged");
    assert_eq!(tolerated_count(&g, "unknown_m_bit"), 0);
    assert_dissects_clean(cap, peers.as_deref(), 2);
}

#[test]
fn lax_grants_and_counts_what_it_tolerated() {
    let g = Gyro::start("strict-m-bit-off", "strict_m_bit = false");
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");

    let a = ask(&mut p, &with_unknown_avp("lax-avp", 1));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert!(m.find(279, 0).is_none(), "no Failed-AVP");
    assert_eq!(granted_octets(&a), Some(REQUESTED));

    let a = ask(&mut p, &with_newer_enum("lax-enum", 2));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    assert_eq!(granted_octets(&a), Some(REQUESTED));
    assert_eq!(
        data_balance(&g, "262019000000001").1,
        2 * REQUESTED,
        "both granted on the bundle"
    );

    // A CC-Request-Type nobody defined cannot be rated, lax or not.
    let unknown_type = GyCcr {
        kind: 9,
        ..ccr_i("lax-type", 3)
    };
    let a = ask(&mut p, &gy_ccr(&unknown_type));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(5004));
    assert_eq!(data_balance(&g, "262019000000001").1, 2 * REQUESTED);

    assert_eq!(tolerated_count(&g, "unknown_m_bit"), 1);
    assert_eq!(tolerated_count(&g, "unknown_enum"), 1);
    let log = plain_log(&g);
    assert!(
        log.lines().any(|l| l.contains("AVP tolerated")
            && l.contains("kind=unknown_m_bit")
            && l.contains("code=1")
            && l.contains("vendor=99999")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("AVP tolerated")
            && l.contains("kind=unknown_enum")
            && l.contains("code=872")
            && l.contains("value=Some(10)")),
        "{log}"
    );
    assert_dissects_clean(cap, peers.as_deref(), 1);
}
