//! eSIM profile orders (#14) on a real node over HTTP and through the CLI:
//! the story's order of 1000 two-IMSI profiles for the pool "Own+X for EU
//! Neighbour - Andorra", from reservation to an onboarded, chargeable
//! account (across a restart); the refused orders and files that change
//! nothing; cancelling; ICCIDs never reused; one- and ten-IMSI orders; and
//! `gyro profiles`. The test plays the SM-DP+ (`common::orders`).

mod common;

use common::orders::{self, *};
use common::*;
use serde_json::{json, Value};

const POOL: &str = "Own+X for EU Neighbour - Andorra";
/// `POOL` as one path segment.
const POOL_PATH: &str = "Own%2BX%20for%20EU%20Neighbour%20-%20Andorra";
const PASS_30: &str = "EU Neighbour - Andorra 30-Day Pass";
const PASS_7: &str = "EU Neighbour - Andorra 7-Day Pass";
const OWN_BATCH: &str = "1000-Own-2026-06";
const X_BATCH: &str = "1000-X-2026-06";
const OWN_FIRST: u64 = 262_015_000_000_001;
const X_FIRST: u64 = 213_775_000_000_001;
/// Ordered ICCIDs sort before the seed's, so onboarding takes them first.
const PREFIX: &str = "894910262009";
const PREFIX_LINE: (&str, &str) = (
    "iccid_prefix = \"894910262013\"",
    "iccid_prefix = \"894910262009\"",
);

fn start(tag: &str) -> Gyro {
    Gyro::start_replacing(tag, &[PREFIX_LINE], "")
}

fn ok(g: &Gyro, method: &str, path: &str, body: &Value) -> Value {
    let (s, v) = api_send(g, method, path, Some(body));
    assert_eq!(s / 100, 2, "{method} {path}: {s} {v}");
    v
}

/// Imports `n` consecutive IMSIs from `first` as batch `name`.
fn import(g: &Gyro, sponsor: &str, name: &str, first: u64, n: u64) {
    let imsis: Vec<String> = (first..first + n).map(|i| i.to_string()).collect();
    let body = json!({"sponsor": sponsor, "name": name, "recycling": true, "imsis": imsis});
    let v = ok(g, "POST", "/api/v1/batches", &body);
    assert_eq!(v["imported"], n, "{v}");
}

fn story_batches(g: &Gyro) {
    import(g, "own", OWN_BATCH, OWN_FIRST, 1000);
    import(g, "partner-x", X_BATCH, X_FIRST, 1000);
}

fn story_order(count: u32) -> Value {
    json!({"count": count, "imsis_per_profile": 2, "batches": {"1": OWN_BATCH, "2": X_BATCH}})
}

fn post_order(g: &Gyro, pool_path: &str, body: &Value) -> (u16, Value) {
    let path = format!("/api/v1/pools/{pool_path}/orders");
    api_send(g, "POST", &path, Some(body))
}

/// Orders and checks the 201; the order's id.
fn order_ok(g: &Gyro, pool_path: &str, body: &Value) -> u64 {
    let (s, o) = post_order(g, pool_path, body);
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["state"], "created", "{o}");
    o["id"].as_u64().unwrap()
}

/// The order with its profiles.
fn order(g: &Gyro, id: u64) -> Value {
    api_get(g, &format!("/api/v1/orders/{id}?profiles=true"))
}

/// The SM-DP+'s Standard file for the whole order, ingested: the order
/// with its profiles.
fn ingest_whole(g: &Gyro, id: u64, file: &str) -> Value {
    let full = order(g, id);
    let (s, v) = ingest(g, file, &standard(&full));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["profiles"], full["count"], "{v}");
    full
}

fn imsi_state(g: &Gyro, imsi: &str) -> String {
    let v = api_get(g, &format!("/api/v1/imsis/{imsi}"));
    v["imsi"]["state"].as_str().unwrap_or("").to_string()
}

fn serial(iccid: &str) -> u64 {
    iccid[PREFIX.len()..iccid.len() - 1].parse().unwrap()
}

