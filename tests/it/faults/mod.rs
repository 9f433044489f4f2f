//! The fault harness: Erlang/OTP PGWs and raw Rust gateways charge a few
//! shared accounts through a userspace TCP proxy while a nemesis kills
//! gyro with SIGKILL, fails its store writes, and cuts and delays the
//! network; then a checker sets what every client was acknowledged against
//! the xDRs and the balances. One line of figures says how many requests
//! were acknowledged, how many faults were injected, and how many octets
//! were lost or charged twice: both must be 0. docs/testing.md says how to
//! run the long version and how to repeat a seed.
//!
//! - `tcp_proxy`: the userspace proxy that cuts and delays.
//! - `target`, `nodes`: gyro under the nemesis, killed and started again;
//!   the scenario's nodes (embedded, or a proxy in front of an OCS).
//! - `nemesis`: the seeded schedule of faults.
//! - `raw_client`, `erlang`: the clients and their logs of requests.
//! - `checker`: the figures.
//! - `run`, `control`: one run, and what it tells its threads.

mod checker;
mod control;
mod erlang;
mod nemesis;
mod nodes;
mod raw_client;
mod run;
mod target;
mod tcp_proxy;

use nemesis::{EVERY_FAULT, NO_CRASH};
use nodes::Scenario;
use run::{Report, Settings};

/// Runs the harness, prints its figures, and fails unless nothing was lost
/// or charged twice.
fn run_and_check(settings: Settings) {
    let report: Report = run::run(&settings.with_env());
    let summary = report.summary();
    eprintln!("{summary}");
    assert!(
        report.figures.acknowledged > 0,
        "nothing was acknowledged: {summary}"
    );
    assert_eq!(report.tally.exits, 0, "gyro exited by itself: {summary}");
    assert!(
        report.figures.clean(),
        "{summary}\naccounts: {:#?}",
        report.figures.accounts
    );
}

fn short(tag: &'static str, faults: &'static [nemesis::Fault]) -> Settings {
    Settings {
        tag,
        scenario: Scenario::Embedded,
        secs: 60,
        seed: 0,
        faults,
        raw_accounts: 2,
        raw_per_account: 3,
        erlang_accounts: 2,
        erlang_per_account: 1,
    }
}

/// The short run of CI: every fault, kill -9 included.
#[test]
fn every_fault_charges_each_acknowledged_octet_once() {
    run_and_check(short("faults-every", EVERY_FAULT));
}

/// The short run without crashes: cuts, delays and store failures.
#[test]
fn network_and_store_faults_charge_each_acknowledged_octet_once() {
    run_and_check(short("faults-no-crash", NO_CRASH));
}

/// The long run, by hand: `GYRO_FAULTS_SECS` (600 by default),
/// `GYRO_FAULTS_SEED`; more clients per account.
#[test]
#[ignore = "the long run, by hand (docs/testing.md)"]
fn long_run_with_every_fault() {
    run_and_check(Settings {
        tag: "faults-long",
        scenario: Scenario::Embedded,
        secs: 600,
        seed: 0,
        faults: EVERY_FAULT,
        raw_accounts: 3,
        raw_per_account: 4,
        erlang_accounts: 2,
        erlang_per_account: 2,
    });
}

/// Proxy mode: gyro in front of gyro as the OCS, faults on both and on the
/// link between them.
#[test]
fn proxy_mode_charges_each_acknowledged_octet_once() {
    run_and_check(Settings {
        scenario: Scenario::Proxy,
        ..short("faults-proxy", EVERY_FAULT)
    });
}
