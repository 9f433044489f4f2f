//! eSIM profile orders end to end through Debian's OpenSSH sshd as the SM-DP+'s sFTP
//! server: gyro uploads each order's input file, the test plays the SM-DP+
//! (reads the file from the server's folder, writes Standard and Perso files
//! back by hand in the documented layout), and gyro polls, validates and
//! loads them. Cases: the story's profile generation (1000 Own+X profiles, 2 IMSIs, its
//! rules), K = 1 and K = 10, a wrong quantity and a foreign ICCID rejected
//! whole, sshd down during upload, kill -9 during ingestion, and a
//! GBP-priced sponsor ordered after conversion.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::sshd::{sshd_available, Sshd};
use crate::support::{api_send, temp_dir, Gyro};
use serde_json::{json, Value};

const OWN_X: &str = "Own+X for EU Neighbour - Andorra";
const EU30: &str = "EU Neighbour - Andorra 30-Day Pass";

/// The `[smdp]` section for `sshd`, polling every second.
fn smdp_tail(sshd: &Sshd, perso: &Path) -> String {
    let (input, output) = (sshd.root().join("in"), sshd.root().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    format!(
        "[smdp]\nsftp_url = \"{}\"\nsftp_key = \"{}\"\nknown_hosts = \"{}\"\n\
         input_dir = \"{}\"\noutput_dir = \"{}\"\npoll = \"1s\"\nperso_dir = \"{}\"\n",
        sshd.sftp_url(),
        sshd.key().display(),
        sshd.known_hosts().display(),
        input.display(),
        output.display(),
        perso.display()
    )
}

fn api(g: &Gyro, method: &str, path: &str, body: Value) -> (u16, Value) {
    api_send(g, method, path, Some(&body))
}

fn import_batch(g: &Gyro, sponsor: &str, name: &str, first: u64, n: u64) {
    let imsis: Vec<String> = (0..n).map(|i| (first + i).to_string()).collect();
    let body = json!({"sponsor": sponsor, "name": name, "imsis": imsis, "recycling": true});
    let (s, v) = api(g, "POST", "/api/v1/batches", body);
    assert_eq!(s, 201, "{v}");
}

fn order(g: &Gyro, pool: &str, count: u32, batches: &[&str]) -> Value {
    let by_pos: serde_json::Map<String, Value> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| ((i + 1).to_string(), json!(b)))
        .collect();
    let body = json!({"count": count, "imsis_per_profile": batches.len(), "batches": by_pos});
    let path = format!(
        "/api/v1/pools/{}/orders",
        pool.replace(' ', "%20")
            .replace('+', "%2B")
            .replace('/', "%2F")
    );
    let (s, v) = api(g, "POST", &path, body);
    assert_eq!(s, 201, "{v}");
    v
}