#[test]
fn story_order_is_reserved_survives_a_restart_and_is_ingested_for_onboarding() {
    let g = start("orders-story");
    story_batches(&g);
    let own0 = sponsor_imsis(&g, "Own");
    let pass0 = product_stock(&g, PASS_30);
    let id = order_ok(&g, POOL_PATH, &story_order(1000));
    let o = api_get(&g, &format!("/api/v1/orders/{id}"));
    assert_eq!(o["state"], "created", "{o}");
    assert_eq!(
        (o["count"].as_u64(), o["imsis_per_profile"].as_u64()),
        (Some(1000), Some(2))
    );
    assert_eq!(o["sponsors"], json!(["own", "partner-x"]));
    assert!(
        o.get("profiles").is_none(),
        "profiles only on ?profiles=true"
    );

    // The input file: the story's rules and a row per profile.
    let (s, input) = text_get(&g, &format!("/api/v1/orders/{id}/input"));
    assert_eq!(s, 200);
    for line in [
        "262 01 IMSI1 high",
        "213 77 IMSI2 high",
        "213 78 IMSI2 med",
        &format!("Batch No: {id}"),
        "Quantity: 1000",
        &format!("ProfileType: {POOL}"),
        "var_In: ICCID IMSI1 IMSI2",
    ] {
        assert!(input.lines().any(|l| l == line), "no '{line}' in\n{input}");
    }
    let data: Vec<&str> = input
        .lines()
        .skip_while(|l| *l != "*INPUT DATA")
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(data.len(), 1000);

    // ICCIDs: the prefix, serials from 1, the Luhn digit; IMSIs reserved.
    let full = order(&g, id);
    let rows = profiles(&full);
    assert_eq!(rows.len(), 1000);
    for (n, (i, imsis)) in rows.iter().enumerate() {
        assert_eq!(i, &iccid(PREFIX, n as u64 + 1));
        assert!(imsis[0].starts_with("26201") && imsis[1].starts_with("21377"));
    }
    assert_eq!(data[0], format!("{} {}", rows[0].0, rows[0].1.join(" ")));
    assert_eq!(imsi_state(&g, &rows[0].1[0]), "reserved");
    assert_eq!(imsi_state(&g, &rows[999].1[1]), "reserved");
    let own = sponsor_imsis(&g, "Own");
    assert_eq!(own["reserved"], 1000, "{own}");
    assert_eq!(
        own["available"].as_u64().unwrap() + 1000,
        own0["available"].as_u64().unwrap()
    );
    assert_eq!(sponsor_imsis(&g, "Partner X")["reserved"], 1000);

    // A restart keeps the order and its reservations.
    let mut g = g;
    g.stop();
    let dir = g.dir.clone();
    drop(g);
    let g = Gyro::restart_replacing("orders-story", &dir, &[PREFIX_LINE], "");
    assert_eq!(order(&g, id), full);
    assert_eq!(sponsor_imsis(&g, "Own")["reserved"], 1000);
    assert_eq!(imsi_state(&g, &rows[500].1[1]), "reserved");

    // The SM-DP+'s Standard file: the profiles land in the pool.
    let (s, v) = ingest(&g, "Standard_1.txt", &standard(&full));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"order": id, "kind": "standard", "profiles": 1000, "pool": POOL})
    );
    let o = api_get(&g, &format!("/api/v1/orders/{id}"));
    assert_eq!(o["state"], "ingested", "{o}");
    assert!(o["ingested_at"].is_i64(), "{o}");
    assert_eq!(product_stock(&g, PASS_30), pass0 + 1000);
    assert_eq!(sponsor_imsis(&g, "Own")["reserved"], 0);
    assert_eq!(imsi_state(&g, &rows[0].1[0]), "embedded");
    // The same file again is a duplicate, and changes nothing.
    let (s, v) = ingest(&g, "Standard_1.txt", &standard(&full));
    assert_eq!((s, &v["duplicate"]), (409, &json!(true)), "{v}");
    assert_eq!(product_stock(&g, PASS_30), pass0 + 1000);

    // The Perso file is kept per ICCID.
    let (s, v) = ingest(&g, "Perso_1.txt", &perso(&full));
    assert_eq!((s, &v["kind"]), (200, &json!("perso")), "{v}");
    let p = api_get(&g, &format!("/api/v1/profiles/{}/perso", rows[7].0));
    assert_eq!(p["order"], id);
    assert_eq!(p["fields"]["MATCHING_ID"], orders::matching_id(&rows[7].0));
    assert_eq!(p["fields"]["SMDP_ADDRESS"], "smdp.example.com");
    assert_eq!(p["var_out"], "ICCID/MATCHING_ID/SMDP_ADDRESS");
    assert_eq!(api_get(&g, &format!("/api/v1/orders/{id}"))["perso"], true);

    // Onboarding gets one of them, and its IMSI is charged.
    let a = ok(&g, "POST", "/api/v1/accounts", &json!({"product": PASS_30}));
    let got = a["profile"]["iccid"].as_str().unwrap();
    assert_eq!(got, rows[0].0, "{a}");
    let imsi1 = a["profile"]["imsis"][0].as_str().unwrap();
    let r = api_get(&g, &format!("/api/v1/imsis/{imsi1}"));
    assert_eq!(r["resolution"]["chargeable"], true, "{r}");
    assert_eq!(r["account"]["id"], a["account"]["id"]);
    assert_eq!(charge(&g, imsi1, "pgw.test.local;orders;1"), Some(2001));
}

