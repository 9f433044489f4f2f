//! MVNE location webhooks over real sockets: the answers and their
//! status codes, the bearer token on the admin listener and Standard
//! Webhooks signatures on the webhook listener, de-duplication, coalescing
//! seen through `GET /api/v1/events/location/pending` and the drain (on a
//! test clock, so that nothing falls due before the test says), pending
//! records across a restart, and 32 threads posting at once with nothing
//! lost. `location_webhook_load` (ignored) measures accepted events per
//! second end to end.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::support::ota::{fresh_webhook_id, now_secs, standard_signature};
use crate::support::*;
use serde_json::{json, Value};

const SECRET: &str = "mvne-webhook-secret-0001";
const ICCID: &str = "894910262010000012345";
const IMSI: &str = "262019000000001";
const TEST_CLOCK: (&str, &str) = ("test_clock = false", "test_clock = true");

/// `[ota]` with the webhook listener on `port`.
fn ota(aggregate: &str, port: u16) -> String {
    format!(
        "[ota]\naggregate = \"{aggregate}\"\nwebhook_secret = \"{SECRET}\"\n\
         listen = \"127.0.0.1:{port}\"\n"
    )
}

/// The admin listener and the webhook listener of one node.
#[derive(Clone)]
struct Ends {
    api: String,
    hook: String,
}

