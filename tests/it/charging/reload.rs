//! Reloading the rating while `gyro serve` charges, over real sockets:
//! SIGHUP and `POST /api/v1/reload` swap the rating file in whole (every
//! CCA rated wholly on the old or wholly on the new version), a bad file is
//! refused with its file, line and key while the running version stays, and
//! neither kills the node nor drops a connection.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use bytes::BytesMut;
use gyro::diameter::builder::AvpDef;
use gyro::diameter::dictionary::VENDOR_3GPP;
use gyro::diameter::header::command;
use gyro::diameter::{codes, Message, MessageBuilder};

/// What a version grants per MSCC: (CC-Total-Octets, Validity-Time in s).
type Version = (u64, u32);
const A: Version = (1_000_000, 600);
const B: Version = (2_000_000, 1200);

/// The embedded rating file with the grant of `v`.
fn rating_text(v: Version) -> String {
    let (from_octets, from_validity) = ("data_octets = 10000000\n", "validity_time = \"10m\"");
    for from in [from_octets, from_validity] {
        assert_eq!(gyro::rating::EMBEDDED.matches(from).count(), 1, "{from}");
    }
    gyro::rating::EMBEDDED
        .replace(from_octets, &format!("data_octets = {}\n", v.0))
        .replace(from_validity, &format!("validity_time = \"{}m\"", v.1 / 60))
}

/// Replaces the file whole (write beside it, then rename), so that a reload
/// never reads half of it.
fn write_rating(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start(tag: &str, v: Version) -> (Gyro, PathBuf) {
    let dir = temp_dir(&format!("{tag}-rating"));
    let path = dir.join("rating.toml");
    write_rating(&path, &rating_text(v));
    let g = Gyro::start_with_charging(tag, "", &format!("rating = \"{}\"", path.display()));
    (g, path)
}

/// The rating groups every CCR asks for, one MSCC each.
const GROUPS: [u32; 3] = [10, 20, 30];

/// A Gy CCR for the seed's first subscriber at home, with one MSCC per
/// rating group: each asks for more than either version grants and, on an
/// update or termination, reports `used` octets.
fn ccr(session: &str, kind: i32, number: u32, e2e: u32, origin: &str, used: u64) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, e2e, e2e);
    b.utf8(codes::SESSION_ID, session)
        .utf8(codes::ORIGIN_HOST, origin)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(461), "32251@3gpp.org")
        .i32(AvpDef::base(416), kind)
        .u32(AvpDef::base(415), number);
    b.group(AvpDef::base(443), |b| {
        b.i32(AvpDef::base(450), 1)
            .utf8(AvpDef::base(444), "262019000000001");
    });
    b.i32(AvpDef::base(455), 1);
    for rg in GROUPS {
        b.group(AvpDef::base(456), |b| {
            if kind != 3 {
                b.group(AvpDef::base(437), |b| {
                    b.u64(AvpDef::base(421), 10_000_000);
                });
            }
            if used > 0 {
                b.group(AvpDef::base(446), |b| {
                    b.u64(AvpDef::base(421), used);
                });
            }
            b.u32(AvpDef::base(432), rg);
        });
    }
    b.group(AvpDef::vendor(873, VENDOR_3GPP, true), |b| {
        b.group(AvpDef::vendor(874, VENDOR_3GPP, true), |b| {
            b.utf8(AvpDef::vendor(18, VENDOR_3GPP, false), "26201");
        });
    });
    b.finish();
    buf.to_vec()
}

/// The version a granting CCA was rated on, or why it is none.
fn version_of(answer: &[u8]) -> Result<Version, String> {
    let m = Message::new(answer).ok_or("undecodable answer")?;
    if m.result_code() != Some(2001) {
        return Err(format!("Result-Code {:?}", m.result_code()));
    }
    let mut seen = HashSet::new();
    let mut groups = vec![];
    for mscc in m.find_all(456, 0) {
        let rg = mscc.member(432, 0).and_then(|x| x.u32().ok());
        let octets = mscc
            .member(431, 0)
            .and_then(|g| g.member(421, 0))
            .and_then(|x| x.u64().ok());
        let validity = mscc.member(448, 0).and_then(|x| x.u32().ok());
        match (rg, octets, validity) {
            (Some(rg), Some(o), Some(v)) => {
                groups.push(rg);
                seen.insert((o, v));
            }
            x => return Err(format!("MSCC without grant or Validity-Time: {x:?}")),
        }
    }
    groups.sort_unstable();
    if groups != GROUPS {
        return Err(format!("MSCCs for rating groups {groups:?}"));
    }
    match seen.into_iter().collect::<Vec<_>>()[..] {
        [v] if v == A || v == B => Ok(v),
        ref mixed => Err(format!("not wholly one version: {mixed:?}")),
    }
}

