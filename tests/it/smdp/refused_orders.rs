//! Profile orders and SM-DP+ files that are refused: nothing reserved,
//! numbered or changed; cancelling frees the IMSIs; ICCIDs never reused.

use crate::support::orders::*;
use crate::support::*;
use serde_json::{json, Value};

use super::order_steps::*;

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
