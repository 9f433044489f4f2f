//! The outbox, for operators:
//! - `GET /api/v1/events?state=pending|delivered|dead&after=ID&limit=N`:
//!   events after ID (oldest first), each with every hook's delivery, and
//!   `next_after` for the next page; secrets are never shown here;
//! - `POST /api/v1/events/{id}/retry`: a dead-lettered event is delivered
//!   again by every hook that gave up on it (409 when none had).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{authorize, bad, blocking, path_id, ApiError, St};
use crate::events::EventState;

const MAX_LIMIT: usize = 1000;

fn events(st: &super::ApiState) -> Result<std::sync::Arc<crate::events::Events>, ApiError> {
    st.events.clone().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "events are not running"}),
        )
    })
}

pub(super) async fn get_events(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let state = match q.get("state").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(s) => Some(
            EventState::parse(s).ok_or_else(|| bad("state", "one of pending, delivered, dead"))?,
        ),
    };
    let number = |key: &str, default: u64| -> Result<u64, ApiError> {
        q.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| bad(key, "must be a whole number"))
        })
    };
    let after = number("after", 0)?;
    let limit = number("limit", 100)?;
    if limit == 0 || limit > MAX_LIMIT as u64 {
        return Err(bad("limit", "must be 1 to 1000"));
    }
    let ev = events(&st)?;
    let (rows, next) = blocking(move || ev.list(state, after, limit as usize)).await?;
    Ok(Json(json!({"events": rows, "next_after": next})))
}

pub(super) async fn post_retry(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let id = path_id(&id, "an event")?;
    let ev = events(&st)?;
    let hooks = blocking(move || ev.retry(id)).await?;
    Ok(Json(json!({"event_id": id, "retried": hooks})))
}
