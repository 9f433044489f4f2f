//! Bytes as a location webhook body: the parser never panics, and
//! what it accepts holds the checks it promises (event id length, digits,
//! one subject), and parses again from its own fields to the same body.
#![no_main]

use gyro::diameter::dump::rfc3339;
use gyro::ota::intake::{parse, Subject, MAX_EVENT_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(b) = parse(data) else {
        return;
    };
    assert!(!b.event_id.is_empty() && b.event_id.len() <= MAX_EVENT_ID);
    assert_eq!(b.mcc.len(), 3);
    assert!((2..=3).contains(&b.mnc.len()));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    assert!(all_digits(&b.mcc) && all_digits(&b.mnc));
    let (key, id) = match &b.subject {
        Subject::Imsi(i) => ("imsi", i),
        Subject::Iccid(c) => ("iccid", c),
    };
    assert!(all_digits(id));
    // The same fields, written back as JSON with a UTC time, parse to the
    // same body.
    let at = rfc3339(b.observed_at);
    let mut again = serde_json::json!({
        "event_id": b.event_id, "mcc": b.mcc, "mnc": b.mnc, "observed_at": at,
    });
    again[key] = serde_json::Value::String(id.clone());
    assert_eq!(parse(again.to_string().as_bytes()), Ok(b));
});
