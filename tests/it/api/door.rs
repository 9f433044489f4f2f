//! Who gets in before the body is read: every admin route answers 401 to
//! a missing or wrong token while the body is still unsent, and a third
//! import at once is 503 with Retry-After, its upload never read.

use crate::support::*;

const GIB: u64 = 1 << 30;

/// Routes with a body, and a few without, as an anonymous client would try
/// them.
const ROUTES: [(&str, &str); 10] = [
    ("POST", "/api/v1/batches?sponsor=own&name=x"),
    ("POST", "/api/v1/profiles?pool=x"),
    ("POST", "/api/v1/orders/ingest?file=Perso_1.txt"),
    ("POST", "/api/v1/accounts"),
    ("POST", "/api/v1/sponsors"),
    ("PATCH", "/api/v1/batches/x"),
    ("POST", "/api/v1/events/location"),
    ("POST", "/api/v1/reload"),
    ("PUT", "/api/v1/hold-policy"),
    ("GET", "/api/v1/stock"),
];

#[test]
fn every_admin_route_answers_401_before_reading_the_body() {
    let mut g = Gyro::start("door-401", "");
    let wrong = [
        vec![("Content-Type", "text/csv")],
        vec![("Authorization", "Bearer not-the-token")],
        vec![("Authorization", "gyro-dev-token")],
    ];
    for (method, path) in ROUTES {
        for headers in &wrong {
            let a = answer_before_body(g.api_port, method, path, headers, GIB, 5).unwrap_or_else(
                || panic!("{method} {path} {headers:?}: no answer while the body was held back"),
            );
            assert_eq!(a.status, 401, "{method} {path} {headers:?}: {a:?}");
            assert!(a.body.contains("Authorization"), "{a:?}");
        }
    }
    g.stop();
}

#[test]
fn a_third_import_at_once_is_503_with_retry_after_and_its_upload_unread() {
    let mut g = Gyro::start("door-gate", "");
    let auth = ("Authorization", "Bearer gyro-dev-token");
    let csv = ("Content-Type", "text/csv");
    // Two imports whose uploads are under way (one line sent of 100 MB).
    let slow: Vec<_> = (0..2)
        .map(|n| {
            let path = format!("/api/v1/batches?sponsor=own&name=slow-{n}");
            send_head(
                g.api_port,
                "POST",
                &path,
                &[auth, csv],
                100 << 20,
                b"262015000000001\n",
            )
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    for path in [
        "/api/v1/profiles?pool=x",
        "/api/v1/orders/ingest?file=Perso_9.txt",
    ] {
        let a = answer_before_body(g.api_port, "POST", path, &[auth, csv], GIB, 5)
            .unwrap_or_else(|| panic!("{path}: no answer while two imports ran"));
        assert_eq!(a.status, 503, "{path}: {a:?}");
        assert!(a.headers.contains("retry-after: "), "{a:?}");
    }
    // Other routes are not gated.
    let (s, _) = api_send(&g, "GET", "/api/v1/stock", None);
    assert_eq!(s, 200);
    // Cut short, the two uploads import nothing and free their places.
    drop(slow);
    let body = "262015000000001\n262015000000002\n";
    let mut first = (503, serde_json::Value::Null);
    wait_until(10, "a place for an import", || {
        first = import_csv(&g, "/api/v1/batches?sponsor=own&name=slow-0", body);
        first.0 != 503
    });
    assert_eq!(
        (first.0, &first.1["imported"]),
        (201, &serde_json::json!(2)),
        "{}",
        first.1
    );
    let (s, v) = import_csv(
        &g,
        "/api/v1/batches?sponsor=own&name=slow-1",
        "262015000000003\n",
    );
    assert_eq!((s, &v["imported"]), (201, &serde_json::json!(1)), "{v}");
    g.stop();
}

/// A CSV import through the API: its status and JSON answer.
pub(super) fn import_csv(g: &Gyro, path: &str, body: &str) -> (u16, serde_json::Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", g.api()))
        .bearer_auth("gyro-dev-token")
        .header("content-type", "text/csv")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or_default())
}
