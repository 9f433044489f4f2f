//! Bytes as a received message: validated against the built-in dictionaries,
//! and when validation fails, the error answer built for it must itself parse.
#![no_main]

use std::sync::OnceLock;

use bytes::BytesMut;
use gyro::diameter::answer::{error_answer, Origin};
use gyro::diameter::header::HEADER_LEN;
use gyro::diameter::validate::validate;
use gyro::diameter::{Dictionary, Message};
use libfuzzer_sys::fuzz_target;

static DICT: OnceLock<Dictionary> = OnceLock::new();
static ORIGIN: OnceLock<Origin> = OnceLock::new();

fn check(dict: &Dictionary, frame: &[u8]) {
    let Some(msg) = Message::new(frame) else {
        return;
    };
    let Err(violation) = validate(dict, &msg) else {
        return;
    };
    let origin = ORIGIN.get_or_init(|| Origin {
        host: "gyro.fuzz.example".into(),
        realm: "fuzz.example".into(),
        state_id: 1,
    });
    let mut buf = BytesMut::new();
    let len = error_answer(&mut buf, dict, origin, &msg, &violation);
    assert_eq!(len, buf.len());
    let answer = Message::new(&buf).expect("the error answer parses");
    assert!(!answer.header.is_request());
    assert_eq!(answer.header.is_error(), violation.is_protocol_error());
    assert_eq!(answer.result_code(), Some(violation.result_code));
    assert!(
        answer.avps().all(|a| a.is_ok()),
        "the error answer's AVPs frame"
    );
    let _ = validate(dict, &answer);
}

fuzz_target!(|data: &[u8]| {
    let dict = DICT.get_or_init(Dictionary::builtin);
    check(dict, data);
    // Random bytes rarely carry their own length: also try them with the
    // header's length patched to fit, so that the AVPs get validated.
    if data.len() >= HEADER_LEN && data.len() < 1 << 24 {
        let mut patched = data.to_vec();
        patched[1..4].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        if patched != data {
            check(dict, &patched);
        }
    }
});
