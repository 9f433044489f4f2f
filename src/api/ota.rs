//! Dynamic IMSIs, what the swap engine did for a profile:
//! - `GET /api/v1/profiles/{iccid}/decisions`: every decision, swap or not
//!   ("no change required" too), oldest first, with the prices compared;
//! - `GET /api/v1/profiles/{iccid}/swaps`: its OTA swaps and their states
//!   (ordered, confirmed, failed).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;

use super::{authorize, blocking, ApiError, St};

pub(super) async fn get_decisions(
    State(st): St,
    h: HeaderMap,
    Path(iccid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let list = blocking(move || inv.decisions(&iccid)).await?;
    Ok(Json(list))
}

pub(super) async fn get_swaps(
    State(st): St,
    h: HeaderMap,
    Path(iccid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let list = blocking(move || inv.imsi_swaps_of(&iccid)).await?;
    Ok(Json(list))
}