fn ends(g: &Gyro, port: u16) -> Ends {
    Ends {
        api: g.api(),
        hook: format!("http://127.0.0.1:{port}"),
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Bearer,
    Signed(&'a str),
    Nothing,
}

/// A bearer or unsigned post goes to the admin listener, a signed one to
/// the webhook listener (under a webhook-id never used before).
fn post(c: &reqwest::blocking::Client, to: &Ends, body: &Value, auth: Auth) -> (u16, Value) {
    let raw = body.to_string().into_bytes();
    let base = match auth {
        Auth::Signed(_) => &to.hook,
        _ => &to.api,
    };
    let mut req = c
        .post(format!("{base}/api/v1/events/location"))
        .header("content-type", "application/json");
    req = match auth {
        Auth::Bearer => req.bearer_auth("gyro-dev-token"),
        Auth::Signed(secret) => {
            let (id, ts) = (fresh_webhook_id(), now_secs());
            let sig = standard_signature(secret, &id, &ts.to_string(), &raw);
            req.header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
        }
        Auth::Nothing => req,
    };
    let r = req.body(raw).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn event(id: &str, who: (&str, &str), mcc: &str, mnc: &str, at: &str) -> Value {
    let mut v = json!({"event_id": id, "mcc": mcc, "mnc": mnc, "observed_at": at});
    v[who.0] = who.1.into();
    v
}

fn pending(g: &Gyro) -> Value {
    api_get(g, "/api/v1/events/location/pending")
}

fn rejected_field(g: &Gyro, c: &reqwest::blocking::Client, body: Value) -> Value {
    let to = Ends {
        api: g.api(),
        hook: String::new(),
    };
    let (status, r) = post(c, &to, &body, Auth::Bearer);
    assert_eq!(status, 422, "{body} → {r}");
    r["field"].clone()
}

#[test]
fn webhooks_are_checked_authenticated_deduplicated_and_coalesced_then_drained() {
    let tag = "loc-answers";
    let port = free_port();
    let mut g = Gyro::start_replacing(tag, &[TEST_CLOCK], &ota("60s", port));
    let c = reqwest::blocking::Client::new();
    let albania = queued_then_duplicate_then_coalesced(&c, &ends(&g, port));
    unsigned_or_malformed_webhooks_are_refused(&g, &c, &ends(&g, port));
    let due = one_record_pending_with_its_due_time(&g);
    // A restart keeps the pending record, its due time and the seen ids.
    g.stop();
    let dir = g.dir.clone();
    let mut g = Gyro::restart_replacing(tag, &dir, &[TEST_CLOCK], &ota("60s", port));
    assert_eq!(pending(&g)["pending"][0]["due"], due.as_str());
    let (s, _) = post(&c, &ends(&g, port), &albania, Auth::Bearer);
    assert_eq!(s, 200, "still a duplicate after the restart");
    // Nothing falls due on its own: the test clock moves only when told.
    assert_eq!(pending(&g)["count"], 1);
    let (s, _) = api_send(&g, "POST", "/api/v1/clock", Some(&json!({"now": due})));
    assert_eq!(s, 200);
    wait_until(10, "the drain", || pending(&g)["count"] == 0);
    assert_eq!(pending(&g)["drained"], 1);
    let log = log_plain(&g);
    let drained: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("location drained"))
        .collect();
    assert_eq!(drained.len(), 1, "{drained:?}");
    assert!(
        drained[0].contains("mvne-2") && drained[0].contains(ICCID),
        "{}",
        drained[0]
    );
    g.stop();
}

/// Albania by IMSI is queued, then a duplicate; Kosovo by ICCID, later,
/// replaces it; one observed earlier is acknowledged, not queued. Returns
/// the Albania event.
fn queued_then_duplicate_then_coalesced(c: &reqwest::blocking::Client, api: &Ends) -> Value {
    let albania = event(
        "mvne-1",
        ("imsi", IMSI),
        "276",
        "02",
        "2026-11-30T23:59:00Z",
    );
    let (s, r) = post(c, api, &albania, Auth::Bearer);
    assert_eq!(
        (s, &r["queued"], &r["iccid"]),
        (202, &json!(true), &json!(ICCID)),
        "{r}"
    );
    let (s, r) = post(c, api, &albania, Auth::Signed(SECRET));
    assert_eq!((s, &r["duplicate"]), (200, &json!(true)), "{r}");
    // Later, by ICCID and signed: it replaces the pending event.
    let kosovo = event(
        "mvne-2",
        ("iccid", ICCID),
        "221",
        "01",
        "2026-11-30T23:59:30Z",
    );
    let (s, r) = post(c, api, &kosovo, Auth::Signed(SECRET));
    assert_eq!(
        (s, &r["queued"], &r["coalesced"]),
        (202, &json!(true), &json!(true)),
        "{r}"
    );
    // Observed earlier than the pending one: acknowledged, not queued.
    let late = event(
        "mvne-3",
        ("imsi", IMSI),
        "297",
        "01",
        "2026-11-30T23:58:00Z",
    );
    let (s, r) = post(c, api, &late, Auth::Bearer);
    assert_eq!(
        (s, &r["queued"], &r["coalesced"]),
        (202, &json!(false), &json!(true)),
        "{r}"
    );
    albania
}

/// No token or a wrong signature: 401 naming what is missing; each
/// malformed or unknown field: 422 naming it.
fn unsigned_or_malformed_webhooks_are_refused(g: &Gyro, c: &reqwest::blocking::Client, to: &Ends) {
    let wants = [
        (Auth::Nothing, "Authorization"),
        (Auth::Signed("not-the-webhook-secret"), "webhook-signature"),
    ];
    for (auth, field) in wants {
        let (s, r) = post(
            c,
            to,
            &event(
                "mvne-4",
                ("imsi", IMSI),
                "297",
                "01",
                "2026-12-01T00:00:00Z",
            ),
            auth,
        );
        assert_eq!((s, &r["field"]), (401, &json!(field)), "{r}");
    }
    let good = event("bad", ("imsi", IMSI), "297", "01", "2026-12-01T00:00:00Z");
    let mut cases: Vec<(Value, &str)> = vec![];
    let mut case = |edit: &dyn Fn(&mut Value), field: &'static str| {
        let mut b = good.clone();
        edit(&mut b);
        cases.push((b, field));
    };
    case(
        &|b| drop(b.as_object_mut().unwrap().remove("event_id")),
        "event_id",
    );
    case(&|b| b["iccid"] = ICCID.into(), "imsi");
    case(&|b| drop(b.as_object_mut().unwrap().remove("imsi")), "imsi");
    case(&|b| b["mcc"] = "2970".into(), "mcc");
    case(&|b| b["mnc"] = "1".into(), "mnc");
    case(
        &|b| b["observed_at"] = "2030-01-01 00:00".into(),
        "observed_at",
    );
    case(&|b| b["imsi"] = "262019999999999".into(), "imsi");
    case(&|b| b["imsi"] = "901280000002000".into(), "imsi");
    case(
        &|b| {
            let o = b.as_object_mut().unwrap();
            o.remove("imsi");
            o.insert("iccid".into(), "894910262010000099999".into());
        },
        "iccid",
    );
    for (body, field) in cases {
        assert_eq!(rejected_field(g, c, body.clone()), json!(field), "{body}");
    }
}

/// One record pending, Kosovo's, with both others coalesced into it and due
/// 60 s after the first arrived; returns its due time.
fn one_record_pending_with_its_due_time(g: &Gyro) -> String {
    let p = pending(g);
    assert_eq!(p["count"], 1, "{p}");
    let rec = &p["pending"][0];
    assert_eq!(
        (&rec["event_id"], &rec["mcc"], &rec["coalesced"]),
        (&json!("mvne-2"), &json!("221"), &json!(2))
    );
    let due = rec["due"].as_str().unwrap().to_string();
    let first = rec["first_received"].as_str().unwrap();
    assert_eq!(unix(&due), unix(first) + 60, "{rec}");
    due
}

/// The slot-1 IMSIs of the seed's 12,000 profiles.
fn seed_imsis() -> Vec<String> {
    let ranges = [
        (262019000000001u64, 1000),
        (262018000000001, 10000),
        (262017000000001, 1000),
    ];
    ranges
        .iter()
        .flat_map(|&(first, n)| (0..n).map(move |i| (first + i).to_string()))
        .collect()
}

fn drained_ids(log: &str) -> HashSet<String> {
    log.lines()
        .filter(|l| l.contains("location drained"))
        .filter_map(|l| l.split("event_id=").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .map(|s| s.trim_matches('"').to_string())
        .collect()
}

#[test]
fn thirty_two_threads_posting_at_once_lose_no_event() {
    let port = free_port();
    let mut g = Gyro::start_with_tail("loc-parallel", "", &ota("1s", port));
    let imsis: Vec<String> = seed_imsis().into_iter().take(200).collect();
    let api = ends(&g, port);
    let threads: Vec<_> = (0..32u64)
        .map(|t| {
            let (imsis, api) = (imsis.clone(), api.clone());
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::new();
                let mut got = vec![];
                for k in 0..60u64 {
                    let imsi = &imsis[((t * 7 + k * 13) % 200) as usize];
                    let at = 1_760_000_000 + t * 1000 + k;
                    let id = format!("par-{t}-{k}");
                    let when = time_text(at);
                    let body = event(&id, ("imsi", imsi), "276", "02", &when);
                    let auth = if k % 2 == 0 {
                        Auth::Bearer
                    } else {
                        Auth::Signed(SECRET)
                    };
                    let (s, r) = post(&c, &api, &body, auth);
                    got.push((s, r, imsi.clone(), at, id));
                }
                got
            })
        })
        .collect();
    let mut fresh = 0;
    let mut latest: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for t in threads {
        for (s, r, imsi, at, id) in t.join().unwrap() {
            assert_eq!(s, 202, "{r}");
            if r["queued"] == true && r["coalesced"] == false {
                fresh += 1;
            }
            let e = latest.entry(imsi).or_insert((0, String::new()));
            if at > e.0 {
                *e = (at, id);
            }
        }
    }
    wait_until(20, "every pending record drained", || {
        pending(&g)["count"] == 0
    });
    let p = pending(&g);
    // Every record the answers created was drained exactly once.
    assert_eq!(p["drained"], fresh, "{p}");
    let drained = drained_ids(&log_plain(&g));
    // The sink may also have seen an event that a newer one replaced while
    // it was being handed over (the newer one then followed).
    assert!(drained.len() as u64 >= fresh);
    for (imsi, (_, id)) in &latest {
        assert!(
            drained.contains(id),
            "{imsi}: latest event {id} never drained"
        );
    }
    g.stop();
}

