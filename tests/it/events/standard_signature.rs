//! Outbound signatures cover the timestamp: every delivery carries the
//! Standard Webhooks `Webhook-Signature`, `v1,` and the base64
//! HMAC-SHA256 of `id.timestamp.body`, which the receiver checks with
//! openssl, beside the body-only `X-Gyro-Signature-256` that Debian's
//! `webhook` rule verifies.

use crate::support::webhook::{webhook_bin, Receiver};
use crate::support::*;

use super::hooks::*;

#[test]
fn every_delivery_is_signed_over_its_id_timestamp_and_body() {
    let Some(_) = webhook_bin() else { return };
    let rx = Receiver::start("ev-v1", "v1-receiver-secret");
    let tail = hook("provisioning", &rx.url(), "v1-receiver-secret", "");
    let mut g = Gyro::start_with_tail("ev-v1", "", &tail);
    onboard(&g, "Balkan Traveller 10-Day Pass");
    // The seed's two accounts and the new one.
    let got = rx.wait_for(3, 20);
    assert_eq!(of_type(&got, "Account/New").len(), 3, "{got:?}");
    for r in &got {
        assert_eq!(
            r.v1, "ok",
            "Webhook-Signature does not sign id.timestamp.body: {r:?}"
        );
        assert!(r.timestamp.parse::<i64>().is_ok(), "{r:?}");
    }
    g.stop();
}
