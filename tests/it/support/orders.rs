//! Profile orders for tests: the SM-DP+'s output files, written by
//! hand from an order as `GET /api/v1/orders/{id}?profiles=true` shows it,
//! in the layouts that `src/profilegen/standard.rs` and `perso.rs` document
//! (not with gyro's own writers, so the layout is checked too); and the API
//! calls around an order.

use std::fmt::Write;

use serde_json::Value;

use super::{api_get, Gyro};

/// The header both output files start with, with `quantity`.
fn header(order: &Value, quantity: usize) -> String {
    format!(
        "*HEADER DESCRIPTION\nCustomer: Local MNO\nProfileType: {}\nBatch No: {}\n\
         Quantity: {quantity}\nTransport Key: MNO.PROD.SM.TRK.AES\n*OUTPUT VARIABLES\n",
        order["pool"].as_str().unwrap(),
        order["id"]
    )
}

/// A 64-bit mix of `n` (splitmix64): secrets that differ per row.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The order's profiles (ICCID, IMSIs slot 1 first).
pub fn profiles(order: &Value) -> Vec<(String, Vec<String>)> {
    order["profiles"]
        .as_array()
        .expect("the order with ?profiles=true")
        .iter()
        .map(|p| {
            let imsis = p["imsis"].as_array().unwrap();
            (
                p["iccid"].as_str().unwrap().to_string(),
                imsis
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// A Standard file with `rows` and a Quantity of `quantity`: random-ish
/// 32-hex Ki and OPc, PINs and PUKs of the right lengths.
pub fn standard_with(order: &Value, rows: &[(String, Vec<String>)], quantity: usize) -> String {
    let k = order["imsis_per_profile"].as_u64().unwrap();
    let names: Vec<String> = (1..=k).map(|i| format!("IMSI{i}")).collect();
    let mut s = header(order, quantity);
    let _ = writeln!(
        s,
        "var_Out: ICCID/{}/KI/OPC/PIN1/PUK1/PIN2/PUK2",
        names.join("/")
    );
    for (n, (iccid, imsis)) in rows.iter().enumerate() {
        let n = n as u64;
        let _ = writeln!(
            s,
            "{iccid} {} {:016X}{:016X} {:016X}{:016X} {:04} {:08} {:04} {:08}",
            imsis.join(" "),
            mix(4 * n),
            mix(4 * n + 1),
            mix(4 * n + 2),
            mix(4 * n + 3),
            mix(n) % 10_000,
            mix(n + 7) % 100_000_000,
            mix(n + 11) % 10_000,
            mix(n + 13) % 100_000_000,
        );
    }
    s
}

/// The Standard file the SM-DP+ sends back for the whole order.
pub fn standard(order: &Value) -> String {
    let rows = profiles(order);
    standard_with(order, &rows, rows.len())
}

/// A Perso file for the whole order: a matching id and the SM-DP+'s
/// address per ICCID.
pub fn perso(order: &Value) -> String {
    let rows = profiles(order);
    let mut s = header(order, rows.len());
    s.push_str("var_Out: ICCID/MATCHING_ID/SMDP_ADDRESS\n");
    for (iccid, _) in &rows {
        let _ = writeln!(s, "{iccid} {} smdp.example.com", matching_id(iccid));
    }
    s
}

/// The matching id `perso` gives a profile.
pub fn matching_id(iccid: &str) -> String {
    format!("MID-{}", &iccid[iccid.len() - 8..])
}

/// An output file as the body of `POST /api/v1/orders/ingest?file=NAME`.
pub fn ingest(g: &Gyro, file: &str, body: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/orders/ingest", g.api()))
        .query(&[("file", file)])
        .bearer_auth("gyro-dev-token")
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

pub fn text_get(g: &Gyro, path: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// A sponsor's IMSI counts in the stock (available, reserved, …).
pub fn sponsor_imsis(g: &Gyro, name: &str) -> Value {
    let lines = api_get(g, "/api/v1/stock?by=sponsor");
    let line = lines.as_array().unwrap().iter().find(|l| l["name"] == name);
    line.unwrap_or_else(|| panic!("no stock line {name}: {lines}"))["imsis"].clone()
}

pub fn product_stock(g: &Gyro, name: &str) -> u64 {
    let lines = api_get(g, "/api/v1/stock?by=product");
    let line = lines.as_array().unwrap().iter().find(|l| l["name"] == name);
    line.unwrap()["available_profiles"].as_u64().unwrap()
}

/// The ICCID of `serial` under `prefix`: 20 digits with the Luhn digit.
pub fn iccid(prefix: &str, serial: u64) -> String {
    let width = 19 - prefix.len();
    let payload = format!("{prefix}{serial:0width$}");
    format!("{payload}{}", gyro::model::luhn_digit(&payload))
}

/// Whether some fault of a 422 names `field` and has `reason` in it.
pub fn has_fault(v: &Value, field: &str, reason: &str) -> bool {
    v["lines"].as_array().is_some_and(|l| {
        l.iter().any(|e| {
            e["field"] == field && e["reason"].as_str().is_some_and(|r| r.contains(reason))
        })
    })
}
