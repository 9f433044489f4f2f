//! An account's charging: `GET /api/v1/accounts/{id}/balance` (what its
//! bundle allows and what it used), and requests to its open charging
//! sessions, sent to the gateways that hold them:
//! - `POST /api/v1/accounts/{id}/reauth`: a RAR to each, so that a top-up
//!   or a renewal applies now (the gateway asks for quota again);
//! - `POST /api/v1/accounts/{id}/abort`: an ASR to each, for an operator
//!   (and, later, the profile lifecycle) to cut a subscriber off.
//!
//! Both answer once every session has its answer or its Tx passed, with
//! one line per session: the gateway and the Result-Code, or the error.
//!
//! And `GET /api/v1/charging/parked`: the fair-usage events the store could
//! never raise (a record that does not decode), set aside so that charging
//! goes on, each with its account, its event and the error.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{account, authorize, ApiError, St};
use crate::charging::server_initiated::{Outcome, ServerInitiated};

async fn target(
    st: &super::ApiState,
    h: &HeaderMap,
    id: &str,
) -> Result<(u64, Arc<ServerInitiated>), ApiError> {
    authorize(st, h)?;
    let account = account(st, id).await?;
    let Some(si) = st.server_initiated.clone() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "charging is not running"}),
        ));
    };
    Ok((account.id, si))
}

fn reply(account: u64, sessions: Vec<Outcome>) -> Json<serde_json::Value> {
    Json(json!({"account": account, "sessions": sessions}))
}

pub(super) async fn post_reauth(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, si) = target(&st, &h, &id).await?;
    Ok(reply(account, si.reauth_account(account).await))
}

pub(super) async fn post_abort(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, si) = target(&st, &h, &id).await?;
    Ok(reply(account, si.abort_sessions_of_account(account).await))
}

/// The account's allowances and usage in the current period.
pub(super) async fn get_balance(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let account = account(&st, &id).await?;
    let id = account.id;
    let Some(engine) = &st.engine else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "charging is not running"}),
        ));
    };
    let b = engine.ledger.balance(id);
    let rating = engine.rating();
    let bundle = rating.bundle(&account.product);
    Ok(Json(json!({
        "account": id,
        "product": account.product,
        "data": {
            "allowance_octets": bundle.map(|b| b.data_octets),
            "used_octets": b.used.data_octets,
            "reserved_octets": b.reserved_data,
            "fup_octets": bundle.and_then(|b| b.fup_octets),
            "fup_crossed": b.used.fup_crossed,
        },
        "voice": {
            "allowance_seconds": bundle.map(|b| b.voice_seconds),
            "used_seconds": b.used.voice_seconds,
            "reserved_seconds": b.reserved_voice,
        },
        "sms": {
            "allowance": bundle.map(|b| b.sms),
            "used": b.used.sms,
            "reserved": b.reserved_sms,
        },
    })))
}

pub(super) async fn get_parked_usage(
    State(st): St,
    h: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let parked = super::blocking(move || inv.parked_usage()).await?;
    Ok(Json(json!({"parked": parked})))
}
