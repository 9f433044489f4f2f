//! MVNE location events on the admin listener:
//! - `POST /api/v1/events/location` `{"event_id", "imsi" | "iccid", "mcc",
//!   "mnc", "observed_at"}` with the bearer token, as an operator injects
//!   one (the MVNE's signed webhooks have a listener of their own,
//!   `webhook`): 202 once durably queued, 200 `{"duplicate": true}` for an
//!   event id seen before, 422 naming the field of a bad body, 400 for an
//!   `observed_at` ahead of the node's clock;
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
use crate::ota::intake::{Intake, IntakeError};

pub(super) fn intake(st: &super::ApiState) -> Result<Arc<Intake>, ApiError> {
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
            IntakeError::Future { field, message } => ApiError(
                StatusCode::BAD_REQUEST,
                json!({"error": message, "field": field}),
            ),
            IntakeError::Inventory(e) => e.into(),
        }
    }
}

pub(super) async fn post_location(
    State(st): St,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let intake = intake(&st)?;
    let (status, body) = accept(&intake, &b).await?;
    Ok((status, Json(body)))
}

/// Takes a checked and authenticated body in: its status and answer.
pub(super) async fn accept(
    intake: &Intake,
    b: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    // No blocking-pool hop: the parse and the apply stay on this worker,
    // and the task alone waits for the flusher.
    let a = intake.accept_async(b).await?;
    Ok(match a.outcome {
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
    })
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
