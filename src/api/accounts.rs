//! Onboarding's answer, and onboarding under an `Idempotency-Key`: a client
//! that did not hear the answer sends the same request with the same key
//! and gets the first answer back, status and body, without a second
//! account; the same key with another body is refused with 422.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{bad, blocking, ApiError, ApiState};
use crate::inventory::idempotency::{parse_key, Once};
use crate::model::{Account, Profile};
use crate::views::profile_view;

pub(super) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// 201 with the new account and its profile.
pub(super) fn created(account: &Account, profile: &Profile) -> Response {
    let (status, body) = rendered(account, profile);
    (status, Json(body)).into_response()
}

fn rendered(account: &Account, profile: &Profile) -> (StatusCode, serde_json::Value) {
    (
        StatusCode::CREATED,
        json!({"account": account, "profile": profile_view(profile)}),
    )
}

/// Onboards once per key (see `Inventory::onboard_once`).
pub(super) async fn onboard_once(
    st: &ApiState,
    key: &HeaderValue,
    product: String,
    msisdn: Option<String>,
) -> Result<Response, ApiError> {
    let key = key
        .to_str()
        .map_err(|_| bad("Idempotency-Key", "visible ASCII characters only"))?;
    let key = parse_key(key)?;
    let request = json!({"product": product, "msisdn": msisdn});
    let inv = st.inventory.clone();
    let once = blocking(move || {
        inv.onboard_once(
            &key,
            request,
            ("api", &product, msisdn.as_deref()),
            |a, p| {
                let (status, body) = rendered(a, p);
                (status.as_u16(), body)
            },
        )
    })
    .await?;
    match once {
        Once::Answer {
            status,
            body,
            replayed,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
            let mut r = (status, Json(body)).into_response();
            if replayed {
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            Ok(r)
        }
        Once::KeyReused => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "error": "this Idempotency-Key came before with another request body: use a new key for a new request",
                "field": "Idempotency-Key",
            }),
        )),
    }
}
