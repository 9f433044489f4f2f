use super::*;
use crate::diameter::answer::Origin;

fn node(host: &str, apps: Vec<u32>) -> Arc<LocalNode> {
    Arc::new(LocalNode::new(
        Origin {
            host: host.into(),
            realm: "test.local".into(),
            state_id: 7,
        },
        vec!["127.0.0.1".parse().unwrap()],
        apps,
        1,
    ))
}

fn cfg() -> ConnConfig {
    ConnConfig {
        jitter_seed: 0,
        ..ConnConfig::default()
    }
}

fn dict() -> Arc<Dictionary> {
    Arc::new(Dictionary::builtin())
}

/// Moves every Send from `from` into `to`; returns the other actions of `from`.
fn pump(
    from: &mut PeerConnection,
    to: &mut PeerConnection,
    now: Instant,
    policy: &dyn PeerPolicy,
) -> Vec<Action> {
    let mut rest = vec![];
    while let Some(a) = from.poll_action() {
        match a {
            Action::Send(b) => to.handle_frame(b, now, policy),
            other => rest.push(other),
        }
    }
    rest
}

fn drain(c: &mut PeerConnection) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<Message<'_>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Message::new(b),
            _ => None,
        })
        .collect()
}

fn open_pair(t0: Instant) -> (PeerConnection, PeerConnection) {
    let d = dict();
    let mut client = PeerConnection::new(
        Role::Initiator,
        node("pgw.test.local", vec![4]),
        d.clone(),
        cfg(),
        t0,
    );
    let mut server = PeerConnection::new(
        Role::Responder,
        node("gyro.test.local", vec![4]),
        d,
        cfg(),
        t0,
    );
    pump(&mut client, &mut server, t0, &AcceptAll);
    let up = pump(&mut server, &mut client, t0, &AcceptAll);
    assert!(up
        .iter()
        .any(|a| matches!(a, Action::Up(c) if c.origin_host == "pgw.test.local")));
    let up = drain(&mut client);
    assert!(up
        .iter()
        .any(|a| matches!(a, Action::Up(c) if c.origin_host == "gyro.test.local")));
    (client, server)
}

#[test]
fn cer_cea_opens_both_sides() {
    let (c, s) = open_pair(Instant::now());
    assert_eq!(c.state(), ConnState::Open);
    assert_eq!(s.state(), ConnState::Open);
    assert!(c.is_usable() && s.is_usable());
    assert!(s.application_supported(4));
    assert!(!s.application_supported(16777238));
}

#[test]
fn watchdog_dwr_is_answered_and_keeps_the_peer_okay() {
    let t0 = Instant::now();
    let (mut c, mut s) = open_pair(t0);
    let t1 = t0 + Duration::from_secs(30);
    c.handle_timeout(t1);
    let out = drain(&mut c);
    let dwr = sends(&out);
    assert_eq!(dwr.len(), 1);
    assert_eq!(dwr[0].header.command, 280);
    assert!(dwr[0].header.is_request());
    for a in out {
        if let Action::Send(b) = a {
            s.handle_frame(b, t1, &AcceptAll);
        }
    }
    let answer = drain(&mut s);
    let dwa = sends(&answer);
    assert_eq!(dwa[0].result_code(), Some(2001));
    for a in answer {
        if let Action::Send(b) = a {
            c.handle_frame(b, t1, &AcceptAll);
        }
    }
    // The DWA cleared the pending flag: the next expiry sends a new DWR, not a failover.
    c.handle_timeout(t1 + Duration::from_secs(30));
    let out = drain(&mut c);
    assert_eq!(sends(&out)[0].header.command, 280);
    assert_eq!(c.watchdog_state(), WatchdogState::Okay);
}

#[test]
fn silent_peer_is_failed_over_then_closed() {
    let t0 = Instant::now();
    let (mut c, _s) = open_pair(t0);
    let tw = Duration::from_secs(30);
    c.handle_timeout(t0 + tw); // DWR
    drain(&mut c);
    c.handle_timeout(t0 + 2 * tw);
    assert!(drain(&mut c).contains(&Action::Watchdog(WatchdogState::Suspect)));
    assert!(!c.is_usable());
    c.handle_timeout(t0 + 3 * tw);
    let out = drain(&mut c);
    assert!(
        out.contains(&Action::Close(CloseReason::WatchdogDown)),
        "{out:?}"
    );
    assert_eq!(c.state(), ConnState::Closed);
}

