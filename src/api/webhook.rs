//! The MVNE's location webhooks on their own listener (`ota.listen`):
//! one route, `POST /api/v1/events/location`, and nothing of the admin API
//! (every other path is 404 there). A webhook is signed the Standard
//! Webhooks way under `ota.webhook_secret`: `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` are checked before the body
//! is read (401 naming the header at fault), the signature once it is; a
//! webhook-id taken in within the tolerance window is answered 200
//! `{"duplicate": true}` without effect. The answers are otherwise the
//! admin route's (`location`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::location::{accept, intake};
use super::{ApiError, ApiState, St, LOCATION_BODY_LIMIT};
use crate::ota::intake::{Refused, SignedHeaders, Verdict, EVENTS};

/// The webhook listener's router.
pub fn webhook_router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/events/location", post(post_signed))
        .with_state(state)
}

fn refused(e: Refused) -> Response {
    metrics::counter!(EVENTS, "result" => "rejected").increment(1);
    match e {
        Refused::Unsigned { header, message } => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": message, "field": header})),
        )
            .into_response(),
        Refused::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json(json!({"error": Refused::Busy.to_string()})),
        )
            .into_response(),
    }
}

fn signed_headers(h: &HeaderMap) -> SignedHeaders<'_> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    SignedHeaders {
        id: get("webhook-id"),
        timestamp: get("webhook-timestamp"),
        signature: get("webhook-signature"),
        body_signature: get("x-gyro-signature-256"),
    }
}

async fn post_signed(State(st): St, h: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let intake = intake(&st)?;
    let Some(verifier) = intake.verifier() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "ota.webhook_secret is not set"}),
        ));
    };
    let signed = signed_headers(&h);
    let now = intake.now();
    if let Err(e) = verifier.precheck(&signed, now) {
        return Ok(refused(e));
    }
    let b = axum::body::to_bytes(body, LOCATION_BODY_LIMIT)
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("a location webhook is at most {LOCATION_BODY_LIMIT} bytes"), "field": "body"}),
            )
        })?;
    match verifier.verify(&signed, &b, now) {
        Err(e) => return Ok(refused(e)),
        Ok(Verdict::Replay) => {
            metrics::counter!(EVENTS, "result" => "duplicate").increment(1);
            let id = signed.id.unwrap_or_default();
            let answer = json!({"duplicate": true, "webhook_id": id});
            return Ok((StatusCode::OK, Json(answer)).into_response());
        }
        Ok(Verdict::Fresh) => {}
    }
    let (status, answer) = accept(&intake, &b).await?;
    verifier.taken(&signed, now);
    Ok((status, Json(answer)).into_response())
}