#[test]
fn refused_orders_reserve_and_number_nothing() {
    let g = start("orders-refused");
    story_batches(&g);
    let (own0, x0) = (sponsor_imsis(&g, "Own"), sponsor_imsis(&g, "Partner X"));
    let ten: serde_json::Map<String, Value> = (1..=11)
        .map(|p| (p.to_string(), json!(OWN_BATCH)))
        .collect();
    let three = json!({"1": OWN_BATCH, "2": X_BATCH, "3": OWN_BATCH});
    let y = json!({"1": OWN_BATCH, "2": "10000-Y-2025-12-23"});
    let cases = [
        (
            POOL_PATH,
            json!({"count": 10, "imsis_per_profile": 11, "batches": ten}),
            400,
            "imsis_per_profile",
        ),
        (
            POOL_PATH,
            json!({"count": 10, "imsis_per_profile": 3, "batches": three}),
            400,
            "imsis_per_profile",
        ),
        (
            POOL_PATH,
            json!({"count": 10, "imsis_per_profile": 2, "batches": y}),
            400,
            "batch 2",
        ),
        (
            POOL_PATH,
            story_order(1001),
            409,
            "has 1000 available IMSIs",
        ),
        ("No%20such%20pool", story_order(10), 404, "pool"),
        (
            POOL_PATH,
            json!({"count": 10, "imsis_per_profile": 2,
            "batches": {"1": OWN_BATCH, "2": X_BATCH}, "rules": ["cheap"]}),
            400,
            "rules",
        ),
        (POOL_PATH, story_order(0), 400, "count"),
    ];
    for (pool, body, status, what) in cases {
        let (s, v) = post_order(&g, pool, &body);
        assert_eq!(s, status, "{body}: {v}");
        let named = v["field"] == what || v["error"].as_str().is_some_and(|e| e.contains(what));
        assert!(named, "{body}: {v} should name {what}");
        assert_eq!(sponsor_imsis(&g, "Own"), own0, "{body}");
        assert_eq!(sponsor_imsis(&g, "Partner X"), x0, "{body}");
        assert_eq!(imsi_state(&g, &OWN_FIRST.to_string()), "available");
        assert_eq!(imsi_state(&g, &X_FIRST.to_string()), "available");
    }
    assert_eq!(api_get(&g, "/api/v1/orders"), json!([]));
    // No serial was spent on them.
    let (s, o) = post_order(&g, POOL_PATH, &story_order(1000));
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["first_iccid"], iccid(PREFIX, 1));
    assert_eq!(o["last_iccid"], iccid(PREFIX, 1000));
}

