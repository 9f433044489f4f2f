use super::*;
use crate::diameter::builder::AvpDef;
use crate::diameter::codes::{self, avp as a};
use crate::diameter::header::{application, command, flags};
use crate::diameter::MessageBuilder;
use crate::inventory::proxy_journal::Refusal;

fn request(session: &str, number: u32, e2e: u32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(
        &mut buf,
        command::CREDIT_CONTROL,
        application::CREDIT_CONTROL,
        true,
        77,
        e2e,
    );
    b.utf8(codes::SESSION_ID, session)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(AvpDef::base(a::CC_REQUEST_NUMBER), number)
        .utf8(codes::USER_NAME, "262019000000001");
    b.finish();
    buf.to_vec()
}

fn entry(id: u64, session: &str, number: u32) -> JournalEntry {
    JournalEntry {
        id,
        at: 1_000,
        session_id: session.into(),
        request_number: number,
        end_to_end: 40 + number,
        account: 1,
        request: request(session, number, 40 + number),
        identity: (0, "491700000001".into(), "491700000001@msisdn".into()),
        visited: Some("21377".into()),
        answer: vec![1, 2, 3],
        parked: None,
        attempts: 0,
    }
}

fn answer(code: u32, mscc: &[Option<u32>]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let h = crate::diameter::header::Header {
        version: 1,
        length: 0,
        flags: flags::PROXIABLE,
        command: command::CREDIT_CONTROL,
        application: application::CREDIT_CONTROL,
        hop_by_hop: 1,
        end_to_end: 1,
    };
    let mut b = MessageBuilder::new(&mut buf, h);
    b.utf8(codes::SESSION_ID, "s").u32(codes::RESULT_CODE, code);
    for m in mscc {
        b.group(AvpDef::base(a::MULTIPLE_SERVICES_CREDIT_CONTROL), |b| {
            b.u32(AvpDef::base(a::RATING_GROUP), 10);
            if let Some(c) = m {
                b.u32(codes::RESULT_CODE, *c);
            }
        });
    }
    b.finish();
    buf.to_vec()
}

#[test]
fn a_presented_entry_is_the_original_request_with_t() {
    let e = entry(1, "pgw;9", 3);
    let mut buf = BytesMut::new();
    replay_request(&mut buf, &e, "gyro-proxy.test.local", "ocs.test.local").unwrap();
    let m = Message::new(&buf).unwrap();
    assert_eq!(m.session_id(), Some("pgw;9"));
    assert_eq!(m.header.end_to_end, 43, "the gateway's End-to-End id");
    assert!(m.header.is_retransmit());
    assert_eq!(
        m.find(a::CC_REQUEST_NUMBER, 0).and_then(|x| x.u32().ok()),
        Some(3)
    );
    assert_eq!(
        m.find(a::USER_NAME, 0).and_then(|x| x.utf8().ok()),
        Some("491700000001@msisdn"),
        "the canonical identity it had then"
    );
    assert_eq!(
        m.find(a::DESTINATION_HOST, 0).and_then(|x| x.utf8().ok()),
        Some("ocs.test.local")
    );
    let mut again = BytesMut::new();
    replay_request(&mut again, &e, "gyro-proxy.test.local", "ocs.test.local").unwrap();
    assert_eq!(buf, again, "the same request every time");
}

#[test]
fn an_unreadable_entry_is_an_error_not_a_panic() {
    let mut e = entry(5, "s", 0);
    e.request = vec![1, 0, 0];
    let mut buf = BytesMut::new();
    assert_eq!(
        replay_request(&mut buf, &e, "g", "o"),
        Err(JournalError::Unreadable(5))
    );
}

#[test]
fn only_2001_everywhere_acknowledges() {
    assert_eq!(verdict(&answer(2001, &[None])), Verdict::Acknowledged);
    assert_eq!(
        verdict(&answer(2001, &[Some(2001), None])),
        Verdict::Acknowledged
    );
    let refused = |v: Verdict| matches!(v, Verdict::Refused { .. });
    assert!(refused(verdict(&answer(2001, &[Some(2001), Some(4012)]))));
    assert!(refused(verdict(&answer(2001, &[Some(5031)]))));
    assert!(refused(verdict(&answer(4010, &[]))));
    assert!(refused(verdict(&answer(5030, &[]))));
    assert_eq!(verdict(&answer(3004, &[])), Verdict::Retry);
    assert_eq!(verdict(&answer(3002, &[])), Verdict::Retry);
    assert_eq!(verdict(&[0, 1]), Verdict::Retry);
}

#[test]
fn a_parked_entry_holds_back_its_session_only() {
    let mut parked = entry(1, "a", 0);
    parked.parked = Some(Refusal {
        at: 1,
        upstream: "ocs".into(),
        result_code: 4010,
        mscc_result_codes: vec![],
        error_message: None,
        answer: vec![],
    });
    let entries = vec![parked, entry(2, "b", 0), entry(3, "a", 1), entry(4, "b", 1)];
    let ids: Vec<u64> = sendable(&entries).iter().map(|e| e.id).collect();
    assert_eq!(ids, [2, 4]);
}

#[test]
fn retransmissions_are_answered_and_journalled_once() {
    let j = Journal::default();
    assert!(!j.holds("s"));
    assert!(j.claim("s", 0, 9, 100));
    assert!(j.holds("s"));
    assert_eq!(j.answer_for("s", 0, 9), None, "not journalled yet");
    j.journalled("s", 0, Bytes::from_static(b"cca"));
    assert_eq!(j.answer_for("s", 0, 9).as_deref(), Some(&b"cca"[..]));
    assert_eq!(j.answer_for("s", 0, 10), None, "another End-to-End id");
    assert!(!j.claim("s", 0, 9, 101), "journalled already");
    j.unclaim("s", 0, false);
    j.acknowledged("s", 0, 200);
    assert!(!j.holds("s"));
    j.sweep(200 + KEPT_FOR - 1);
    assert!(j.answer_for("s", 0, 9).is_some(), "kept a day after");
    j.sweep(200 + KEPT_FOR);
    assert!(j.answer_for("s", 0, 9).is_none());
}
