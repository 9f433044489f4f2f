//! Helpers of the OTA swap tests: the `[ota]` section pointing at the
//! vendor double, location webhooks, and what the API shows of a profile's
//! decisions, swaps, IMSIs and the stock, shared by the `ota` tests.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::ota_vendor::OtaDouble;
use super::{api_get, api_send, run, Gyro};

pub const Y_IMSI: &str = "213550000000001";

pub fn ota_tail(double: &OtaDouble) -> String {
    format!(
        "[ota]\nurl = \"{}\"\naggregate = \"1s\"\ntimeout = \"1s\"\nmax_attempts = 3\n\
         backoff_initial = \"100ms\"\nbackoff_max = \"300ms\"\n",
        double.url()
    )
}

pub fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn located(g: &Gyro, id: &str, imsi: &str, mcc: &str, mnc: &str) {
    let body = json!({"event_id": id, "imsi": imsi, "mcc": mcc, "mnc": mnc,
                      "observed_at": "2026-12-01T10:00:00Z"});
    let (s, v) = api_send(g, "POST", "/api/v1/events/location", Some(&body));
    assert_eq!(s, 202, "{v}");
}

pub fn decisions(g: &Gyro, iccid: &str) -> Vec<Value> {
    let v = api_get(g, &format!("/api/v1/profiles/{iccid}/decisions"));
    v.as_array().cloned().unwrap_or_default()
}

pub fn swaps(g: &Gyro, iccid: &str) -> Vec<Value> {
    let v = api_get(g, &format!("/api/v1/profiles/{iccid}/swaps"));
    v.as_array().cloned().unwrap_or_default()
}

pub fn profile_imsis(g: &Gyro, iccid: &str) -> Vec<String> {
    let v = api_get(g, &format!("/api/v1/profiles/{iccid}"));
    let list = v["imsis"]
        .as_array()
        .or(v["profile"]["imsis"].as_array())
        .cloned();
    list.unwrap_or_default()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

/// One figure of the sponsor's line in `GET /api/v1/stock?by=sponsor`.
fn stock_figure(g: &Gyro, sponsor: &str, figure: &str) -> u64 {
    let v = api_get(g, "/api/v1/stock?by=sponsor");
    let lines = v.as_array().unwrap();
    let line = lines.iter().find(|l| l["name"] == sponsor).unwrap();
    line[figure].as_u64().unwrap()
}

pub fn dynamic(g: &Gyro, sponsor: &str) -> u64 {
    stock_figure(g, sponsor, "dynamic_imsis")
}

pub fn available(g: &Gyro, sponsor: &str) -> u64 {
    stock_figure(g, sponsor, "available_profiles")
}

pub fn charge_on(peers: &std::path::Path, g: &Gyro, imsi: &str, plmn: &str) -> String {
    let mut cmd = Command::new(peers.join("erlang/gy_peer.escript"));
    cmd.args(["client", "--server", &g.addr().to_string()])
        .args([
            "--imsi",
            imsi,
            "--mcc-mnc",
            plmn,
            "--updates",
            "1",
            "--used-octets",
            "500000000",
        ]);
    let (_, out) = run(&mut cmd, Duration::from_secs(60));
    assert!(!out.contains("FAILURES"), "{out}");
    out
}

pub fn used(g: &Gyro, account: u64) -> u64 {
    api_get(g, &format!("/api/v1/accounts/{account}/balance"))["data"]["used_octets"]
        .as_u64()
        .unwrap()
}

pub fn event_imsis(g: &Gyro, kind: &str) -> Vec<String> {
    let v = api_get(g, "/api/v1/events?limit=1000");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == kind)
        .map(|e| {
            e["variables"]["imsi"]["imsi"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The Balkan pass redefined to cover Albania's 276 03 only (the shipped
/// one covers both Albanian networks, as the story's swap to W there needs).
pub fn balkan_covers_only_276_03(g: &Gyro) {
    let body = json!({"name": "Balkan Traveller 10-Day Pass", "period": "10d", "renewable": true,
        "grace_period": "60d", "rate_codes": ["E212-262-01", "E212-297-01", "E212-276-03",
        "E212-221-01"], "rate_code_groups": ["other EU member codes"]});
    let (s, v) = api_send(g, "POST", "/api/v1/products", Some(&body));
    assert!(s == 200 || s == 201, "{v}");
}

pub const BALKAN: &str = "Balkan Traveller 10-Day Pass";
/// The first IMSI of Partner G's batch (its home network is 234 15).
pub const G_FIRST: u64 = 234_150_000_000_001;

/// `[charging]` lines for a node whose rating is the embedded one plus
/// Partner G's wholesale tariff, `prices` (`"PLMN" = "price"` pairs) per GB
/// in GBP, which the embedded rating converts at 1.17 EUR.
pub fn charging_with_partner_g(tag: &str, prices: &str) -> String {
    let tariff =
        format!("[[tariff]]\nsponsor = \"partner-g\"\nprices = {{ {prices} }}\n\n[exchange_rates]");
    let rating = gyro::rating::EMBEDDED.replace("[exchange_rates]", &tariff);
    let path = super::temp_dir(tag).join("rating.toml");
    std::fs::write(&path, rating).unwrap();
    format!("rating = \"{}\"", path.display())
}

fn created(g: &Gyro, path: &str, body: Value) {
    let (s, v) = api_send(g, "POST", path, Some(&body));
    assert_eq!(s, 201, "{path}: {v}");
}

/// Partner G as an operator adds it over the API: the sponsor (GBP), a
/// batch of `n` IMSIs and "dynamic G", a dynamic pool of the Balkan pass
/// filled with all of them. Returns the IMSIs.
pub fn partner_g_in_dynamic_pool(g: &Gyro, n: u64) -> Vec<String> {
    let sponsor = json!({"id": "partner-g", "name": "Partner G", "plmns": ["23415"],
                         "currency": "GBP"});
    created(g, "/api/v1/sponsors", sponsor);
    let imsis: Vec<String> = (0..n).map(|i| (G_FIRST + i).to_string()).collect();
    let batch = json!({"sponsor": "partner-g", "name": "G-dynamic", "imsis": imsis,
                       "recycling": true});
    created(g, "/api/v1/batches", batch);
    created(
        g,
        "/api/v1/dynamic-pools",
        json!({"name": "dynamic G", "products": [BALKAN]}),
    );
    let fill = json!({"batch": "G-dynamic", "count": n});
    let path = "/api/v1/dynamic-pools/dynamic%20G/fill";
    let (s, v) = api_send(g, "POST", path, Some(&fill));
    assert_eq!((s, v["moved"].as_u64()), (200, Some(n)), "{v}");
    imsis
}

/// The priced candidate of a recorded decision from `sponsor`'s
/// dynamic pool, if the decision had one.
pub fn pool_candidate<'a>(decision: &'a Value, sponsor: &str) -> Option<&'a Value> {
    decision["priced"]
        .as_array()?
        .iter()
        .find(|c| c["sponsor"] == sponsor && c["source"]["kind"] == "pool")
}

/// A Standard Webhooks signature, computed here apart from gyro's:
/// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn standard_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &signed);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

/// A webhook-id no earlier call of this process gave.
pub fn fresh_webhook_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("msg_{}_{n}", std::process::id())
}

/// Unix seconds now, as the MVNE's clock would say.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
