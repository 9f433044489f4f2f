//! Charging a gyro node can bill on, through real sockets: several real
//! Erlang/OTP PGWs (distinct Origin-Hosts) charge one account at once, and
//! the balance is exactly what they were acknowledged; kill -9 again and
//! again under many gateways that resend their pending request after it
//! charges every acknowledged octet once, no more, no less, with xDRs and
//! balance in agreement; a restart mid-session does not cut the session; a
//! border crossing is costed per network and the CCA arms the location
//! triggers (tshark-clean); Tcc keeps a session that holds no quota.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::resend_steps::run_gateway;
use crate::support::*;
use gyro::diameter::Message;

const IMSI: &str = "262019000000001";
const USED: u64 = 1000;

fn account(g: &Gyro) -> u64 {
    api_get(g, &format!("/api/v1/imsis/{IMSI}"))["account"]["id"]
        .as_u64()
        .unwrap()
}

fn used(g: &Gyro) -> u64 {
    let id = account(g);
    api_get(g, &format!("/api/v1/accounts/{id}/balance"))["data"]["used_octets"]
        .as_u64()
        .unwrap()
}

/// One Erlang PGW: one session of `updates` CCR-U, then CCR-T, each
/// reporting `USED` octets.
fn pgw(peers: &std::path::Path, g: &Gyro, n: usize, updates: u32) -> Child {
    let out = g.dir.join(format!("pgw{n}.out"));
    Command::new(peers.join("erlang/gy_peer.escript"))
        .args(["client", "--server", &g.addr().to_string()])
        .args(["--origin-host", &format!("pgw{n}.test.local")])
        .args([
            "--imsi",
            IMSI,
            "--mcc-mnc",
            "26201",
            "--request-octets",
            "5000",
        ])
        .args([
            "--used-octets",
            &USED.to_string(),
            "--updates",
            &updates.to_string(),
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Usage the PGW was acknowledged: every CCR-U/T answered 2001.
fn acknowledged(g: &Gyro, n: usize) -> u64 {
    let text = std::fs::read_to_string(g.dir.join(format!("pgw{n}.out"))).unwrap();
    let acked = text
        .lines()
        .filter(|l| (l.starts_with("CCR-U") || l.starts_with("CCR-T")) && l.contains("-> 'CCA'"))
        .filter(|l| l.contains("Result-Code=2001"))
        .count();
    acked as u64 * USED
}

#[test]
fn erlang_pgws_share_one_account_exactly() {
    let Some(peers) = peers_dir() else { return };
    let g = Gyro::start("dur-pgws", "");
    let before = used(&g);

    // Four gateways at once on one bundle: no update may be lost.
    let mut kids: Vec<Child> = (0..4).map(|n| pgw(&peers, &g, n, 150)).collect();
    for k in &mut kids {
        assert!(k.wait().unwrap().success());
    }
    let acked: u64 = (0..4).map(|n| acknowledged(&g, n)).sum();
    assert_eq!(acked, 4 * 151 * USED, "every request acknowledged");
    assert_eq!(
        used(&g) - before,
        acked,
        "the balance is exactly the acknowledged usage"
    );
}

/// kill -9 and a restart on the same port, while the gateways charge.
fn kill_and_restart(g: Gyro, n: usize) -> Gyro {
    let (dir, port) = (g.dir.clone(), g.port);
    let mut g = g;
    let _ = Command::new("kill")
        .args(["-9", &g.child.id().to_string()])
        .status();
    let _ = g.child.wait();
    drop(g);
    Gyro::restart_as(
        &format!("dur-kill-{n}"),
        &dir,
        "gyro.test.local",
        "",
        "",
        port,
    )
}

#[test]
fn gateways_resending_across_repeated_kill_9_are_charged_exactly_once() {
    const GATEWAYS: usize = 12;
    let mut g = Gyro::start("dur-kill", "");
    let before = used(&g);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = g.addr();
    let gws: Vec<_> = (0..GATEWAYS)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let host = format!("gw{n}.test.local");
                run_gateway(addr, &host, &format!("kill-{n}"), USED, &stop)
            })
        })
        .collect();
    for k in 1..=4 {
        std::thread::sleep(Duration::from_millis(1500 + 400 * k as u64));
        g = kill_and_restart(g, k);
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<_> = gws.into_iter().map(|h| h.join().unwrap()).collect();
    let acked: u64 = tallies.iter().map(|t| t.acknowledged).sum();
    let resent: u64 = tallies.iter().map(|t| t.resent).sum();
    let refused: Vec<u32> = tallies.iter().flat_map(|t| t.refused.clone()).collect();
    assert!(refused.is_empty(), "answers other than 2001: {refused:?}");
    assert!(resent > 0, "no request was in flight at a kill");
    assert_eq!(
        used(&g) - before,
        acked,
        "every acknowledged octet charged once ({resent} requests resent)"
    );
    let x = xdrs(&g);
    let mut keys: Vec<(String, u64)> = x
        .iter()
        .map(|x| {
            let sid = x["session_id"].as_str().unwrap().to_string();
            (sid, x["request_number"].as_u64().unwrap())
        })
        .collect();
    let lines = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        lines,
        "one xDR per (Session-Id, CC-Request-Number)"
    );
    let in_xdrs: u64 = x
        .iter()
        .map(|x| x["allowance_consumed"].as_u64().unwrap())
        .sum();
    assert_eq!(in_xdrs, used(&g) - before, "xDRs and the balance agree");
}

