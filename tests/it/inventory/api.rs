//! The admin API and the inventory CLI against a real `gyro serve` on a fresh
//! data directory holding the seed: onboarding, stock, look-ups, imports and
//! their errors; and a batch import killed mid-way leaving the store unchanged.

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};

const TOKEN: &str = "gyro-dev-token";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn get(g: &Gyro, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{path}", g.api()))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn post(g: &Gyro, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", g.api()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn stock(g: &Gyro, by: &str, name: &str) -> (u64, u64) {
    let (s, v) = get(g, &format!("/api/v1/stock?by={by}"));
    assert_eq!(s, 200);
    let l = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"));
    (
        l["available_profiles"].as_u64().unwrap(),
        l["dynamic_imsis"].as_u64().unwrap(),
    )
}

#[test]
fn seeded_node_onboards_and_reports_stock_over_http() {
    let g = Gyro::start("api-seed", "");
    // Stock after the seed's two demo accounts.
    assert_eq!(stock(&g, "sponsor", "Partner X"), (999, 0));
    assert_eq!(stock(&g, "sponsor", "Partner Y"), (9999, 0));
    assert_eq!(
        stock(&g, "product", "EU Neighbour - Andorra 7-Day Pass"),
        (999, 0)
    );
    assert_eq!(
        stock(&g, "product", "Balkan Traveller 10-Day Pass"),
        (10_999, 1000)
    );

    // The demo truck driver holds the story's profile; X's IMSI resolves to it.
    let (s, v) = get(&g, "/api/v1/imsis/213779000000001");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["profile"]["iccid_grouped"], "8949 1026 2010 0000 1234 5");
    assert_eq!(v["imsi"]["sponsor"], "partner-x");
    assert_eq!(v["resolution"]["chargeable"], true);
    assert_eq!(v["resolution"]["slot"], 2);
    assert!(!v.to_string().contains("11111111"), "PUK leaked: {v}");

    // Onboarding through the API depletes the product's first pool.
    let (s, v) = post(
        &g,
        "/api/v1/accounts",
        json!({"product": "EU Neighbour - Andorra 7-Day Pass"}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["profile"]["pool"], "Own+X for EU Neighbour - Andorra");
    assert_eq!(stock(&g, "sponsor", "Partner X"), (998, 0));
    assert_eq!(
        stock(&g, "product", "EU Neighbour - Andorra 30-Day Pass"),
        (998, 0)
    );
    let id = v["account"]["id"].as_u64().unwrap();
    let (s, a) = get(&g, &format!("/api/v1/accounts/{id}"));
    assert_eq!(
        (s, a["product"].as_str()),
        (200, Some("EU Neighbour - Andorra 7-Day Pass"))
    );

    // A new batch through the API, then a bad one rejected whole.
    let (s, v) = post(
        &g,
        "/api/v1/batches",
        json!({"sponsor": "partner-x", "name": "1000-X-2026-02-01", "imsis": ["213779100000001", "213779100000002"]}),
    );
    assert_eq!((s, v["imported"].as_u64()), (201, Some(2)), "{v}");
    let (s, v) = post(
        &g,
        "/api/v1/batches",
        json!({"sponsor": "partner-x", "name": "bad", "csv": "213779200000001\n26201\n"}),
    );
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["lines"][0]["line"], 2);
    assert_eq!(v["lines"][0]["field"], "imsi");
    let (s, _) = get(&g, "/api/v1/imsis/213779200000001");
    assert_eq!(s, 404, "a rejected batch must change nothing");
}

/// Onboards one Balkan account and returns (account id, its first IMSI).
fn onboard_balkan(g: &Gyro) -> (u64, String) {
    let (s, v) = post(
        g,
        "/api/v1/accounts",
        json!({"product": "Balkan Traveller 10-Day Pass"}),
    );
    assert_eq!(s, 201, "{v}");
    let imsi = v["profile"]["imsis"][0].as_str().unwrap().to_string();
    (v["account"]["id"].as_u64().unwrap(), imsi)
}