/// Sends a request and reads its answer; a DPR or a closed connection is
/// an error (the node must never disconnect on a reload).
fn ask(p: &mut RawPeer, req: &[u8]) -> Result<Vec<u8>, String> {
    p.send(req);
    let a = p.recv().ok_or("connection closed or no answer")?;
    let h = Message::new(&a).ok_or("undecodable message")?.header;
    match (h.command, h.is_request()) {
        (command::DISCONNECT_PEER, true) => Err("the node sent a DPR".into()),
        (272, false) => Ok(a),
        other => Err(format!("unexpected message {other:?}")),
    }
}

fn post_reload(g: &Gyro) -> (u16, serde_json::Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/reload", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn sighup(g: &Gyro) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &g.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// gyro_rating_reloads_total{result} as /metrics shows it; None while
/// /metrics does not answer.
fn try_reloads(g: &Gyro, result: &str) -> Option<u64> {
    let url = format!("http://127.0.0.1:{}/metrics", g.metrics_port);
    let text = reqwest::blocking::get(url).ok()?.text().ok()?;
    let series = format!("gyro_rating_reloads_total{{result=\"{result}\"}} ");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"));
    Some(value.trim().parse().unwrap())
}

fn reloads(g: &Gyro, result: &str) -> u64 {
    try_reloads(g, result).expect("/metrics answers")
}

/// Waits for a SIGHUP's reload to be counted (it runs asynchronously).
fn wait_reloads(g: &mut Gyro, result: &str, n: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let exited = g.child.try_wait().unwrap();
        assert!(exited.is_none(), "gyro exited on SIGHUP: {exited:?}");
        if try_reloads(g, result).is_some_and(|c| c >= n) {
            return;
        }
        assert!(Instant::now() < until, "reload {n} ({result}) not counted");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_up(g: &mut Gyro) {
    assert!(g.child.try_wait().unwrap().is_none(), "gyro exited");
    assert!(!g.log_text().contains("shutting down"), "{}", g.log_text());
}

/// Versions seen by one client, in order, or the first failure.
fn client(
    g_addr: std::net::SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Version>, String> {
    let origin = format!("pgw{n}.test.local");
    let mut p = RawPeer::connect(g_addr);
    p.send(&cer(&origin));
    p.recv().ok_or("no CEA")?;
    let mut seen = vec![];
    let mut e2e = 1;
    for s in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let session = format!("reload-{n}-{s}");
        for number in 0..4 {
            let (kind, used) = if number == 0 { (1, 0) } else { (2, 1000) };
            let a = ask(&mut p, &ccr(&session, kind, number, e2e, &origin, used))?;
            seen.push(version_of(&a).map_err(|e| format!("{session}/{number}: {e}"))?);
            e2e += 1;
        }
        let a = ask(&mut p, &ccr(&session, 3, 4, e2e, &origin, 1000))?;
        e2e += 1;
        let rc = Message::new(&a).and_then(|m| m.result_code());
        if rc != Some(2001) {
            return Err(format!("{session}: CCR-T got {rc:?}"));
        }
    }
    Ok(seen)
}

#[test]
fn reloads_under_load_rate_each_answer_wholly_on_one_version() {
    let (mut g, path) = start("reload-load", A);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (addr, stop) = (g.addr(), stop.clone());
            std::thread::spawn(move || client(addr, n, stop))
        })
        .collect();
    let rounds = 12u64;
    let mut in_force = A;
    let count = |table: &str| gyro::rating::EMBEDDED.matches(table).count();
    for round in 1..=rounds {
        let v = if round % 2 == 1 { B } else { A };
        write_rating(&path, &rating_text(v));
        if round % 2 == 1 {
            sighup(&g);
            wait_reloads(&mut g, "ok", round);
        } else {
            let (status, body) = post_reload(&g);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["reloaded"], true);
            assert_eq!(body["file"], path.display().to_string());
            assert_eq!(body["bundles"], count("[[bundle]]"));
            assert_eq!(body["tariffs"], count("[[tariff]]"));
            assert_eq!(body["rate_code_groups"], 2);
        }
        in_force = v;
        // Let some requests rate on this version before the next swap.
        std::thread::sleep(Duration::from_millis(150));
        assert_up(&mut g);
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = vec![];
    for c in clients {
        let seen = c
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}\n{}", g.log_text()));
        assert!(!seen.is_empty());
        all.extend(seen);
    }
    let (a, b) = (
        all.iter().filter(|v| **v == A).count(),
        all.iter().filter(|v| **v == B).count(),
    );
    assert!(a > 0 && b > 0, "both versions seen: A {a}, B {b}");
    let switches = all.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 2,
        "versions changed under the clients only {switches} times"
    );
    assert_eq!((reloads(&g, "ok"), reloads(&g, "error")), (rounds, 0));
    // The last version stays in force for a new connection.
    let mut p = open_peer(&g, "pgw-after.test.local");
    let a = ask(
        &mut p,
        &ccr("reload-after", 1, 0, 1, "pgw-after.test.local", 0),
    )
    .unwrap();
    assert_eq!(version_of(&a), Ok(in_force));
    assert_up(&mut g);
    assert!(g.log_text().contains("rating reloaded"));
}