fn open(g: &Gyro) -> RawPeer {
    open_peer(g, "pgw.test.local")
}

fn answer(p: &mut RawPeer, c: &GyCcr<'_>) -> Vec<u8> {
    p.send(&gy_ccr(c));
    p.recv().expect("a CCA")
}

fn result(b: &[u8]) -> Option<u32> {
    Message::new(b).and_then(|m| m.result_code())
}

#[test]
fn a_restart_mid_session_does_not_cut_it() {
    let mut g = Gyro::start("dur-restart", "");
    let dir = g.dir.clone();
    let mut p = open(&g);
    let s = GyCcr {
        session: "keep",
        requested: Some(1000),
        ..GyCcr::BASE
    };
    assert_eq!(result(&answer(&mut p, &s)), Some(2001));
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 2,
        used: 400,
        ..s
    };
    assert_eq!(result(&answer(&mut p, &u)), Some(2001));
    let _ = Command::new("kill")
        .args(["-9", &g.child.id().to_string()])
        .status();
    let _ = g.child.wait();
    drop(g);
    let g = Gyro::restart("dur-restart-2", &dir);
    let mut p = open(&g);
    let next = GyCcr {
        number: 2,
        e2e: 3,
        used: 600,
        ..u
    };
    let b = answer(&mut p, &next);
    assert_eq!(
        result(&b),
        Some(2001),
        "the next update is answered normally"
    );
    assert_eq!(used(&g), 1000, "and charged");
    let t = GyCcr {
        kind: 3,
        number: 3,
        e2e: 4,
        used: 1,
        requested: None,
        ..u
    };
    assert_eq!(result(&answer(&mut p, &t)), Some(2001));
    assert_eq!(used(&g), 1001);
}

/// Trigger-Types inside the first MSCC of a CCA.
fn triggers(b: &[u8]) -> Vec<i32> {
    let m = Message::new(b).unwrap();
    let Some(mscc) = m.find(456, 0) else {
        return vec![];
    };
    let Some(t) = mscc.member(1264, 10415) else {
        return vec![];
    };
    t.grouped()
        .map_while(Result::ok)
        .filter(|x| x.code == 870)
        .filter_map(|x| x.enumerated().ok())
        .collect()
}

#[test]
fn a_border_crossing_is_costed_per_network_and_arms_the_triggers() {
    let g = Gyro::start("dur-border", "");
    let peers = peers_dir();
    let mut cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "gy.partner-x.example");
    // Andorra, on the operator IMSI Partner X's proxy presents.
    let s = GyCcr {
        session: "border",
        requested: Some(1000),
        plmn: "21377",
        origin: "gy.partner-x.example",
        ..GyCcr::BASE
    };
    let i = answer(&mut p, &s);
    assert_eq!(result(&i), Some(2001));
    assert_eq!(triggers(&i), [30, 31], "CHANGE_IN_LOCATION_MCC and _MNC");
    // Back in Germany: this update reports what was used in Andorra.
    let u = GyCcr {
        kind: 2,
        number: 1,
        e2e: 2,
        used: 700,
        plmn: "26201",
        ..s
    };
    assert_eq!(result(&answer(&mut p, &u)), Some(2001));
    let t = GyCcr {
        kind: 3,
        number: 2,
        e2e: 3,
        used: 300,
        requested: None,
        ..u
    };
    let tb = answer(&mut p, &t);
    assert!(triggers(&tb).is_empty(), "nothing to arm at the end");
    let x = xdrs(&g);
    let per: Vec<(&str, u64, bool)> = x
        .iter()
        .filter(|x| x["session_id"] == "border")
        .map(|x| {
            (
                x["rate_code"].as_str().unwrap(),
                x["allowance_consumed"].as_u64().unwrap(),
                x["cost"].is_string() || x["cost"].is_number(),
            )
        })
        .collect();
    assert_eq!(
        per,
        [("E212-213-77", 700, true), ("E212-262-01", 300, false)]
    );
    // The request key and End-to-End id, for mediation to de-duplicate.
    let keys: Vec<(u64, u64)> = x
        .iter()
        .filter(|x| x["session_id"] == "border")
        .map(|x| {
            (
                x["request_number"].as_u64().unwrap(),
                x["end_to_end"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [(1, 2), (2, 3)]);
    if let (Some(c), Some(peers)) = (cap.as_mut(), peers.as_ref()) {
        let (ok, text) = c.dissect(peers);
        assert!(ok, "tshark found problems:\n{text}");
        assert!(text.contains("Credit-Control Answer"), "{text}");
    }
}

#[test]
fn tcc_keeps_a_session_that_holds_no_quota() {
    let g = Gyro::start_with_short_validity("dur-tcc");
    let mut p = open(&g);
    // No Requested-Service-Unit: the session holds no quota.
    let s = GyCcr {
        session: "idle",
        ..GyCcr::BASE
    };
    assert_eq!(result(&answer(&mut p, &s)), Some(2001));
    std::thread::sleep(Duration::from_millis(3500));
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", g.metrics_port))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "gyro_charging_sessions 1"),
        "Tcc (2 s) passed and the quota-less session is still there:\n{metrics}"
    );
}