/// The log without terminal colour codes.
fn plain_log(g: &Gyro) -> String {
    let mut out = String::new();
    let mut chars = g.log_text().chars().collect::<Vec<_>>().into_iter();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn resolves_to(g: &Gyro, imsi: &str, account: u64) {
    let (s, v) = get(g, &format!("/api/v1/imsis/{imsi}"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["resolution"]["chargeable"], true, "{v}");
    assert_eq!(v["resolution"]["account"], account, "{v}");
}

#[test]
fn restarts_start_from_the_checkpoint_after_sigterm_and_after_kill() {
    let mut g = Gyro::start("api-ckpt", "");
    let (first, first_imsi) = onboard_balkan(&g);
    let before = stock(&g, "product", "Balkan Traveller 10-Day Pass");
    assert!(g.stop().success());
    assert!(g.dir.join("data/index.checkpoint").exists());

    // SIGTERM wrote the checkpoint: the next start loads it, nothing to replay.
    let mut g = Gyro::restart("api-ckpt-2", &g.dir);
    let log = plain_log(&g);
    assert!(log.contains("index loaded from checkpoint"), "{log}");
    assert!(log.contains("replayed=0"), "{log}");
    resolves_to(&g, &first_imsi, first);
    assert_eq!(stock(&g, "product", "Balkan Traveller 10-Day Pass"), before);

    // Killed after a change the checkpoint lacks: the feed brings it back.
    let (second, second_imsi) = onboard_balkan(&g);
    g.child.kill().unwrap();
    g.child.wait().unwrap();
    let mut g = Gyro::restart("api-ckpt-3", &g.dir);
    let log = plain_log(&g);
    assert!(log.contains("replayed=1"), "{log}");
    // The node serves at once and writes the checkpoint the replay made due.
    let written = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        plain_log(&g).contains("index checkpoint written")
    });
    assert!(written, "{}", plain_log(&g));
    resolves_to(&g, &first_imsi, first);
    resolves_to(&g, &second_imsi, second);
    assert_eq!(
        stock(&g, "product", "Balkan Traveller 10-Day Pass"),
        (before.0 - 1, before.1)
    );
    // Killed again with nothing new: that checkpoint leaves nothing to replay.
    g.child.kill().unwrap();
    g.child.wait().unwrap();
    let g = Gyro::restart("api-ckpt-4", &g.dir);
    let log = plain_log(&g);
    assert!(log.contains("replayed=0"), "{log}");
    resolves_to(&g, &second_imsi, second);
}

#[test]
fn api_errors_name_the_field() {
    let g = Gyro::start("api-errors", "");
    let r = client()
        .get(format!("{}/api/v1/stock", g.api()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .get(format!("{}/api/v1/stock", g.api()))
        .bearer_auth("wrong-token")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, v) = get(&g, "/api/v1/stock?by=colour");
    assert_eq!((s, v["field"].as_str()), (400, Some("by")));
    let (s, v) = post(&g, "/api/v1/accounts", json!({"product": "Nope"}));
    assert_eq!(
        (s, v["field"].as_str(), v["value"].as_str()),
        (404, Some("product"), Some("Nope"))
    );
    let (s, v) = post(
        &g,
        "/api/v1/accounts",
        json!({"product": "Balkan Traveller 10-Day Pass", "msisdn": "+49"}),
    );
    assert_eq!((s, v["field"].as_str()), (400, Some("msisdn")));
    let (s, v) = post(&g, "/api/v1/accounts", json!({"prodct": "x"}));
    assert_eq!((s, v["field"].as_str()), (400, Some("prodct")), "{v}");
    let (s, v) = post(
        &g,
        "/api/v1/sponsors",
        json!({"id": "z", "name": "Z", "plmns": ["2620"]}),
    );
    assert_eq!((s, v["field"].as_str()), (400, Some("plmns")), "{v}");
    let (s, v) = get(&g, "/api/v1/imsis/12x");
    assert_eq!((s, v["field"].as_str()), (400, Some("imsi")));
}

#[test]
fn cli_works_through_the_api_and_on_the_store() {
    let mut g = Gyro::start("api-cli", "");
    let api = g.api();
    batches_import_through_the_api(&g, &api);
    catalogue_definitions_and_a_dynamic_pool_through_the_api(&g, &api);
    // Stopped node: the CLI opens the store itself.
    assert!(g.stop().success());
    the_cli_works_on_the_store_of_a_stopped_node(&g);
}

/// Batches imported with `gyro inventory import-batch --api`, one past
/// axum's default body limit, a bad one refused with its line; the stock
/// table.
fn batches_import_through_the_api(g: &Gyro, api: &str) {
    let csv = g.dir.join("batch.csv");
    std::fs::write(
        &csv,
        "imsi\n213550500000001\n213550500000002\n213550500000003\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let r = cli([
        "inventory",
        "import-batch",
        "--sponsor",
        "partner-y",
        "--name",
        "3-Y",
        "--api",
        api,
        csv,
    ]);
    assert!(r.ok, "{}", r.err);
    assert!(r.out.contains("imported 3 IMSIs into batch 3-Y"));
    // A file past axum's default 2 MB body limit goes through the API too.
    let big = g.dir.join("big.csv");
    let mut text = String::from("imsi\n");
    for n in 0..200_000u64 {
        text.push_str(&format!("2135507{n:08}\n"));
    }
    assert!(text.len() > 3 << 20);
    std::fs::write(&big, text).unwrap();
    let r = cli([
        "inventory",
        "import-batch",
        "--sponsor",
        "partner-y",
        "--name",
        "big-Y",
        "--api",
        api,
        big.to_str().unwrap(),
    ]);
    assert!(r.ok, "{}", r.err);
    assert!(
        r.out.contains("imported 200000 IMSIs into batch big-Y"),
        "{}",
        r.out
    );
    let bad = g.dir.join("bad.csv");
    std::fs::write(&bad, "213550600000001\n2135506x0000002\n").unwrap();
    let r = cli([
        "inventory",
        "import-batch",
        "--sponsor",
        "partner-y",
        "--name",
        "bad",
        "--api",
        api,
        bad.to_str().unwrap(),
    ]);
    assert!(!r.ok);
    assert!(
        r.err
            .contains("line 2: imsi '2135506x0000002': digits only"),
        "{}",
        r.err
    );
    let table = cli(["stock", "--by", "sponsor", "--api", api]).out;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Partner X") && l.contains(" 999 ")),
        "{table}"
    );
}