#[test]
fn dpr_from_either_side() {
    for initiator_disconnects in [true, false] {
        let t0 = Instant::now();
        let (mut c, mut s) = open_pair(t0);
        let (a, b) = if initiator_disconnects {
            (&mut c, &mut s)
        } else {
            (&mut s, &mut c)
        };
        a.disconnect(DisconnectCause::Busy, t0);
        assert_eq!(a.state(), ConnState::Closing);
        let got = pump(a, b, t0, &AcceptAll);
        assert!(got.is_empty());
        let peer_side = pump(b, a, t0, &AcceptAll);
        assert!(peer_side.contains(&Action::PeerDisconnecting(DisconnectCause::Busy)));
        assert_eq!(b.state(), ConnState::PeerClosing);
        // The DPA reached `a`, which closes the transport.
        let out = drain(a);
        assert!(
            matches!(
                out.last(),
                Some(Action::Close(CloseReason::Disconnected(_)))
            ),
            "{out:?}"
        );
        // If `a` never closes, `b` gives up after the DPA timeout.
        b.handle_timeout(t0 + Duration::from_secs(6));
        assert!(matches!(drain(b).last(), Some(Action::Close(_))));
    }
}

struct Loser;
impl PeerPolicy for Loser {
    fn admit(&self, _: &PeerCapabilities, _: Role) -> Admission {
        Admission::Reject {
            result_code: result::ELECTION_LOST,
            message: "election lost".into(),
        }
    }
}

#[test]
fn rejected_cer_gets_the_policy_result_and_closes() {
    let t0 = Instant::now();
    let d = dict();
    let mut client = PeerConnection::new(
        Role::Initiator,
        node("a.test.local", vec![4]),
        d.clone(),
        cfg(),
        t0,
    );
    let mut server =
        PeerConnection::new(Role::Responder, node("b.test.local", vec![4]), d, cfg(), t0);
    pump(&mut client, &mut server, t0, &Loser);
    let out = drain(&mut server);
    assert_eq!(sends(&out)[0].result_code(), Some(4003));
    assert!(matches!(
        out.last(),
        Some(Action::Close(CloseReason::Rejected(4003)))
    ));
}

#[test]
fn no_common_application_is_5010() {
    let t0 = Instant::now();
    let d = dict();
    let mut client = PeerConnection::new(
        Role::Initiator,
        node("a.test.local", vec![16777238]),
        d.clone(),
        cfg(),
        t0,
    );
    let mut server =
        PeerConnection::new(Role::Responder, node("b.test.local", vec![4]), d, cfg(), t0);
    pump(&mut client, &mut server, t0, &AcceptAll);
    let out = drain(&mut server);
    let cea = sends(&out);
    assert_eq!(cea[0].result_code(), Some(5010));
    assert!(
        !cea[0].header.is_error(),
        "5xxx answers keep the E bit clear"
    );
    for a in out {
        if let Action::Send(b) = a {
            client.handle_frame(b, t0, &AcceptAll);
        }
    }
    assert!(matches!(
        drain(&mut client).last(),
        Some(Action::Close(CloseReason::Rejected(5010)))
    ));
}

#[test]
fn anything_before_cer_drops_the_connection() {
    let t0 = Instant::now();
    let d = dict();
    let mut client = PeerConnection::new(
        Role::Initiator,
        node("a.test.local", vec![4]),
        d.clone(),
        cfg(),
        t0,
    );
    client.state = ConnState::Open;
    client.disconnect(DisconnectCause::Rebooting, t0); // a DPR, sent before any CER
    drain(&mut client); // drop the CER queued at start
    let mut server =
        PeerConnection::new(Role::Responder, node("b.test.local", vec![4]), d, cfg(), t0);
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 280, 0, false, 1, 1);
    b.utf8(codes::ORIGIN_HOST, "a")
        .utf8(codes::ORIGIN_REALM, "r");
    b.finish();
    server.handle_frame(buf.freeze(), t0, &AcceptAll);
    assert_eq!(
        drain(&mut server),
        vec![Action::Close(CloseReason::UnexpectedMessage(280))]
    );
}

