//! Requests gyro sends its gateways, over real sockets against `gyro serve`:
//! `POST /api/v1/accounts/{id}/reauth` sends a RAR to each open session of
//! the account and reports each RAA's Result-Code, or a timeout, a lost
//! connection or none open; an answer under a wrong Hop-by-Hop id is a
//! late answer, dropped and counted. `POST …/abort` sends an ASR; on ASA
//! 2001 the session is ended, its quota released, and its next CCR-U gets
//! 5002. tshark checks every message, and names the requests left
//! unanswered on purpose.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::*;
use gyro::diameter::Message;

const IMSI: &str = "262019000000001";
const GATEWAY: &str = "pgw.test.local";

fn account_of_the_seed_imsi(g: &Gyro) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{IMSI}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

fn reserved(g: &Gyro, account: u64) -> u64 {
    api_get(g, &format!("/api/v1/accounts/{account}/balance"))["data"]["reserved_octets"]
        .as_u64()
        .unwrap()
}

/// POSTs on a thread of its own: the call returns only once the raw
/// gateway, driven by the test meanwhile, has answered (or not).
fn post(g: &Gyro, path: &str) -> JoinHandle<(u16, serde_json::Value)> {
    let url = format!("{}{path}", g.api());
    std::thread::spawn(move || {
        let r = reqwest::blocking::Client::new()
            .post(url)
            .bearer_auth("gyro-dev-token")
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or_default())
    })
}