#[test]
fn refused_files_change_nothing_and_cancelling_frees_the_imsis() {
    let g = start("orders-files");
    story_batches(&g);
    import(&g, "own", "500-Own-b", OWN_FIRST + 100_000, 500);
    import(&g, "partner-x", "500-X-b", X_FIRST + 100_000, 500);
    let pass0 = product_stock(&g, PASS_30);
    let id = order_ok(&g, POOL_PATH, &story_order(1000));
    let full = order(&g, id);
    let rows = profiles(&full);

    // Too few rows, and Quantity to match: refused whole, the order rejected.
    let (s, v) = ingest(
        &g,
        "Standard_2.txt",
        &standard_with(&full, &rows[..999], 999),
    );
    assert_eq!((s, &v["order"]), (422, &json!(id)), "{v}");
    assert!(has_fault(&v, "Quantity", "1000"), "{v}");
    assert!(v["faults"].as_u64().unwrap() >= 1, "{v}");
    let o = api_get(&g, &format!("/api/v1/orders/{id}"));
    assert_eq!(o["state"], "rejected", "{o}");
    assert_eq!(o["rejections"][0]["file"], "Standard_2.txt", "{o}");
    assert_eq!(product_stock(&g, PASS_30), pass0);
    assert_eq!(imsi_state(&g, &rows[0].1[0]), "reserved");

    // A foreign ICCID: refused, nothing loaded.
    let foreign = iccid("894910262099", 1);
    let mut bad = rows.clone();
    bad[3].0 = foreign.clone();
    let (s, v) = ingest(&g, "Standard_3.txt", &standard_with(&full, &bad, 1000));
    assert_eq!(s, 422, "{v}");
    let named = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["value"] == foreign.as_str());
    assert!(named, "{v}");
    assert_eq!(
        api_send(&g, "GET", &format!("/api/v1/profiles/{foreign}"), None).0,
        404
    );
    assert_eq!(product_stock(&g, PASS_30), pass0);
    assert_eq!(imsi_state(&g, &rows[3].1[0]), "reserved");

    // Then the right file completes the rejected order.
    ingest_whole(&g, id, "Standard_4.txt");
    assert_eq!(
        api_get(&g, &format!("/api/v1/orders/{id}"))["state"],
        "ingested"
    );
    assert_eq!(product_stock(&g, PASS_30), pass0 + 1000);

    // Cancelling an order gives its IMSIs back.
    let b = json!({"count": 500, "imsis_per_profile": 2, "batches": {"1": "500-Own-b", "2": "500-X-b"}});
    let id2 = order_ok(&g, POOL_PATH, &b);
    let second = order(&g, id2);
    let rows2 = profiles(&second);
    assert_eq!(serial(&rows2[0].0), 1001);
    assert_eq!(sponsor_imsis(&g, "Partner X")["reserved"], 500);
    let (s, v) = api_send(&g, "DELETE", &format!("/api/v1/orders/{id2}"), None);
    assert_eq!((s, &v["state"]), (200, &json!("cancelled")), "{v}");
    for imsi in [&rows2[0].1[0], &rows2[0].1[1], &rows2[499].1[1]] {
        assert_eq!(imsi_state(&g, imsi), "available");
    }
    assert_eq!(sponsor_imsis(&g, "Partner X")["reserved"], 0);
    let (s, v) = api_send(&g, "DELETE", &format!("/api/v1/orders/{id2}"), None);
    assert_eq!(s, 409, "{v}");
    let (s, v) = ingest(&g, "Standard_5.txt", &standard(&second));
    assert_eq!(s, 422, "{v}");
    assert!(has_fault(&v, "Batch No", "cancelled"), "{v}");
    assert_eq!(imsi_state(&g, &rows2[0].1[0]), "available");

    // ICCIDs are never reused: the next order's come after the cancelled one's.
    let id3 = order_ok(
        &g,
        POOL_PATH,
        &json!({"count": 10, "imsis_per_profile": 2,
        "batches": {"1": "500-Own-b", "2": "500-X-b"}}),
    );
    let third = api_get(&g, &format!("/api/v1/orders/{id3}"));
    let last2 = serial(&rows2[499].0);
    assert_eq!(
        serial(third["first_iccid"].as_str().unwrap()),
        last2 + 1,
        "{third}"
    );
    // It got the IMSIs the cancelled order had.
    assert_eq!(profiles(&order(&g, id3))[0].1, rows2[0].1);
}

#[test]
fn one_and_ten_imsi_orders_go_from_order_to_ingested() {
    let g = start("orders-k");
    let pass0 = product_stock(&g, PASS_7);
    let one = json!({"name": "Own-7-Day", "layout": ["own"],
        "products": [{"product": PASS_7, "priority": 3}]});
    ok(&g, "POST", "/api/v1/pools", &one);
    import(&g, "own", "100-Own-K1", OWN_FIRST + 200_000, 100);
    let id = order_ok(
        &g,
        "Own-7-Day",
        &json!({"count": 100, "imsis_per_profile": 1, "batches": {"1": "100-Own-K1"}}),
    );
    let full = ingest_whole(&g, id, "Standard_K1.txt");
    assert_eq!(product_stock(&g, PASS_7), pass0 + 100);
    let first = &profiles(&full)[0];
    let p = api_get(&g, &format!("/api/v1/profiles/{}", first.0));
    assert_eq!(
        (&p["pool"], &p["imsis"]),
        (&json!("Own-7-Day"), &json!(first.1)),
        "{p}"
    );

    // Ten IMSIs from ten batches, in a pool without a layout.
    let ten = json!({"name": "Ten-IMSIs", "products": [{"product": PASS_7, "priority": 3}]});
    ok(&g, "POST", "/api/v1/pools", &ten);
    let mut batches = serde_json::Map::new();
    for n in 0..10u64 {
        let name = format!("20-Own-K10-{n}");
        import(&g, "own", &name, 262_016_000_000_001 + n * 100_000_000, 20);
        batches.insert((n + 1).to_string(), json!(name));
    }
    let id = order_ok(
        &g,
        "Ten-IMSIs",
        &json!({"count": 20, "imsis_per_profile": 10, "batches": batches}),
    );
    let (_, input) = text_get(&g, &format!("/api/v1/orders/{id}/input"));
    let names: Vec<String> = (1..=10).map(|i| format!("IMSI{i}")).collect();
    let var_in = format!("var_In: ICCID {}", names.join(" "));
    assert!(input.lines().any(|l| l == var_in), "{input}");
    let full = ingest_whole(&g, id, "Standard_K10.txt");
    assert_eq!(product_stock(&g, PASS_7), pass0 + 120);
    let last = &profiles(&full)[19];
    let p = api_get(&g, &format!("/api/v1/profiles/{}", last.0));
    assert_eq!(p["imsis"].as_array().unwrap().len(), 10, "{p}");
    assert!(last.1[9].starts_with("2620169"), "{last:?}");
    assert_eq!(imsi_state(&g, &last.1[9]), "embedded");
}

