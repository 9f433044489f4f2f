//! gyro's OTA vendor client against a double of its documented `imsiSwap`
//! contract over real loopback sockets: what it sends, how each answer is
//! read, the timeout, and retries driven by the sans-IO backoff helper that
//! reuse one `functionCallIdentifier` so the vendor swaps once.
//!
//! The vendor side is `crate::support::ota_vendor`, a project-written double: no
//! open-source SM-DP+/OTA server with this interface can be installed here.

use std::time::{Duration, Instant};

use crate::support::ota_vendor::{Glitch, Mode, OtaDouble};
use gyro::config::HumaneDuration;
use gyro::ota::vendor::{OtaVendor, SwapOutcome, SwapRequest, VendorError};
use gyro::ota::OtaSettings;

const TIMEOUT: Duration = Duration::from_millis(500);

fn section(url: &str, token: Option<&str>) -> OtaSettings {
    OtaSettings {
        url: Some(url.to_string()),
        token: token.map(str::to_owned),
        requester: "gyro-test".into(),
        timeout: HumaneDuration(TIMEOUT),
        max_attempts: 4,
        backoff_initial: HumaneDuration(Duration::from_millis(20)),
        backoff_max: HumaneDuration(Duration::from_millis(80)),
        ..OtaSettings::default()
    }
}

fn vendor(double: &OtaDouble, token: Option<&str>) -> OtaVendor {
    OtaVendor::from_config(&section(&double.url(), token))
        .unwrap()
        .expect("a url is set")
}

fn request(swap_id: u64) -> SwapRequest {
    SwapRequest {
        swap_id,
        iccid: "8938501000000000017".into(),
        slot: 2,
        old_imsi: "297010000000017".into(),
        new_imsi: "276020000000033".into(),
    }
}

/// The caller's retry loop in miniature (the real one is durable): calls
/// until a definite answer or until the policy gives up. Returns the last
/// result and how many calls were made.
async fn swap_with_retries(
    v: &OtaVendor,
    req: &SwapRequest,
) -> (Result<SwapOutcome, VendorError>, u32) {
    let mut attempts = 0;
    loop {
        let result = v.imsi_swap(req).await;
        attempts += 1;
        match result {
            Err(e) if e.is_retryable() => match v.retry().next_delay(attempts, req.swap_id) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return (Err(e), attempts),
            },
            done => return (done, attempts),
        }
    }
}

#[tokio::test]
async fn a_swap_is_confirmed_and_sent_as_the_contract_says() {
    let double = OtaDouble::start();
    let v = vendor(&double, None);
    let got = v.imsi_swap(&request(7)).await;
    assert_eq!(got, Ok(SwapOutcome::Confirmed));

    let calls = double.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.path, "/gsma/rsp2/es2plus/imsiSwap");
    assert_eq!(c.headers["content-type"], "application/json");
    assert!(c.headers["x-admin-protocol"].starts_with("gsma/rsp/v2."));
    assert!(
        !c.headers.contains_key("authorization"),
        "no token configured"
    );
    assert_eq!(
        c.body,
        serde_json::json!({
            "header": {
                "functionRequesterIdentifier": "gyro-test",
                "functionCallIdentifier": "gyro-swap-7",
            },
            "iccid": "8938501000000000017",
            "slot": 2,
            "oldImsi": "297010000000017",
            "newImsi": "276020000000033",
        })
    );
    let swaps = double.swaps();
    assert_eq!(swaps.len(), 1);
    assert_eq!(
        (swaps[0].slot, swaps[0].new_imsi.as_str()),
        (2, "276020000000033")
    );
}

#[tokio::test]
async fn failed_is_a_final_refusal_with_the_vendors_codes() {
    let double = OtaDouble::start();
    double.set_mode(Mode::Fail {
        subject_code: "8.2.1".into(),
        reason_code: "3.9".into(),
        message: "ICCID unknown".into(),
    });
    let v = vendor(&double, None);
    let (got, attempts) = swap_with_retries(&v, &request(8)).await;
    assert_eq!(
        got,
        Ok(SwapOutcome::Refused {
            subject_code: "8.2.1".into(),
            reason_code: "3.9".into(),
            message: "ICCID unknown".into(),
        })
    );
    assert_eq!(attempts, 1, "a refusal is not retried");
    assert!(double.swaps().is_empty());
}

