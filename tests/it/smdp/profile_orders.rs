//! eSIM profile orders on a real node over HTTP: the story's order of 1000
//! two-IMSI profiles for the pool "Own+X for EU Neighbour - Andorra", from
//! reservation to an onboarded, chargeable account (across a restart); and
//! one- and ten-IMSI orders. The test plays the SM-DP+ (`support::orders`).

use crate::support::orders::{self, *};
use crate::support::*;
use serde_json::{json, Value};

use super::order_steps::*;

#[test]
fn story_order_is_reserved_survives_a_restart_and_is_ingested_for_onboarding() {
    let g = start("orders-story");
    story_batches(&g);
    let own0 = sponsor_imsis(&g, "Own");
    let pass0 = product_stock(&g, PASS_30);
    let id = order_ok(&g, POOL_PATH, &story_order(1000));
    the_order_is_created_for_both_sponsors(&g, id);
    let first_row = the_input_file_has_the_rules_and_a_row_per_profile(&g, id);
    let full = iccids_are_numbered_and_the_imsis_reserved(&g, id, &own0, &first_row);
    let rows = profiles(&full);
    // A restart keeps the order and its reservations.
    let mut g = g;
    g.stop();
    let dir = g.dir.clone();
    drop(g);
    let g = Gyro::restart_replacing("orders-story", &dir, &[PREFIX_LINE], "");
    assert_eq!(order(&g, id), full);
    assert_eq!(sponsor_imsis(&g, "Own")["reserved"], 1000);
    assert_eq!(imsi_state(&g, &rows[500].1[1]), "reserved");
    the_standard_file_lands_the_profiles_in_the_pool(&g, id, &full, pass0);
    the_perso_file_is_kept_per_iccid(&g, id, &full);
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

fn the_order_is_created_for_both_sponsors(g: &Gyro, id: u64) {
    let o = api_get(g, &format!("/api/v1/orders/{id}"));
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
}

/// The input file: the story's rules and a row per profile. Returns its
/// first row.
fn the_input_file_has_the_rules_and_a_row_per_profile(g: &Gyro, id: u64) -> String {
    let (s, input) = text_get(g, &format!("/api/v1/orders/{id}/input"));
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
    data[0].to_string()
}

/// ICCIDs: the prefix, serials from 1, the Luhn digit; IMSIs reserved and
/// no longer available. Returns the order with its profiles.
fn iccids_are_numbered_and_the_imsis_reserved(
    g: &Gyro,
    id: u64,
    own0: &Value,
    first_row: &str,
) -> Value {
    let full = order(g, id);
    let rows = profiles(&full);
    assert_eq!(rows.len(), 1000);
    for (n, (i, imsis)) in rows.iter().enumerate() {
        assert_eq!(i, &iccid(PREFIX, n as u64 + 1));
        assert!(imsis[0].starts_with("26201") && imsis[1].starts_with("21377"));
    }
    assert_eq!(first_row, format!("{} {}", rows[0].0, rows[0].1.join(" ")));
    assert_eq!(imsi_state(g, &rows[0].1[0]), "reserved");
    assert_eq!(imsi_state(g, &rows[999].1[1]), "reserved");
    let own = sponsor_imsis(g, "Own");
    assert_eq!(own["reserved"], 1000, "{own}");
    assert_eq!(
        own["available"].as_u64().unwrap() + 1000,
        own0["available"].as_u64().unwrap()
    );
    assert_eq!(sponsor_imsis(g, "Partner X")["reserved"], 1000);
    full
}

/// The SM-DP+'s Standard file: the profiles land in the pool; the same file
/// again is a duplicate and changes nothing.
fn the_standard_file_lands_the_profiles_in_the_pool(g: &Gyro, id: u64, full: &Value, pass0: u64) {
    let rows = profiles(full);
    let (s, v) = ingest(g, "Standard_1.txt", &standard(full));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"order": id, "kind": "standard", "profiles": 1000, "pool": POOL})
    );
    let o = api_get(g, &format!("/api/v1/orders/{id}"));
    assert_eq!(o["state"], "ingested", "{o}");
    assert!(o["ingested_at"].is_i64(), "{o}");
    assert_eq!(product_stock(g, PASS_30), pass0 + 1000);
    assert_eq!(sponsor_imsis(g, "Own")["reserved"], 0);
    assert_eq!(imsi_state(g, &rows[0].1[0]), "embedded");
    let (s, v) = ingest(g, "Standard_1.txt", &standard(full));
    assert_eq!((s, &v["duplicate"]), (409, &json!(true)), "{v}");
    assert_eq!(product_stock(g, PASS_30), pass0 + 1000);
}

/// The Perso file is kept per ICCID.
fn the_perso_file_is_kept_per_iccid(g: &Gyro, id: u64, full: &Value) {
    let rows = profiles(full);
    let (s, v) = ingest(g, "Perso_1.txt", &perso(full));
    assert_eq!((s, &v["kind"]), (200, &json!("perso")), "{v}");
    let p = api_get(g, &format!("/api/v1/profiles/{}/perso", rows[7].0));
    assert_eq!(p["order"], id);
    assert_eq!(p["fields"]["MATCHING_ID"], orders::matching_id(&rows[7].0));
    assert_eq!(p["fields"]["SMDP_ADDRESS"], "smdp.example.com");
    assert_eq!(p["var_out"], "ICCID/MATCHING_ID/SMDP_ADDRESS");
    assert_eq!(api_get(g, &format!("/api/v1/orders/{id}"))["perso"], true);
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
