use super::*;
use crate::diameter::codes::avp as a;
use crate::diameter::Message;

fn record(seq: u64, mode: Option<&str>, octets: u64) -> Record {
    Record {
        seq,
        mode: mode.map(str::to_string),
        time: 1_764_547_200,
        session_id: "pgw;1".into(),
        account: 7,
        iccid: "894910262010000012345".into(),
        rate_code: "E212-213-77".into(),
        rating_group: Some(10),
        service_identifier: None,
        octets_up: 0,
        octets_down: 0,
        seconds: 0,
        allowance: "data".into(),
        allowance_consumed: octets,
    }
}

#[test]
fn pending_takes_local_records_past_the_cursor_up_to_the_watermark() {
    let lines = vec![
        record(1, Some(LOCAL), 10),
        record(2, None, 20),
        record(3, Some(LOCAL), 30),
        record(3, Some(LOCAL), 31),
        record(4, Some(LOCAL), 40),
    ];
    let p = pending(lines.clone(), (0, 0), 3);
    let pos: Vec<Position> = p.iter().map(|(p, _)| *p).collect();
    assert_eq!(pos, [(1, 0), (3, 0), (3, 1)], "seq 4 is not durable yet");
    let p = pending(lines, (3, 0), 9);
    let pos: Vec<Position> = p.iter().map(|(p, _)| *p).collect();
    assert_eq!(pos, [(3, 1), (4, 0)]);
}

#[test]
fn a_replay_is_the_same_request_every_time_with_t_on_resends() {
    let r = record(5, Some(LOCAL), 1234);
    let c = Canonical::msisdn("491700000001");
    let build = |retransmit| {
        let mut buf = BytesMut::new();
        let how = Replay {
            our_host: "gyro-proxy.test.local",
            our_realm: "test.local",
            upstream_host: "ocs.test.local",
            canonical: &c,
            retransmit,
        };
        replay_request(&mut buf, (5, 1), &r, &how);
        buf.to_vec()
    };
    let (first, again) = (build(false), build(true));
    let (m1, m2) = (Message::new(&first).unwrap(), Message::new(&again).unwrap());
    assert_eq!(m1.session_id(), Some("gyro-proxy.test.local;replay;5;1"));
    assert_eq!(m1.session_id(), m2.session_id());
    assert_eq!(m1.header.end_to_end, m2.header.end_to_end);
    assert!(!m1.header.is_retransmit() && m2.header.is_retransmit());
    assert_eq!(m1.find(a::CC_REQUEST_TYPE, 0).unwrap().enumerated(), Ok(4));
    assert_eq!(m1.find(a::REQUESTED_ACTION, 0).unwrap().enumerated(), Ok(0));
    let total = m1
        .find(a::MULTIPLE_SERVICES_CREDIT_CONTROL, 0)
        .and_then(|m| m.member(a::REQUESTED_SERVICE_UNIT, 0))
        .and_then(|u| u.member(a::CC_TOTAL_OCTETS, 0))
        .and_then(|t| t.u64().ok());
    assert_eq!(total, Some(1234));
    assert_ne!(end_to_end((5, 1)), end_to_end((5, 2)));
}
