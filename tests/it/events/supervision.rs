//! The delivery loop over a failing store: while the store refuses writes,
//! each run of the loop ends at the first outcome it cannot record, is
//! counted in `gyro_task_restarts_total`, and starts again; once the store
//! heals, every event is delivered, those made before the failure and
//! after it.

use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;

use super::hooks::*;

const PRODUCT: &str = "Balkan Traveller 10-Day Pass";

/// `gyro_task_restarts_total` for `task`, 0 before the first.
fn restarts(g: &Gyro, task: &str) -> u64 {
    let text = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", g.metrics_port))
        .and_then(|r| r.text())
        .unwrap_or_default();
    let series = format!("gyro_task_restarts_total{{task=\"{task}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn delivery_outlives_a_failing_store_and_each_restart_is_counted() {
    let Some(_) = webhook_bin() else { return };
    let mut r = Receiver::start("ev-store", "s3cret");
    r.stop();
    let tail = "[events]\nbackoff_initial = \"200ms\"\nbackoff_max = \"500ms\"\n".to_string()
        + &hook("nsps", &r.url(), "s3cret", "events = [\"Account/New\"]");
    let g = Gyro::start_with_tail("ev-store", "", &tail);
    let before = onboard(&g, PRODUCT);

    // The receiver is down, so each attempt has an outcome to record, and
    // the store now refuses every write.
    std::fs::write(g.dir.join(STORE_FAULTS), "apply").unwrap();
    wait_until(20, "the delivery loop to be restarted", || {
        restarts(&g, "events_delivery") >= 2
    });
    std::fs::write(g.dir.join(STORE_FAULTS), "").unwrap();
    r.restart();
    let after = onboard(&g, PRODUCT);

    let got = r.wait_for(2, 30);
    for a in [before, after] {
        assert!(
            of_type(&got, "Account/New")
                .iter()
                .any(|x| x.body["account"] == a),
            "account {a}: {got:?}"
        );
    }
    wait_until(10, "nothing pending", || {
        events(&g, "state=pending").is_empty()
    });
    assert!(
        g.log_text()
            .contains("background task ended; restarting it"),
        "the restarts are logged"
    );
}
