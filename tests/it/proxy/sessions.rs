//! Session requests across the proxy: the OCS's RAR comes down to the
//! gateway and the gateway's STR ends the session upstream; closing an
//! account at the proxy aborts its relayed sessions (ASR).

use std::time::Duration;

use crate::support::*;
use gyro::diameter::Message;

use super::upstreams::*;

fn post(g: &Gyro, path: &str) -> std::thread::JoinHandle<serde_json::Value> {
    let url = format!("{}{path}", g.api());
    std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .bearer_auth("gyro-dev-token")
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap()
            .json()
            .unwrap_or_default()
    })
}

#[test]
fn the_ocs_reauth_reaches_the_gateway_and_an_str_ends_the_session_upstream() {
    // GYRO_SKIP_PEERS=1 skips it; otherwise missing peers fail it.
    let Some(peers) = peers_dir() else { return };
    use bytes::BytesMut;
    use gyro::diameter::{codes, MessageBuilder};
    let ocs = Gyro::start_as("px-rar-ocs", "ocs.test.local", "", "");
    let proxy = proxy_before("px-rar", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port, ocs.port]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let i = GyCcr {
        session: "rar1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(
        Message::new(&ask(&mut gw, &gy_ccr(&i)))
            .unwrap()
            .result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 1000);

    // The OCS re-authorises (a top-up): the RAR comes down to the gateway
    // with its own identities, through the proxy.
    let id = api_get(&ocs, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let call = post(&ocs, &format!("/api/v1/accounts/{id}/reauth"));
    let rar = gw.recv().expect("the RAR");
    let m = Message::new(&rar).unwrap();
    assert_eq!((m.header.command, m.header.is_request()), (258, true));
    assert_eq!(m.session_id(), Some("rar1"));
    let routes: Vec<&str> = m.find_all(282, 0).filter_map(|r| r.utf8().ok()).collect();
    assert_eq!(routes, ["gyro-proxy.test.local"], "Route-Record");
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::answer(&mut buf, &m.header, false);
    b.utf8(codes::SESSION_ID, "rar1")
        .u32(codes::RESULT_CODE, 2001)
        .utf8(codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(codes::ORIGIN_REALM, "test.local");
    b.finish();
    gw.send(&buf);
    let body = call.join().unwrap();
    assert_eq!(body["sessions"][0]["result_code"], 2001, "{body}");

    // STR from the gateway ends the session at the OCS.
    let str_ = session_request(275, "rar1", 40, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(&mut gw, &str_)).unwrap().result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 0);
    let (clean, text) = cap.dissect_with(&peers, &["--avps"]);
    assert!(clean, "tshark found problems:\n{text}");
    assert!(text.contains("Re-Auth Answer"), "{text}");
}

#[test]
fn closing_an_account_at_the_proxy_aborts_its_relayed_sessions() {
    let Some(peers) = peers_dir() else { return };
    use gyro::diameter::codes;
    let ocs = Gyro::start_as("px-asr-ocs", "ocs.test.local", "", "");
    let proxy = proxy_before("px-asr", &ocs, "msisdn");
    let mut cap = Capture::start(&peers, &proxy.dir, &[proxy.port]);
    let mut gw = open_peer(&proxy, "pgw.test.local");
    let i = GyCcr {
        session: "asr1",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    let a = ask(&mut gw, &gy_ccr(&i));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    // The proxy's inventory closes the account at the end of grace: the gateway of the
    // session the proxy relays gets an ASR from the proxy.
    let id = api_get(&proxy, "/api/v1/imsis/262019000000001")["account"]["id"]
        .as_u64()
        .unwrap();
    let closed = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/accounts/{id}/close", proxy.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    assert_eq!(closed.status(), 200);
    let asr = answer_next(&mut gw, 274, "pgw.test.local");
    let m = Message::new(&asr).unwrap();
    assert_eq!(m.session_id(), Some("asr1"));
    let dest = m.find(293, 0).and_then(|a| a.utf8().ok());
    assert_eq!(
        dest,
        Some("pgw.test.local"),
        "Destination-Host: the gateway"
    );
    // The gateway then ends the session; its STR reaches the OCS.
    let str_ = session_request(275, "asr1", 41, |b| {
        b.i32(codes::TERMINATION_CAUSE, 1);
    });
    assert_eq!(
        Message::new(&ask(&mut gw, &str_)).unwrap().result_code(),
        Some(2001)
    );
    assert_eq!(data_balance(&ocs, "262019000000001").1, 0);
    let (clean, text) = cap.dissect(&peers);
    assert!(clean, "tshark found problems:\n{text}");
}