fn get(g: &Gyro, path: &str) -> Value {
    let (s, v) = api_send(g, "GET", path, None);
    assert_eq!(s, 200, "{path}: {v}");
    v
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn order_state(g: &Gyro, id: &Value) -> String {
    get(g, &format!("/api/v1/orders/{id}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn available(g: &Gyro, product: &str) -> u64 {
    let v = get(g, "/api/v1/stock?by=product");
    let line = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == product)
        .cloned()
        .unwrap();
    line["available_profiles"].as_u64().unwrap()
}

/// The input file of `order` once it is on the server (never its `.part`).
fn input_file(sshd: &Sshd, order: &Value) -> String {
    let path = sshd.root().join("in").join(order["file"].as_str().unwrap());
    wait_until("the input file on the sFTP server", 20, || path.is_file());
    std::fs::read_to_string(path).unwrap()
}

/// (ICCID, IMSIs) rows of an input file's `*INPUT DATA`.
fn input_rows(text: &str) -> Vec<Vec<String>> {
    let data = text
        .split("*INPUT DATA\n")
        .nth(1)
        .expect("an *INPUT DATA section");
    data.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn header_of(text: &str) -> String {
    text.split("*INPUT VARIABLES").next().unwrap().to_string()
}

/// What an SM-DP+ writes back: the header, `var_Out` and a row per card.
fn standard_file(input: &str, rows: &[Vec<String>]) -> String {
    let k = rows[0].len() - 1;
    let imsis: Vec<String> = (1..=k).map(|i| format!("IMSI{i}")).collect();
    let mut out = header_of(input);
    out += &format!(
        "*OUTPUT VARIABLES\nvar_Out: ICCID/{}/KI/OPC/PIN1/PUK1/PIN2/PUK2\n",
        imsis.join("/")
    );
    for (i, r) in rows.iter().enumerate() {
        out += &format!(
            "{} {:032X} {:032X} {:04} {:08} {:04} {:08}\n",
            r.join(" "),
            0xA5A5_0000_0000u128 + i as u128,
            0x5A5A_0000_0000u128 + i as u128,
            1000 + i % 9000,
            10_000_000 + i,
            2000 + i % 8000,
            20_000_000 + i
        );
    }
    out
}

fn perso_file(input: &str, rows: &[Vec<String>]) -> String {
    let mut out = header_of(input);
    out += "*OUTPUT VARIABLES\nvar_Out: ICCID/MATCHING_ID/SMDP_ADDRESS\n";
    for r in rows {
        out += &format!("{} MID-{} smdp.example.com\n", r[0], &r[0][12..]);
    }
    out
}

/// Puts a file in the server's output folder the way an SM-DP+ does:
/// whole, by renaming it into place.
fn deliver(sshd: &Sshd, name: &str, text: &str) -> PathBuf {
    let out = sshd.root().join("out");
    let part = out.join(format!("{name}.part"));
    std::fs::write(&part, text).unwrap();
    let path = out.join(name);
    std::fs::rename(part, &path).unwrap();
    path
}

fn start(tag: &str, sshd: &Sshd) -> (Gyro, PathBuf) {
    let perso = temp_dir(&format!("{tag}-perso"));
    let g = Gyro::start_with_tail(tag, "", &smdp_tail(sshd, &perso));
    (g, perso)
}

#[test]
fn the_story_order_of_1000_own_x_profiles_runs_end_to_end_through_sshd() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("smdp-story");
    let (g, perso_dir) = start("smdp-story", &sshd);
    import_batch(&g, "own", "1000-Own-2026", 262_015_000_000_001, 1000);
    import_batch(&g, "partner-x", "1000-X-2026", 213_775_000_000_001, 1000);
    let before = available(&g, EU30);
    let o = order(&g, OWN_X, 1000, &["1000-Own-2026", "1000-X-2026"]);
    let (input, rows) = the_input_file_lands_whole_with_its_rules(&sshd, &g, &o);
    deliver(&sshd, "Standard_1.txt", &standard_file(&input, &rows));
    deliver(&sshd, "Perso_1.txt", &perso_file(&input, &rows));
    wait_until("state ingested", 20, || {
        order_state(&g, &o["id"]) == "ingested"
    });
    assert_eq!(available(&g, EU30), before + 1000);
    the_output_files_are_processed_and_the_profiles_loaded(&sshd, &g, &rows, &perso_dir);
    one_and_ten_imsi_orders_through_the_same_server(&sshd, &g);
}

/// The order's input file reaches the server whole (never as `.part`), the
/// order is sent, and the file has its header, the pool's rules and a row
/// per profile. Returns the file and its rows.
fn the_input_file_lands_whole_with_its_rules(
    sshd: &Sshd,
    g: &Gyro,
    o: &Value,
) -> (String, Vec<Vec<String>>) {
    let input = input_file(sshd, o);
    assert!(!sshd
        .root()
        .join("in")
        .join(format!("{}.part", o["file"].as_str().unwrap()))
        .exists());
    wait_until("state sent", 10, || order_state(g, &o["id"]) == "sent");
    assert!(
        input.contains("ProfileType: Own+X for EU Neighbour - Andorra\n"),
        "{input:.300}"
    );
    assert!(input.contains(&format!("Batch No: {}\nQuantity: 1000\n", o["id"])));
    assert!(input.contains("var_In: ICCID IMSI1 IMSI2\n"));
    let rules = input
        .split("*RULES\n")
        .nth(1)
        .unwrap()
        .split("*INPUT DATA")
        .next()
        .unwrap();
    assert_eq!(
        rules,
        "262 01 IMSI1 high\n213 77 IMSI2 high\n213 78 IMSI2 med\n"
    );
    let rows = input_rows(&input);
    assert_eq!(rows.len(), 1000);
    assert_eq!(&rows[0][1..], ["262015000000001", "213775000000001"]);
    (input, rows)
}

/// Standard and Perso files moved to `processed/`, the Perso fields served
/// and copied to `smdp.perso_dir`, the profiles in their pool, and the
/// secrets never in the log.
fn the_output_files_are_processed_and_the_profiles_loaded(
    sshd: &Sshd,
    g: &Gyro,
    rows: &[Vec<String>],
    perso_dir: &Path,
) {
    let out = sshd.root().join("out");
    wait_until("both files processed", 20, || {
        out.join("processed/Standard_1.txt").is_file()
            && out.join("processed/Perso_1.txt").is_file()
    });
    assert!(!out.join("Standard_1.txt").exists());
    let iccid = &rows[7][0];
    let p = get(g, &format!("/api/v1/profiles/{iccid}/perso"));
    assert_eq!(p["fields"]["MATCHING_ID"], format!("MID-{}", &iccid[12..]));
    assert!(
        perso_dir.join("Perso_1.txt").is_file(),
        "copied to smdp.perso_dir"
    );
    let mode = std::fs::metadata(perso_dir.join("Perso_1.txt"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(
        mode, 0o600,
        "the Perso copy is {mode:o}: others may read it"
    );
    assert!(
        !g.log_text().contains(&format!("MID-{}", &iccid[12..])),
        "a Perso value reached the log"
    );
    let profile = get(g, &format!("/api/v1/profiles/{iccid}"));
    assert_eq!(profile["pool"], OWN_X, "{profile}");
    // Secrets reach the store, never the log.
    assert!(!g
        .log_text()
        .contains(&format!("{:032X}", 0xA5A5_0000_0007u128)));
}

/// K = 1 and K = 10 through the same server.
fn one_and_ten_imsi_orders_through_the_same_server(sshd: &Sshd, g: &Gyro) {
    let (s, v) = api(
        g,
        "POST",
        "/api/v1/pools",
        json!({"name": "Own only", "layout": ["own"],
        "products": [{"product": "EU Neighbour - Andorra 7-Day Pass", "priority": 1}]}),
    );
    assert!(s == 200 || s == 201, "{v}");
    let mut ten = vec![];
    for n in 0..10u64 {
        let name = format!("ten-{n}");
        import_batch(g, "own", &name, 262_016_000_000_001 + n * 1000, 5);
        ten.push(name);
    }
    let (s, v) = api(
        g,
        "POST",
        "/api/v1/pools",
        json!({"name": "Own ten",
        "products": [{"product": "EU Neighbour - Andorra 7-Day Pass", "priority": 2}]}),
    );
    assert!(s == 200 || s == 201, "{v}");
    import_batch(g, "own", "one-own", 262_014_000_000_001, 5);
    let ten_refs: Vec<&str> = ten.iter().map(String::as_str).collect();
    for (pool, batches, name) in [
        ("Own only", vec!["one-own"], "Standard_k1.txt"),
        ("Own ten", ten_refs, "Standard_k10.txt"),
    ] {
        let o = order(g, pool, 5, &batches);
        let input = input_file(sshd, &o);
        let rows = input_rows(&input);
        assert_eq!(rows[0].len(), batches.len() + 1, "{input}");
        deliver(sshd, name, &standard_file(&input, &rows));
        wait_until("a K order ingested", 20, || {
            order_state(g, &o["id"]) == "ingested"
        });
        let p = get(g, &format!("/api/v1/profiles/{}", rows[4][0]));
        assert_eq!(p["imsis"].as_array().unwrap().len(), batches.len(), "{p}");
    }
}

#[test]
fn bad_files_are_rejected_whole_and_the_order_stays_open() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("smdp-bad");
    let (g, _) = start("smdp-bad", &sshd);
    import_batch(&g, "own", "own-b", 262_015_000_000_001, 100);
    import_batch(&g, "partner-x", "x-b", 213_775_000_000_001, 100);
    let before = available(&g, EU30);
    let o = order(&g, OWN_X, 100, &["own-b", "x-b"]);
    let input = input_file(&sshd, &o);
    let rows = input_rows(&input);
    let rejected = sshd.root().join("out/rejected");

    // One row short of the Quantity.
    deliver(&sshd, "short.txt", &standard_file(&input, &rows[..99]));
    wait_until("short.txt rejected", 20, || {
        rejected.join("short.txt.err").is_file()
    });
    let err = std::fs::read_to_string(rejected.join("short.txt.err")).unwrap();
    assert!(err.contains("rows '99 rows': the order has 100"), "{err}");
    assert!(rejected.join("short.txt").is_file());
    assert_eq!(order_state(&g, &o["id"]), "rejected");
    assert_eq!(available(&g, EU30), before);

    // A foreign ICCID in place of one of the order's.
    let mut foreign = rows.clone();
    foreign[41][0] = "89491026201399999990".into();
    deliver(&sshd, "foreign.txt", &standard_file(&input, &foreign));
    wait_until("foreign.txt rejected", 20, || {
        rejected.join("foreign.txt.err").is_file()
    });
    let err = std::fs::read_to_string(rejected.join("foreign.txt.err")).unwrap();
    assert!(
        err.contains("line 50: ICCID '89491026201399999990': not in the order"),
        "{err}"
    );
    assert!(
        !err.contains(&format!("{:032X}", 0xA5A5_0000_0029u128)),
        "no Ki in an .err"
    );
    let v = get(&g, &format!("/api/v1/orders/{}", o["id"]));
    assert_eq!(v["rejections"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(available(&g, EU30), before);
    let imsi = get(&g, &format!("/api/v1/imsis/{}", rows[41][1]));
    assert_eq!(imsi["imsi"]["state"], "reserved", "{imsi}");

    // The right file still completes the order.
    deliver(&sshd, "good.txt", &standard_file(&input, &rows));
    wait_until("ingested", 20, || order_state(&g, &o["id"]) == "ingested");
    assert_eq!(available(&g, EU30), before + 100);
}

#[test]
fn an_upload_while_sshd_is_down_is_retried() {
    if !sshd_available() {
        return;
    }
    let mut sshd = Sshd::start("smdp-down");
    let (g, _) = start("smdp-down", &sshd);
    import_batch(&g, "own", "own-d", 262_015_000_000_001, 10);
    import_batch(&g, "partner-x", "x-d", 213_775_000_000_001, 10);
    sshd.stop();
    let o = order(&g, OWN_X, 10, &["own-d", "x-d"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(order_state(&g, &o["id"]), "created");
    assert!(
        g.log_text().contains("smdp.sftp_url"),
        "the log names the setting"
    );
    sshd.start_again();
    let input = input_file(&sshd, &o);
    assert_eq!(input_rows(&input).len(), 10);
    wait_until("sent", 10, || order_state(&g, &o["id"]) == "sent");
}

/// (profiles of the order in the store, order state) read straight from a
/// stopped node's store.
fn on_disk(data: &Path, id: u64, first: &str, last: &str) -> (usize, String) {
    let store = std::sync::Arc::new(
        gyro::inventory::store::SledStore::open(&data.join("inventory")).unwrap(),
    );
    let inv = gyro::inventory::Inventory::open(store).unwrap();
    let n = [first, last]
        .iter()
        .filter(|i| inv.profile(i).unwrap().is_some())
        .count();
    (n, inv.order(id).unwrap().state.name().to_string())
}

#[test]
fn kill_9_during_ingestion_leaves_all_or_nothing() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("smdp-kill");
    let (mut g, perso) = start("smdp-kill", &sshd);
    import_batch(&g, "own", "own-k", 262_015_000_000_001, 10_000);
    import_batch(&g, "partner-x", "x-k", 213_775_000_000_001, 10_000);
    let o = order(&g, OWN_X, 10_000, &["own-k", "x-k"]);
    let id = o["id"].as_u64().unwrap();
    let input = input_file(&sshd, &o);
    let rows = input_rows(&input);
    let (first, last) = (rows[0][0].clone(), rows[9999][0].clone());
    let standard = standard_file(&input, &rows);
    let dir = g.dir.clone();
    for delay_ms in [200u64, 700, 1200] {
        deliver(&sshd, "Standard_big.txt", &standard);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = std::process::Command::new("kill")
            .args(["-9", &g.child.id().to_string()])
            .status();
        let _ = g.child.wait();
        let (n, state) = on_disk(&dir.join("data"), id, &first, &last);
        eprintln!("kill -9 {delay_ms} ms after the file arrived: order {state}, {n} of 2 sampled profiles");
        assert!(
            (n == 0 && state != "ingested") || (n == 2 && state == "ingested"),
            "after kill -9 at {delay_ms} ms: {n} of the first and last profiles, order {state}"
        );
        g = Gyro::restart_with_tail("smdp-kill", &dir, "", &smdp_tail(&sshd, &perso));
        if state == "ingested" {
            break;
        }
    }
    // Whatever the kill left, the restarted node finishes exactly once.
    wait_until("ingested after restart", 30, || {
        order_state(&g, &o["id"]) == "ingested"
    });
    let out = sshd.root().join("out");
    wait_until("processed", 20, || {
        out.join("processed/Standard_big.txt").is_file()
    });
    assert!(
        !out.join("rejected/Standard_big.txt.err").exists(),
        "a re-read is a duplicate, not a fault"
    );
    assert_eq!(get(&g, &format!("/api/v1/profiles/{last}"))["pool"], OWN_X);
}

#[test]
fn a_gbp_priced_sponsor_is_ordered_after_conversion() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("smdp-gbp");
    // Partner G charges 0.90 GBP per GB in Andorra: 1.053 EUR at 1.17, more
    // than Partner X's 1.01 EUR though the number is lower.
    let rating = gyro::rating::EMBEDDED.replace(
        "[exchange_rates]",
        "[[tariff]]\nsponsor = \"partner-g\"\nprices = { \"21377\" = \"0.90\" }\n\n[exchange_rates]",
    );
    let rating_path = temp_dir("smdp-gbp-rating").join("rating.toml");
    std::fs::write(&rating_path, rating).unwrap();
    let perso = temp_dir("smdp-gbp-perso");
    let charging = format!("rating = \"{}\"\n", rating_path.display());
    let g = Gyro::start_with_tail("smdp-gbp", &charging, &smdp_tail(&sshd, &perso));
    let (s, v) = api(
        &g,
        "POST",
        "/api/v1/sponsors",
        json!({"id": "partner-g", "name": "Partner G",
        "plmns": ["23415"], "currency": "GBP"}),
    );
    assert!(s == 200 || s == 201, "{v}");
    let (s, v) = api(
        &g,
        "POST",
        "/api/v1/pools",
        json!({"name": "Own+X+G", "layout": ["own", "partner-x", "partner-g"],
        "products": [{"product": EU30, "priority": 1}]}),
    );
    assert!(s == 200 || s == 201, "{v}");
    import_batch(&g, "own", "own-g", 262_015_000_000_001, 5);
    import_batch(&g, "partner-x", "x-g", 213_775_000_000_001, 5);
    import_batch(&g, "partner-g", "g-g", 234_150_000_000_001, 5);
    let o = order(&g, "Own+X+G", 5, &["own-g", "x-g", "g-g"]);
    let input = input_file(&sshd, &o);
    assert!(
        input.contains("213 77 IMSI2 high\n213 77 IMSI3 med\n"),
        "X (1.01 EUR) before G (0.90 GBP = 1.053 EUR):\n{input}"
    );
}