/// Catalogue definitions from a TOML file, then a dynamic pool filled from
/// the batch `batches_import_through_the_api` imported.
fn catalogue_definitions_and_a_dynamic_pool_through_the_api(g: &Gyro, api: &str) {
    let defs = g.dir.join("defs.toml");
    std::fs::write(
        &defs,
        "[[product]]\nname = \"Andorra Weekend\"\nrate_codes = [\"E212-213-55\"]\n\n[[dynamic_pool]]\nname = \"dynamic Y2\"\nproducts = [\"Andorra Weekend\"]\n",
    )
    .unwrap();
    let r = cli(["inventory", "define", "--api", api, defs.to_str().unwrap()]);
    assert!(r.ok, "{}", r.err);
    assert!(r.out.contains("defined 2 item(s)"));
    let fill = |batch: &str, count: &str| {
        cli([
            "inventory",
            "fill-dynamic-pool",
            "--pool",
            "dynamic Y2",
            "--batch",
            batch,
            "--count",
            count,
            "--api",
            api,
        ])
    };
    let r = fill("3-Y", "10");
    assert!(r.out.contains("moved 3 IMSIs"), "{}", r.err);
    let v = api_get(g, "/api/v1/stock?by=product");
    let weekend = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Andorra Weekend")
        .unwrap()
        .clone();
    assert_eq!(weekend["dynamic_imsis"], 3, "{v}");
    let r = fill("nope", "1");
    assert!(!r.ok);
    assert!(r.err.contains("batch 'nope' not found"), "{}", r.err);
}

/// Stock, the PortaBilling export and onboarding on the store of a stopped
/// node (`--data-dir`).
fn the_cli_works_on_the_store_of_a_stopped_node(g: &Gyro) {
    let data = g.dir.join("data");
    let data = data.to_str().unwrap();
    let r = cli(["stock", "--json", "--by", "product", "--data-dir", data]);
    assert!(r.ok, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["name"] == "Japan Traveller 10-Day Pass" && l["available_profiles"] == 1000));
    let export = g.dir.join("export.csv");
    let r = cli([
        "inventory",
        "export",
        "--format",
        "portabilling",
        "--data-dir",
        data,
        export.to_str().unwrap(),
    ]);
    assert!(r.ok, "{}", r.err);
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(text.lines().count(), 1 + 24_000);
    let r = cli([
        "inventory",
        "onboard",
        "--product",
        "Japan Traveller 10-Day Pass",
        "--data-dir",
        data,
    ]);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["profile"]["pool"], "Own+W for World/Japan Traveller");
}

/// kill -9 in the middle of a large import: the store holds all of the batch
/// or none of it, never part.
#[test]
fn a_killed_import_leaves_the_store_consistent() {
    let dir = temp_dir("crash");
    let data = dir.join("data");
    let csv = dir.join("big.csv");
    let mut text = String::with_capacity(17 * 300_000);
    for i in 0..300_000u64 {
        text += &format!("2620170{i:08}\n");
    }
    std::fs::write(&csv, text).unwrap();
    let exe = env!("CARGO_BIN_EXE_gyro");
    // Seed first (a plain command that opens the store).
    let out = Command::new(exe)
        .args(["stock", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    for delay_ms in [300u64, 900, 1600] {
        let mut child = Command::new(exe)
            .args([
                "inventory",
                "import-batch",
                "--sponsor",
                "own",
                "--name",
                &format!("big-{delay_ms}"),
                "--data-dir",
            ])
            .arg(&data)
            .arg(&csv)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let _ = child.wait();
        // Reopen and count what the batch left behind.
        let store = std::sync::Arc::new(
            gyro::inventory::store::SledStore::open(&data.join("inventory")).unwrap(),
        );
        let inv = gyro::inventory::Inventory::open(store).unwrap();
        let batch: Option<gyro::model::ImsiBatch> =
            gyro::inventory::store::StorageExt::get(inv.store(), &format!("batch/big-{delay_ms}"))
                .unwrap();
        let first = inv.imsi("262017000000000").unwrap();
        let last = inv.imsi("262017000299999").unwrap();
        match batch {
            Some(b) => {
                assert_eq!(b.count, 300_000);
                assert!(
                    first.is_some() && last.is_some(),
                    "batch record without its IMSIs"
                );
                // Later rounds would collide with these IMSIs: stop here.
                break;
            }
            None => assert!(
                first.is_none() && last.is_none(),
                "IMSIs without their batch record (killed after {delay_ms} ms)"
            ),
        }
        drop(inv);
    }
}