#[test]
fn handshake_times_out() {
    let t0 = Instant::now();
    let mut s = PeerConnection::new(
        Role::Responder,
        node("b.test.local", vec![4]),
        dict(),
        cfg(),
        t0,
    );
    s.handle_timeout(t0 + Duration::from_secs(11));
    assert_eq!(
        drain(&mut s),
        vec![Action::Close(CloseReason::HandshakeTimeout)]
    );
}

#[test]
fn a_peer_that_connects_has_cer_timeout_to_name_itself() {
    let t0 = Instant::now();
    let quick = ConnConfig {
        cer_timeout: Duration::from_secs(2),
        ..cfg()
    };
    let mut s = PeerConnection::new(
        Role::Responder,
        node("b.test.local", vec![4]),
        dict(),
        quick.clone(),
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    s.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(
        drain(&mut s),
        vec![Action::Close(CloseReason::HandshakeTimeout)]
    );
    // A connection gyro opens waits handshake_timeout for its CEA.
    let c = PeerConnection::new(
        Role::Initiator,
        node("a.test.local", vec![4]),
        dict(),
        quick,
        t0,
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(10)));
}

#[test]
fn dpr_without_disconnect_cause_gets_5005() {
    let t0 = Instant::now();
    let (_c, mut s) = open_pair(t0);
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 282, 0, false, 9, 9);
    b.utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    s.handle_frame(buf.freeze(), t0, &AcceptAll);
    let out = drain(&mut s);
    let dpa = sends(&out);
    assert_eq!(dpa[0].result_code(), Some(5005));
    let failed = dpa[0].find(279, 0).unwrap();
    assert_eq!(failed.grouped().next().unwrap().unwrap().code, 273);
}

#[test]
fn application_messages_are_delivered_when_open() {
    let t0 = Instant::now();
    let (_c, mut s) = open_pair(t0);
    let mut buf = BytesMut::new();
    let b = MessageBuilder::request(&mut buf, 272, 4, true, 5, 5);
    b.finish();
    let frame = buf.freeze();
    s.handle_frame(frame.clone(), t0, &AcceptAll);
    assert_eq!(drain(&mut s), vec![Action::Deliver(frame)]);
}

/// A DWR carrying an AVP of a vendor no dictionary knows, with the M bit.
fn dwr_with_unknown_avp(hbh: u32) -> Bytes {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, command::DEVICE_WATCHDOG, 0, false, hbh, hbh);
    b.utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local")
        .u32(crate::diameter::AvpDef::vendor(1, 99_999, true), 1);
    b.finish();
    buf.freeze()
}

#[test]
fn lax_validation_answers_peer_control_and_reports_what_it_tolerated() {
    let t0 = Instant::now();
    let (_c, mut strict) = open_pair(t0);
    strict.handle_frame(dwr_with_unknown_avp(7), t0, &AcceptAll);
    let out = drain(&mut strict);
    assert_eq!(sends(&out)[0].result_code(), Some(5001));
    assert!(!out.iter().any(|a| matches!(a, Action::Tolerated(_))));

    let lax_cfg = ConnConfig {
        validation: ValidateOptions {
            strict_m_bit: false,
        },
        ..cfg()
    };
    let mut lax = PeerConnection::new(
        Role::Responder,
        node("gyro.test.local", vec![4]),
        dict(),
        lax_cfg,
        t0,
    );
    let mut client = PeerConnection::new(
        Role::Initiator,
        node("pgw.test.local", vec![4]),
        dict(),
        cfg(),
        t0,
    );
    pump(&mut client, &mut lax, t0, &AcceptAll);
    drain(&mut lax);
    lax.handle_frame(dwr_with_unknown_avp(8), t0, &AcceptAll);
    let out = drain(&mut lax);
    assert_eq!(sends(&out)[0].result_code(), Some(2001));
    assert!(out.contains(&Action::Tolerated(Tolerated {
        code: 1,
        vendor: 99_999,
        tolerance: crate::diameter::validate::Tolerance::UnknownMBit,
    })));
}
