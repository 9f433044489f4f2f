//! `POST /api/v1/reload`: the rating reload SIGHUP also makes, over HTTP,
//! so that an operator (or a deployment job) sees at once whether the new
//! file was taken and, if not, the line at fault.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::{authorize, ApiError, St};

/// Reloads the rating file, as SIGHUP does: 200 with what is now in force,
/// or 422 naming the file, line and key at fault, the running version kept.
pub(super) async fn post_reload(
    State(st): St,
    h: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let (Some(engine), Some(rating)) = (st.engine.clone(), st.rating.clone()) else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "charging is not running"}),
        ));
    };
    let outcome =
        tokio::task::spawn_blocking(move || rating.reload("api", |r| engine.replace_rating(r)))
            .await
            .map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": e.to_string()}),
                )
            })?;
    match outcome {
        Ok(done) => Ok(Json(json!({
            "reloaded": true,
            "file": done.file,
            "bundles": done.bundles,
            "tariffs": done.tariffs,
            "rate_code_groups": done.rate_code_groups,
        }))),
        Err(e) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": e.to_string()}),
        )),
    }
}
