//! The delivery loop over a failing store: while the store refuses writes,
//! each run of the loop ends at the first outcome it cannot record, is
//! counted in `gyro_task_restarts_total`, and starts again; once the store
//! heals, every event is delivered, those made before the failure and
//! after it. Both in a real `gyro serve` (its store's fault file) and
//! in-process over the failing store.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use crate::support::failing_store::FailingStore;
use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;
use gyro::events::{Events, EventsSettings};

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

/// Waits for the `Account/New` of each of `accounts` (the seed's own
/// accounts' events come too).
fn delivered_to(r: &Receiver, accounts: &[u64]) {
    wait_until(30, "every account's Account/New delivered", || {
        let got = r.received();
        let new = of_type(&got, "Account/New");
        accounts
            .iter()
            .all(|a| new.iter().any(|x| x.body["account"] == *a))
    });
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

    delivered_to(&r, &[before, after]);
    wait_until(10, "nothing pending", || {
        events(&g, "state=pending").is_empty()
    });
    assert!(
        g.log_text()
            .contains("background task ended; restarting it"),
        "the restarts are logged"
    );
}

#[test]
fn delivery_in_process_resumes_once_the_failing_store_heals() {
    let Some(_) = webhook_bin() else { return };
    let mut r = Receiver::start("ev-inproc", "s3cret");
    r.stop();
    let failing = Arc::new(AtomicBool::new(false));
    let inv = FailingStore::seeded(failing.clone());
    let cfg: EventsSettings = toml::from_str(&format!(
        "backoff_initial = \"100ms\"\nbackoff_max = \"300ms\"\n\
         [[webhook]]\nname = \"nsps\"\nurl = \"{}\"\nsecret = \"s3cret\"\n\
         events = [\"Account/New\"]\n",
        r.url()
    ))
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _events = rt.block_on(async { Events::start(inv.clone(), cfg) });
    let (before, _) = inv.onboard("test", PRODUCT, None).unwrap();
    // Attempts fail at the receiver, and recording them fails at the store.
    failing.store(true, SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    failing.store(false, SeqCst);
    r.restart();
    let (after, _) = inv.onboard("test", PRODUCT, None).unwrap();
    delivered_to(&r, &[before.id, after.id]);
}
