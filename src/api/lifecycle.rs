//! The subscriber lifecycle, for operators and self-care:
//! - `POST /api/v1/accounts/{id}/renew`: a new bundle period from now;
//! - `POST /api/v1/accounts/{id}/close`: closure;
//! - `PATCH /api/v1/accounts/{id}` `{"auto_renew": bool}`;
//! - `GET /api/v1/clock`, and `POST /api/v1/clock {"now": RFC 3339}` on a
//!   test clock (`node.test_clock`; 403 otherwise): moves it forward and
//!   runs every transition that fell due before it answers.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{account, authorize, bad, body, ApiError, St};
use crate::lifecycle::{Lifecycle, LifecycleError};
use crate::model::clock::ClockError;
use crate::model::rfc3339;
use crate::views::period_json;

pub(super) fn lifecycle(st: &super::ApiState) -> Result<std::sync::Arc<Lifecycle>, ApiError> {
    st.lifecycle.clone().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the lifecycle is not running"}),
        )
    })
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Inventory(e) => e.into(),
            LifecycleError::Clock(ClockError::NotTestClock) => ApiError(
                StatusCode::FORBIDDEN,
                json!({"error": e.to_string(), "field": "node.test_clock"}),
            ),
            LifecycleError::Clock(ClockError::Backwards) => ApiError(
                StatusCode::CONFLICT,
                json!({"error": e.to_string(), "field": "now"}),
            ),
            LifecycleError::Task(_) => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": e.to_string()}),
            ),
        }
    }
}

/// Parses an RFC 3339 instant (`2026-03-01T00:00:00Z`, any offset).
pub(super) fn instant(field: &str, s: &str) -> Result<i64, ApiError> {
    crate::model::parse_rfc3339(s).map_err(|e| bad(field, &e.to_string()))
}

pub(super) async fn post_renew(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    let p = lifecycle(&st)?.renew("api", a.id).await?;
    Ok(Json(period_json(&p)))
}

pub(super) async fn post_close(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    lifecycle(&st)?.close("api", a.id).await?;
    Ok(Json(json!({"account": a.id, "status": "closed"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    auto_renew: bool,
}

pub(super) async fn patch_account(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    let patch: AccountPatch = body(&b)?;
    let inv = st.inventory.clone();
    let p = super::blocking(move || inv.set_auto_renew("api", a.id, patch.auto_renew)).await?;
    Ok(Json(period_json(&p)))
}

/// The account's bundle period, for `GET /api/v1/accounts/{id}`.
pub(super) async fn period_of(
    st: &super::ApiState,
    id: u64,
) -> Result<serde_json::Value, ApiError> {
    let inv = st.inventory.clone();
    let p = super::blocking(move || inv.bundle_period(id)).await?;
    Ok(p.as_ref().map_or(serde_json::Value::Null, period_json))
}

pub(super) async fn get_clock(State(st): St, h: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let clock = st.inventory.clock();
    Ok(Json(
        json!({"now": rfc3339(clock.now()), "test_clock": clock.is_test()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    now: String,
}

pub(super) async fn post_clock(
    State(st): St,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let c: ClockBody = body(&b)?;
    let t = instant("now", &c.now)?;
    let (now, transitions) = lifecycle(&st)?.advance_clock(t).await?;
    Ok(Json(
        json!({"now": rfc3339(now), "transitions": transitions}),
    ))
}