#[test]
fn gyro_profiles_orders_ingests_and_cancels_through_the_api() {
    let g = start("orders-cli");
    story_batches(&g);
    let api = g.api();
    let (b1, b2) = (format!("1={OWN_BATCH}"), format!("2={X_BATCH}"));
    let generate = [
        "profiles",
        "generate",
        "--pool",
        POOL,
        "--count",
        "100",
        "--imsis-per-profile",
        "2",
        "--batch",
        &b1,
        "--batch",
        &b2,
        "--rules",
        "least-cost,profit-guarantee",
        "--api",
        &api,
    ];
    let r = cli(generate);
    assert!(r.ok, "{}", r.err);
    let o: Value = serde_json::from_str(&r.out).unwrap();
    let id = o["id"].as_u64().unwrap();
    assert_eq!(
        (&o["state"], &o["count"]),
        (&json!("created"), &json!(100)),
        "{o}"
    );
    let summary = format!(
        "order {id}: 100 profiles ({} … {}), input file gyro-order-{id}.txt",
        iccid(PREFIX, 1),
        iccid(PREFIX, 100)
    );
    assert!(r.err.contains(&summary), "{}", r.err);

    let r = cli(["profiles", "orders", "--api", &api]);
    assert!(r.ok, "{}", r.err);
    let list: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(list[0]["id"], id, "{list}");
    let sid = id.to_string();
    let r = cli(["profiles", "order", &sid, "--profiles", "--api", &api]);
    assert!(r.ok, "{}", r.err);
    let full: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(full, order(&g, id));

    // A bad file: a non-zero exit and its faults, by line and field.
    let rows = profiles(&full);
    let mut bad = rows.clone();
    bad[1].1.swap(0, 1);
    let path = g.dir.join("Standard_cli_bad.txt");
    std::fs::write(&path, standard_with(&full, &bad, 100)).unwrap();
    let r = cli(["profiles", "ingest", path.to_str().unwrap(), "--api", &api]);
    assert!(!r.ok, "{}", r.out);
    assert!(r.err.contains("line 10: IMSI"), "{}", r.err);
    assert_eq!(
        api_get(&g, &format!("/api/v1/orders/{id}"))["state"],
        "rejected"
    );

    let path = g.dir.join("Standard_cli.txt");
    std::fs::write(&path, standard(&full)).unwrap();
    let r = cli(["profiles", "ingest", path.to_str().unwrap(), "--api", &api]);
    assert!(r.ok, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        (&v["kind"], &v["profiles"]),
        (&json!("standard"), &json!(100)),
        "{v}"
    );

    // Cancel: a second order, then its IMSIs are free again.
    let r = cli(generate);
    assert!(r.ok, "{}", r.err);
    let id2 = serde_json::from_str::<Value>(&r.out).unwrap()["id"]
        .as_u64()
        .unwrap();
    let first_imsi = profiles(&order(&g, id2))[0].1[0].clone();
    assert_eq!(imsi_state(&g, &first_imsi), "reserved");
    let r = cli(["profiles", "cancel", &id2.to_string(), "--api", &api]);
    assert!(r.ok, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["state"], "cancelled", "{v}");
    assert_eq!(imsi_state(&g, &first_imsi), "available");
    let r = cli(["profiles", "cancel", &id2.to_string(), "--api", &api]);
    assert!(!r.ok && r.err.contains("cancelled"), "{}", r.err);
}
