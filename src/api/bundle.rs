//! Bundle change and eSIM swap, for self-care and operators:
//! - `POST /api/v1/accounts/{id}/bundle {"product": P}`: the account runs
//!   on P from now, on the eSIM it has; 409 with `esim_swap_required` when
//!   that eSIM cannot serve P;
//! - `POST /api/v1/accounts/{id}/esim-swap {"product": P}`: a new eSIM
//!   profile for P, the old one disposed; 409 when P's pools are empty.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::lifecycle::lifecycle;
use super::{account, authorize, body, ApiError, St};
use crate::views::{account_json, swap_json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    product: String,
}

pub(super) async fn post_bundle(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    let v: ProductBody = body(&b)?;
    let (a, p) = lifecycle(&st)?
        .change_bundle("api", a.id, &v.product)
        .await?;
    Ok(Json(account_json(&a, &p)))
}

pub(super) async fn post_esim_swap(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    let v: ProductBody = body(&b)?;
    let s = lifecycle(&st)?.esim_swap("api", a.id, &v.product).await?;
    Ok(Json(swap_json(&s)))
}