fn open_session(p: &mut RawPeer, session: &str, e2e: u32) {
    let i = GyCcr {
        session,
        e2e,
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let a = ask(p, &gy_ccr(&i));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
}

/// The gateway's answer (RAA or ASA) to `req`, under `hbh` (the request's
/// own, or a wrong one).
fn answer(req: &[u8], result_code: u32, hbh: u32) -> Vec<u8> {
    gateway_answer(req, result_code, hbh, GATEWAY)
}

/// Reads the next server-initiated request of `command` and checks that it
/// is addressed to this gateway; returns it with its Session-Id.
fn receive(p: &mut RawPeer, command: u32) -> (Vec<u8>, String) {
    let req = p.recv().expect("a request from gyro");
    let m = Message::new(&req).unwrap();
    let h = m.header;
    assert_eq!((h.command, h.application), (command, 4));
    assert!(h.is_request() && h.is_proxiable());
    let s = |code| m.find(code, 0).and_then(|a| a.utf8().ok());
    assert_eq!(s(293), Some(GATEWAY), "Destination-Host: the gateway");
    assert_eq!(s(283), Some("test.local"), "Destination-Realm");
    assert_eq!(s(264), Some("gyro.test.local"), "Origin-Host");
    assert_eq!(s(296), Some("test.local"), "Origin-Realm");
    let app = m.find(258, 0).and_then(|a| a.u32().ok());
    assert_eq!(app, Some(4), "Auth-Application-Id");
    let rart = m.find(285, 0).and_then(|a| a.enumerated().ok());
    let want = (command == 258).then_some(0);
    assert_eq!(
        rart, want,
        "Re-Auth-Request-Type AUTHORIZE_ONLY on a RAR only"
    );
    (req.clone(), s(263).unwrap().to_string())
}

fn hbh(m: &[u8]) -> u32 {
    Message::new(m).unwrap().header.hop_by_hop
}

/// Each session's line of an API reply, by Session-Id: (result_code, error).
fn lines(body: &serde_json::Value) -> Vec<(String, Option<u64>, Option<String>)> {
    body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["gateway"], GATEWAY, "{s}");
            (
                s["session_id"].as_str().unwrap().to_string(),
                s["result_code"].as_u64(),
                s["error"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// A metric's value (summed over the lines whose labels include all of
/// `labels`), as /metrics shows it.
fn metric(g: &Gyro, name: &str, labels: &[&str]) -> f64 {
    let text = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", g.metrics_port))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The Diameter messages of dissect.sh's list, one per PDU: (is a request,
/// command, Hop-by-Hop, End-to-End). A line is a frame, and gyro batches
/// what one wake-up produced into one write, so a frame can hold several
/// messages (`cmd=… | cmd=…`).
fn messages(text: &str) -> Vec<(bool, String, u32, u32)> {
    let list = text.split("\n== AVPs").next().unwrap_or("");
    let hex = |piece: &str, key: &str| {
        let v = piece.split(key).nth(1)?.split_whitespace().next()?;
        u32::from_str_radix(v, 16).ok()
    };
    list.lines()
        .flat_map(|l| l.split("cmd=").skip(1))
        .filter_map(|piece| {
            let command = piece.split('(').next()?.to_string();
            Some((
                command.ends_with(" Request"),
                command,
                hex(piece, "h2h=")?,
                hex(piece, "e2e=")?,
            ))
        })
        .collect()
}

/// tshark's verdict: no malformed frame, no expert warning, one Session-Id
/// per message, and every request answered except `unanswered` (RARs, by
/// Hop-by-Hop id) and `orphans` answers matching no request. dissect.sh
/// pairs requests and answers per frame (`!diameter.answer_in` is false
/// for a frame holding one answered request among others), so the pairing
/// is done here per message, from its list.
fn assert_dissects_clean(
    cap: &mut Capture,
    peers: &std::path::Path,
    unanswered: &[u32],
    orphans: usize,
) {
    let (ok, text) = cap.dissect_with(peers, &["--avps"]);
    let line = |what: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(what))
            .map(|v| v.trim().parse::<usize>().unwrap())
            .unwrap_or_else(|| panic!("no '{what}' in:\n{text}"))
    };
    assert_eq!(line("malformed frames:"), 0, "{text}");
    assert_eq!(line("diameter expert warnings/errors:"), 0, "{text}");
    assert_eq!(line("frames with a repeated Session-Id:"), 0, "{text}");
    let all = messages(&text);
    let key = |m: &(bool, String, u32, u32)| (m.2, m.3);
    let answers: Vec<_> = all.iter().filter(|m| !m.0).map(key).collect();
    let requests: Vec<_> = all.iter().filter(|m| m.0).map(key).collect();
    let mut lonely: Vec<(String, u32)> = all
        .iter()
        .filter(|m| m.0 && !answers.contains(&key(m)))
        .map(|m| (m.1.clone(), m.2))
        .collect();
    lonely.sort();
    let mut want: Vec<(String, u32)> = unanswered
        .iter()
        .map(|h| ("Re-Auth Request".to_string(), *h))
        .collect();
    want.sort();
    assert_eq!(lonely, want, "requests without an answer:\n{text}");
    let stray = answers.iter().filter(|a| !requests.contains(a)).count();
    assert_eq!(stray, orphans, "answers without a request:\n{text}");
    if unanswered.is_empty() && orphans == 0 {
        assert!(ok, "{text}");
    }
    assert!(text.contains("Re-Auth-Request-Type"), "{text}");
}

#[test]
fn reauth_reports_each_raa_and_a_wrong_hop_by_hop_is_a_late_answer() {
    let g = Gyro::start("si-reauth", "request_timeout = \"2s\"");
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let account = account_of_the_seed_imsi(&g);
    let mut p = open_peer(&g, GATEWAY);
    open_session(&mut p, "si-1", 1);
    open_session(&mut p, "si-2", 2);

    // One RAA 2001, one never sent: the reply says 2001 and timeout.
    let call = post(&g, &format!("/api/v1/accounts/{account}/reauth"));
    let (r1, s1) = receive(&mut p, 258);
    let (r2, s2) = receive(&mut p, 258);
    let mut got = [s1.clone(), s2.clone()];
    got.sort();
    assert_eq!(got, ["si-1", "si-2"]);
    assert_ne!(hbh(&r1), hbh(&r2));
    let (answered, silent) = if s1 == "si-1" { (&r1, &r2) } else { (&r2, &r1) };
    p.send(&answer(answered, 2001, hbh(answered)));
    let started = Instant::now();
    let (status, body) = call.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"], account);
    assert_eq!(
        lines(&body),
        [
            ("si-1".into(), Some(2001), None),
            ("si-2".into(), None, Some("timeout".into()))
        ],
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by Tx");
    let never_answered = hbh(silent);

    // The gateway answers under a wrong Hop-by-Hop id: nothing matches it,
    // so it is dropped and counted, and that RAR times out.
    let late_before = metric(&g, "gyro_diameter_late_answers_total", &[]);
    let call = post(&g, &format!("/api/v1/accounts/{account}/reauth"));
    let (r1, s1) = receive(&mut p, 258);
    let (r2, _) = receive(&mut p, 258);
    let (right, wrong) = if s1 == "si-1" { (&r1, &r2) } else { (&r2, &r1) };
    p.send(&answer(wrong, 2001, hbh(wrong) ^ 0x5a5a_0000));
    p.send(&answer(right, 2001, hbh(right)));
    let (_, body) = call.join().unwrap();
    assert_eq!(
        lines(&body),
        [
            ("si-1".into(), Some(2001), None),
            ("si-2".into(), None, Some("timeout".into()))
        ],
        "{body}"
    );
    assert_eq!(
        metric(&g, "gyro_diameter_late_answers_total", &[]) - late_before,
        1.0
    );
    let ra = |result: &str| {
        metric(
            &g,
            "gyro_diameter_outbound_requests_total",
            &["command=\"RA\"", &format!("result=\"{result}\"")],
        )
    };
    assert_eq!((ra("2001"), ra("timeout")), (2.0, 2.0));
    assert_eq!(metric(&g, "gyro_diameter_pending_requests", &[]), 0.0);

    // The sessions carry on: the RARs changed nothing in charging.
    assert_eq!(reserved(&g, account), 2000);
    let u = GyCcr {
        session: "si-1",
        kind: 2,
        number: 1,
        e2e: 3,
        used: 100,
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(
        Message::new(&ask(&mut p, &gy_ccr(&u)))
            .unwrap()
            .result_code(),
        Some(2001)
    );
    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        assert_dissects_clean(c, peers, &[never_answered, hbh(wrong)], 1);
    }
}

#[test]
fn abort_ends_the_session_on_asa_2001_and_a_lost_gateway_is_reported() {
    let g = Gyro::start("si-abort", "request_timeout = \"3s\"");
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let account = account_of_the_seed_imsi(&g);
    let mut p = open_peer(&g, GATEWAY);
    open_session(&mut p, "as-1", 1);
    assert_eq!(reserved(&g, account), 1000);

    let call = post(&g, &format!("/api/v1/accounts/{account}/abort"));
    let (asr, sid) = receive(&mut p, 274);
    assert_eq!(sid, "as-1");
    p.send(&answer(&asr, 2001, hbh(&asr)));
    let (status, body) = call.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&body), [("as-1".into(), Some(2001), None)], "{body}");
    assert_eq!(body["sessions"][0]["ended"], true, "{body}");
    assert_eq!(reserved(&g, account), 0, "the reservation went back");
    let u = GyCcr {
        session: "as-1",
        kind: 2,
        number: 1,
        e2e: 2,
        used: 100,
        ..GyCcr::BASE
    };
    assert_eq!(
        Message::new(&ask(&mut p, &gy_ccr(&u)))
            .unwrap()
            .result_code(),
        Some(5002)
    );

    // The gateway goes away with a RAR pending: that request fails at once
    // (well before its Tx), and with no connection left the next one fails
    // without being sent.
    open_session(&mut p, "as-2", 3);
    let call = post(&g, &format!("/api/v1/accounts/{account}/reauth"));
    let (rar, _) = receive(&mut p, 258);
    let started = Instant::now();
    drop(p);
    let (_, body) = call.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "not the 3 s Tx");
    assert_eq!(
        lines(&body),
        [("as-2".into(), None, Some("transport_lost".into()))],
        "{body}"
    );
    let (_, body) = post(&g, &format!("/api/v1/accounts/{account}/reauth"))
        .join()
        .unwrap();
    assert_eq!(
        lines(&body),
        [("as-2".into(), None, Some("not_connected".into()))],
        "{body}"
    );

    // Unknown accounts and missing tokens are refused like everywhere.
    let (status, _) = post(&g, "/api/v1/accounts/999999999/reauth")
        .join()
        .unwrap();
    assert_eq!(status, 404);
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/accounts/{account}/abort", g.api()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        assert_dissects_clean(c, peers, &[hbh(&rar)], 0);
    }
}
