//! MVNE location webhooks:
//! - `POST /api/v1/events/location` `{"event_id", "imsi" | "iccid", "mcc",
//!   "mnc", "observed_at"}`, with the bearer token or an
//!   `X-Gyro-Signature-256` HMAC of the body under `[ota] webhook_secret`:
//!   202 once durably queued, 200 `{"duplicate": true}` for an event id
//!   seen before, 422 naming the field of a bad body;
//! - `GET /api/v1/events/location/pending`: the pending records, earliest
//!   due first, and how many were drained since the start.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{authorize, blocking, ApiError, St};
use crate::inventory::location_updates::{Offered, PendingLocation};
use crate::model::rfc3339;
use crate::ota::intake::{Intake, IntakeError, EVENTS};

pub(super) const SIGNATURE: &str = "x-gyro-signature-256";

fn intake(st: &super::ApiState) -> Result<Arc<Intake>, ApiError> {
    st.location.clone().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "location intake is not running"}),
        )
    })
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid { field, message } => ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": message, "field": field}),
            ),
            IntakeError::Inventory(e) => e.into(),
        }
    }
}

pub(super) async fn post_location(
    State(st): St,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let intake = intake(&st)?;
    let signature = h.get(SIGNATURE).and_then(|v| v.to_str().ok());
    // Either proof will do: the MVNE signs, an operator uses the token.
    if !intake.signed(signature, &b) {
        if let Err(e) = authorize(&st, &h) {
            metrics::counter!(EVENTS, "result" => "rejected").increment(1);
            return Err(e);
        }
    }
    // No blocking-pool hop: the parse and the apply stay on this worker,
    // and the task alone waits for the flusher.
    let a = intake.accept_async(&b).await?;
    let reply = match a.outcome {
        Offered::Duplicate => (
            StatusCode::OK,
            json!({"duplicate": true, "event_id": a.event_id, "iccid": a.iccid}),
        ),
        o => (
            StatusCode::ACCEPTED,
            json!({
                "queued": o != Offered::Superseded,
                "coalesced": o != Offered::Queued,
                "event_id": a.event_id,
                "iccid": a.iccid,
            }),
        ),
    };
    Ok((reply.0, Json(reply.1)))
}

fn pending_json(p: &PendingLocation) -> serde_json::Value {
    let e = &p.event;
    json!({
        "event_id": e.event_id,
        "iccid": e.iccid,
        "imsi": e.imsi,
        "mcc": e.mcc,
        "mnc": e.mnc,
        "observed_at": rfc3339(e.observed_at),
        "received_at": rfc3339(e.received_at),
        "first_received": rfc3339(p.first_received),
        "due": rfc3339(p.due),
        "coalesced": p.coalesced,
    })
}

pub(super) async fn get_pending(
    State(st): St,
    h: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let intake = intake(&st)?;
    let q = intake.queue().clone();
    let pending = blocking(move || q.pending()).await?;
    let rows: Vec<_> = pending.iter().map(pending_json).collect();
    Ok(Json(json!({
        "pending": rows,
        "count": rows.len(),
        "drained": intake.queue().drained(),
    })))
}