/// The log without its terminal colour codes (`ESC [ … m`).
fn log_plain(g: &Gyro) -> String {
    let text = g.log_text();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = rest[i..].split_once('m').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn time_text(unix: u64) -> String {
    gyro::diameter::dump::rfc3339(unix as i64)
}

/// gyro's CPU time so far (user + system, all threads), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th of them (fields 14 and 15 of the line).
    let after = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf only reads a system constant.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One signed post from the async load client; its status.
async fn post_async(c: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    let (id, ts) = (fresh_webhook_id(), now_secs().to_string());
    let sig = standard_signature(SECRET, &id, &ts, &body);
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    // Read the answer whole, so that the connection is reused.
    let _ = r.bytes().await;
    status
}

/// One timed run: `clients` keep-alive connections (tasks of one async
/// client on a single thread, so that the load generator takes as little
/// of the 2 cores as it can) post `per_client` signed events each, with
/// distinct ids, across the seed's profiles.
fn load_run(g: &Gyro, port: u16, run: usize, clients: usize, per_client: usize) -> (f64, f64) {
    let imsis = std::sync::Arc::new(seed_imsis());
    let url = format!("http://127.0.0.1:{port}/api/v1/events/location");
    let pid = g.child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu0 = cpu_seconds(pid);
    let start = Instant::now();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..clients)
            .map(|t| {
                let (c, url, imsis) = (c.clone(), url.clone(), imsis.clone());
                tokio::spawn(async move {
                    for k in 0..per_client {
                        let n = t * per_client + k;
                        let imsi = &imsis[n % imsis.len()];
                        let when = time_text(1_760_000_000 + n as u64);
                        let id = format!("load-{run}-{n}");
                        let body = event(&id, ("imsi", imsi), "276", "02", &when);
                        let s = post_async(&c, &url, body.to_string().into_bytes()).await;
                        assert_eq!(s, 202, "{id}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let n = (clients * per_client) as f64;
    (n / secs, (cpu_seconds(pid) - cpu0) / n * 1e6)
}

/// Location webhooks accepted per second end to end (signed, each answered
/// only once durable), median of 3 runs, and gyro's CPU time per request.
/// `GYRO_LOAD_CLIENTS` (32) clients, `GYRO_LOAD_EVENTS` (30,000) per run.
#[test]
#[ignore]
fn location_webhook_load() {
    let threads = env_or("GYRO_LOAD_CLIENTS", 32);
    let per_thread = env_or("GYRO_LOAD_EVENTS", 30_000) / threads;
    let quiet = [("level = \"debug\"", "level = \"info\"")];
    let port = free_port();
    let mut g = Gyro::start_replacing("loc-load", &quiet, &ota("60s", port));
    let mut runs: Vec<(f64, f64)> = (0..3)
        .map(|run| {
            let (rate, cpu_us) = load_run(&g, port, run, threads, per_thread);
            println!("run {run}: {rate:.0} webhooks/s, gyro CPU {cpu_us:.1} µs per webhook");
            (rate, cpu_us)
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rate, cpu_us) = runs[1];
    println!(
        "location webhooks: median {rate:.0}/s over 3 runs of {} ({threads} clients), gyro CPU {cpu_us:.1} µs per webhook",
        threads * per_thread
    );
    g.stop();
}
