//! The IMSI audit, who held an IMSI and when:
//! - `GET /api/v1/audit/imsi/{imsi}`: its whole holding history, oldest
//!   first;
//! - `GET /api/v1/audit/imsi/{imsi}?at=RFC3339`: the holding in force then,
//!   404 naming why when nobody held it.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{authorize, blocking, lifecycle::instant, ApiError, St};

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    at: Option<String>,
}

pub(super) async fn get_imsi_audit(
    State(st): St,
    h: HeaderMap,
    Path(imsi): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let Some(at) = q.at else {
        let trail = blocking(move || inv.audit_imsi(&imsi)).await?;
        return Ok(Json(trail).into_response());
    };
    // A '+' of an offset arrives as a space unless the client encoded it.
    let at = instant("at", &at.replace(' ', "+"))?;
    match blocking(move || inv.audit_imsi_at(&imsi, at)).await? {
        Ok(v) => Ok(Json(v).into_response()),
        Err(n) => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": n.message, "field": "at", "record": n.record}),
        )),
    }
}
