//! `gyro profiles` through the API: generate, list and show an order, ingest
//! a bad file then a good one, and cancel.

use crate::support::orders::*;
use crate::support::*;
use serde_json::{json, Value};

use super::order_steps::*;

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
    let (id, full) = generate_then_list_and_show_the_order(&g, &generate);
    a_bad_file_then_a_good_one_through_the_cli(&g, id, &full);
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

/// `gyro profiles generate` with its summary on stderr, then `orders` and
/// `order --profiles`. Returns the order's id and the order in full.
fn generate_then_list_and_show_the_order(g: &Gyro, generate: &[&str]) -> (u64, Value) {
    let api = g.api();
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
    assert_eq!(full, order(g, id));
    (id, full)
}

/// A bad file: a non-zero exit and its faults, by line and field, and the
/// order rejected; then the good file is ingested.
fn a_bad_file_then_a_good_one_through_the_cli(g: &Gyro, id: u64, full: &Value) {
    let api = g.api();
    let rows = profiles(full);
    let mut bad = rows.clone();
    bad[1].1.swap(0, 1);
    let path = g.dir.join("Standard_cli_bad.txt");
    std::fs::write(&path, standard_with(full, &bad, 100)).unwrap();
    let r = cli(["profiles", "ingest", path.to_str().unwrap(), "--api", &api]);
    assert!(!r.ok, "{}", r.out);
    assert!(r.err.contains("line 10: IMSI"), "{}", r.err);
    assert_eq!(
        api_get(g, &format!("/api/v1/orders/{id}"))["state"],
        "rejected"
    );

    let path = g.dir.join("Standard_cli.txt");
    std::fs::write(&path, standard(full)).unwrap();
    let r = cli(["profiles", "ingest", path.to_str().unwrap(), "--api", &api]);
    assert!(r.ok, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        (&v["kind"], &v["profiles"]),
        (&json!("standard"), &json!(100)),
        "{v}"
    );
}