#[tokio::test]
async fn a_slow_vendor_times_out_retryably_and_the_retry_does_not_swap_twice() {
    let double = OtaDouble::start();
    double.set_mode(Mode::Slow(TIMEOUT * 4));
    let v = vendor(&double, None);
    let started = Instant::now();
    let got = v.imsi_swap(&request(9)).await;
    let took = started.elapsed();
    assert_eq!(got, Err(VendorError::Timeout(TIMEOUT)));
    assert!(got.is_err_and(|e| e.is_retryable()));
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(400),
        "timed out after {took:?}"
    );

    // The vendor swapped; only its answer was lost. The retry carries the
    // same call identifier and gets the first answer back at once.
    let again = v.imsi_swap(&request(9)).await;
    assert_eq!(again, Ok(SwapOutcome::Confirmed));
    assert_eq!(double.swaps().len(), 1);
    assert_eq!(double.duplicates(), 1);
}

#[tokio::test]
async fn unavailable_twice_then_confirmed_with_one_call_identifier() {
    let double = OtaDouble::start();
    double.glitch_first(2, Glitch::Unavailable);
    let v = vendor(&double, None);
    let (got, attempts) = swap_with_retries(&v, &request(10)).await;
    assert_eq!(got, Ok(SwapOutcome::Confirmed));
    assert_eq!(attempts, 3);
    let calls = double.calls();
    assert_eq!(calls.len(), 3);
    assert!(
        calls.iter().all(|c| c.call_id == "gyro-swap-10"),
        "{calls:?}"
    );
    let seen: Vec<_> = calls.iter().map(|c| c.handled_as).collect();
    assert_eq!(seen, ["glitch", "glitch", "swap"]);
    assert_eq!(double.swaps().len(), 1);
}

#[tokio::test]
async fn dropped_connections_are_retried_until_the_vendor_answers() {
    let double = OtaDouble::start();
    double.glitch_first(1, Glitch::Drop);
    let v = vendor(&double, None);
    let first = v.imsi_swap(&request(11)).await;
    assert!(
        matches!(&first, Err(VendorError::Transport(_))),
        "{first:?}"
    );
    let (got, attempts) = swap_with_retries(&v, &request(11)).await;
    assert_eq!((got, attempts), (Ok(SwapOutcome::Confirmed), 1));
    assert_eq!(double.swaps().len(), 1);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_the_last_error() {
    let double = OtaDouble::start();
    double.glitch_first(100, Glitch::Unavailable);
    let v = vendor(&double, None);
    let (got, attempts) = swap_with_retries(&v, &request(12)).await;
    assert!(
        matches!(&got, Err(VendorError::Unavailable { status: 503, .. })),
        "{got:?}"
    );
    assert_eq!(attempts, 4, "[ota] max_attempts");
    assert_eq!(double.calls().len(), 4);
    assert!(double.swaps().is_empty());
}

#[tokio::test]
async fn the_same_call_twice_gets_the_same_answer_and_one_swap() {
    let double = OtaDouble::start();
    let v = vendor(&double, None);
    assert_eq!(v.imsi_swap(&request(13)).await, Ok(SwapOutcome::Confirmed));
    // Even after the vendor turned to refusing, the old call keeps its answer.
    double.set_mode(Mode::Fail {
        subject_code: "8.2.5".into(),
        reason_code: "3.7".into(),
        message: "no more".into(),
    });
    assert_eq!(v.imsi_swap(&request(13)).await, Ok(SwapOutcome::Confirmed));
    assert_eq!(double.swaps().len(), 1);
    assert_eq!(double.duplicates(), 1);
    // Another swap is another call.
    let refused = v.imsi_swap(&request(14)).await;
    assert!(
        matches!(refused, Ok(SwapOutcome::Refused { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_bearer_token_is_sent_when_configured() {
    let double = OtaDouble::start();
    let v = vendor(&double, Some("ota-test-token-123"));
    assert_eq!(v.imsi_swap(&request(15)).await, Ok(SwapOutcome::Confirmed));
    let calls = double.calls();
    assert_eq!(
        calls[0].headers["authorization"],
        "Bearer ota-test-token-123"
    );
    assert!(!format!("{v:?}").contains("ota-test-token-123"));
}

#[tokio::test]
async fn a_vendor_that_is_not_listening_is_a_retryable_transport_error() {
    let url = format!("http://127.0.0.1:{}", crate::support::free_port());
    let v = OtaVendor::from_config(&section(&url, None))
        .unwrap()
        .expect("a url is set");
    let started = Instant::now();
    let got = v.imsi_swap(&request(16)).await;
    assert!(matches!(&got, Err(VendorError::Transport(_))), "{got:?}");
    assert!(got.is_err_and(|e| e.is_retryable()));
    assert!(started.elapsed() < TIMEOUT);
}
