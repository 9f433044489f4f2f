//! Recycling and end of life for operators:
//! - `PATCH /api/v1/batches/{name}` `{"recycling": bool, "end_of_life": bool}`
//!   (either or both): the updated batch;
//! - `DELETE /api/v1/batches/{name}`: the batch and its IMSIs go once each is
//!   end of life or never used; 409 with the blocking IMSIs otherwise;
//! - `PATCH /api/v1/pools/{name}` `{"recycle": bool}`: the updated pool.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{patch, MethodRouter};
use axum::Json;
use serde_json::Value;

use super::{authorize, bad, blocking, ApiError, ApiState, St};
use crate::inventory::batches::BatchPatch;

pub(super) fn routes() -> MethodRouter<std::sync::Arc<ApiState>> {
    patch(patch_batch).delete(delete_batch)
}

/// The boolean flags of a PATCH body, each checked by name, so that a 400
/// names the field at fault (serde's own message does not for a wrong
/// type).
fn flags(bytes: &[u8], allowed: &[&str]) -> Result<Vec<(String, bool)>, ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad("body", &format!("invalid JSON body: {e}")))?;
    let Value::Object(m) = v else {
        return Err(bad("body", "the body is a JSON object"));
    };
    let expected = allowed.join(", ");
    let mut out = vec![];
    for (k, v) in m {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(&k, &format!("unknown field; expected {expected}")));
        }
        let on = v
            .as_bool()
            .ok_or_else(|| bad(&k, "must be true or false"))?;
        out.push((k, on));
    }
    if out.is_empty() {
        return Err(bad("body", &format!("give at least one of {expected}")));
    }
    Ok(out)
}

async fn patch_batch(
    State(st): St,
    h: HeaderMap,
    Path(name): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let mut p = BatchPatch::default();
    for (k, on) in flags(&b, &["recycling", "end_of_life"])? {
        match k.as_str() {
            "recycling" => p.recycling = Some(on),
            _ => p.end_of_life = Some(on),
        }
    }
    let inv = st.inventory.clone();
    let batch = blocking(move || inv.set_batch_flags("api", &name, p)).await?;
    Ok(Json(batch))
}

async fn delete_batch(
    State(st): St,
    h: HeaderMap,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let removed = blocking(move || inv.remove_batch("api", &name)).await?;
    Ok(Json(removed))
}

pub(super) async fn patch_pool(
    State(st): St,
    h: HeaderMap,
    Path(name): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    // `flags` gives one value or fails: the body's only key is "recycle".
    let recycle = flags(&b, &["recycle"])?.first().is_some_and(|(_, on)| *on);
    let inv = st.inventory.clone();
    let pool = blocking(move || inv.set_pool_recycle("api", &name, recycle)).await?;
    Ok(Json(pool))
}