/// `from` replaced by `to` in `text`, and the 1-based line `to` is on.
fn broken(text: &str, from: &str, to: &str) -> (String, usize) {
    assert_eq!(text.matches(from).count(), 1, "{from}");
    let text = text.replace(from, to);
    let first = to.lines().next().unwrap();
    let line = text.lines().position(|l| l.contains(first)).unwrap() + 1;
    (text, line)
}

#[test]
fn a_bad_file_is_refused_with_its_line_and_the_running_version_stays() {
    let (mut g, path) = start("reload-bad", A);
    let file = path.display().to_string();
    let mut p = open_peer(&g, "pgw.test.local");
    let mut e2e = 0;
    let mut rated = |p: &mut RawPeer, kind: i32, number: u32| {
        e2e += 1;
        let used = if kind == 1 { 0 } else { 1000 };
        let a = ask(
            p,
            &ccr("reload-bad", kind, number, e2e, "pgw.test.local", used),
        )
        .unwrap();
        version_of(&a)
    };
    assert_eq!(rated(&mut p, 1, 0), Ok(A));
    let good_b = rating_text(B);

    // A syntax error, then a bad rate code: 422 naming file, line and key.
    let (syntax, line) = broken(
        &good_b,
        "data_octets = 2000000\n",
        "data_octets = 2000000 =\n",
    );
    write_rating(&path, &syntax);
    let (status, body) = post_reload(&g);
    let error = body["error"].as_str().unwrap_or_default();
    assert_eq!(status, 422, "{body}");
    assert!(
        error.starts_with(&format!("{file}:{line}: grant.data_octets: ")),
        "{error}"
    );
    assert_eq!(rated(&mut p, 2, 1), Ok(A));
    let (semantic, line) = broken(&good_b, "\"E212-440-00\"", "\"E212-44O-00\"");
    write_rating(&path, &semantic);
    let (status, body) = post_reload(&g);
    let error = body["error"].as_str().unwrap_or_default();
    assert_eq!(status, 422, "{body}");
    assert!(
        error.starts_with(&format!(
            "{file}:{line}: rate_code_groups.\"world\": 'E212-44O-00'"
        )),
        "{error}"
    );
    assert_eq!(rated(&mut p, 2, 2), Ok(A));

    // SIGHUP with the bad file: logged, counted, and the node serves on
    // the same connection with the running version.
    sighup(&g);
    wait_reloads(&mut g, "error", 3);
    assert_up(&mut g);
    assert_eq!(rated(&mut p, 2, 3), Ok(A));
    let log = g.log_text();
    assert!(
        log.contains("rating not reloaded") && log.contains(&format!("{file}:{line}")),
        "{log}"
    );

    // A missing file is refused too; no token, no reload.
    std::fs::remove_file(&path).unwrap();
    let (status, body) = post_reload(&g);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("{file}: cannot read")),
        "{body}"
    );
    write_rating(&path, &good_b);
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/reload", g.api()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(rated(&mut p, 2, 4), Ok(A));

    // Once the file is fixed, the same connection is rated on the new version.
    let (status, body) = post_reload(&g);
    assert_eq!(
        (status, &body["reloaded"]),
        (200, &serde_json::json!(true)),
        "{body}"
    );
    assert_eq!(rated(&mut p, 2, 5), Ok(B));
    assert_eq!((reloads(&g, "ok"), reloads(&g, "error")), (1, 4));
    assert_up(&mut g);
}

#[test]
fn reload_without_charging_is_503() {
    use gyro::inventory::store::SledStore;
    use gyro::inventory::Inventory;
    let dir = temp_dir("reload-503");
    let store = SledStore::open(&dir).unwrap();
    let inventory = Arc::new(Inventory::open(Arc::new(store)).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = serve_api(&rt, api_state(inventory, "gyro-dev-token"));
    let r = reqwest::blocking::Client::new()
        .post(format!("http://{addr}/api/v1/reload"))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "charging is not running");
}
