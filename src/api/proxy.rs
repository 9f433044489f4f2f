//! Proxy mode's failsafe journal, for operators:
//! - `GET /api/v1/proxy/journal/parked`: the locally answered requests the
//!   upstream OCS refused, each with the refusal and how many of its
//!   session's later requests wait behind it;
//! - `POST /api/v1/proxy/journal/parked/{id}/retry`: the entry is presented
//!   to the OCS again (within a second), then its session's later ones.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{authorize, blocking, path_id, ApiError, St};
use crate::inventory::proxy_journal::JournalEntry;
use crate::model::rfc3339;

fn parked_view(e: &JournalEntry, all: &[JournalEntry]) -> Option<serde_json::Value> {
    let r = e.parked.as_ref()?;
    let behind = all
        .iter()
        .filter(|x| x.session_id == e.session_id && x.id > e.id)
        .count();
    Some(json!({
        "id": e.id,
        "answered_at": rfc3339(e.at),
        "session_id": e.session_id,
        "request_number": e.request_number,
        "account": e.account,
        "parked_at": rfc3339(r.at),
        "upstream": r.upstream,
        "result_code": r.result_code,
        "mscc_result_codes": r.mscc_result_codes,
        "error_message": r.error_message,
        "attempts": e.attempts,
        "waiting_behind": behind,
    }))
}

pub(super) async fn get_parked(State(st): St, h: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let all = blocking(move || inv.journal()).await?;
    let parked: Vec<serde_json::Value> = all.iter().filter_map(|e| parked_view(e, &all)).collect();
    let pending = all.iter().filter(|e| e.parked.is_none()).count();
    Ok(Json(json!({"parked": parked, "pending": pending})))
}

pub(super) async fn post_retry(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let id = path_id(&id, "a journal entry")?;
    let inv = st.inventory.clone();
    match blocking(move || inv.journal_unpark(id)).await? {
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no journal entry {id} (acknowledged, or never there)"), "field": "id"}),
        )),
        Some(e) if e.parked.is_none() => Err(ApiError(
            StatusCode::CONFLICT,
            json!({"error": format!("journal entry {id} is not parked: it is being presented"), "field": "id"}),
        )),
        Some(_) => Ok(Json(json!({"id": id, "retried": true}))),
    }
}
