//! IMSI batch and eSIM profile imports:
//! - `POST /api/v1/batches?sponsor=S&name=N[&recycling=true][&end_of_life=true]`
//!   and `POST /api/v1/profiles?pool=P` with the CSV file as the body
//!   (`Content-Type: text/csv`): the body is spooled to disk as it
//!   arrives and checked line by line from there, so that a file of
//!   millions of lines is never held in memory;
//! - the same routes with a JSON body, for a few lines:
//!   `{"sponsor", "name", "recycling", "end_of_life", "imsis": [..] | "csv"}`
//!   and `{"pool", "csv"}`, at most `JSON_IMPORT_LIMIT` bytes.
//!
//! Either way a file with one bad line is rejected whole (422 naming each
//! line and field) and changes nothing; a good one is 201 with the count.

use std::collections::BTreeMap;
use std::io::BufReader;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{bad, blocking, body, door, ApiError, St};
use crate::inventory::import::BatchSpec;

/// Largest CSV upload, spooled to disk: a 1 M-IMSI batch is 16 MB, a
/// 1 M-profile file a few hundred.
pub const CSV_IMPORT_LIMIT: u64 = 1 << 30;

/// Largest JSON import body: it is parsed in memory.
pub const JSON_IMPORT_LIMIT: usize = 8 << 20;

/// What the import reads: a CSV body streams, anything else is JSON.
fn is_csv(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| matches!(t.trim(), "text/csv" | "text/plain"))
}

async fn json_body(b: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(b, JSON_IMPORT_LIMIT)
        .await
        .map_err(|_| {
            let m = format!(
                "a JSON import is at most {JSON_IMPORT_LIMIT} bytes: send the file as text/csv"
            );
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": m, "field": "body"}),
            )
        })
}

type Params = BTreeMap<String, String>;

fn param<'a>(q: &'a Params, key: &str) -> Result<&'a str, ApiError> {
    q.get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(key, "missing from the query"))
}

fn flag(q: &Params, key: &str) -> Result<bool, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(bad(key, "must be true or false")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    sponsor: String,
    name: String,
    #[serde(default)]
    recycling: bool,
    #[serde(default)]
    end_of_life: bool,
    /// Either a list of IMSIs or the CSV text.
    #[serde(default)]
    imsis: Option<Vec<String>>,
    #[serde(default)]
    csv: Option<String>,
}

/// A batch as its CSV body or JSON body gives it, and its lines' reader.
async fn batch_input(
    h: &HeaderMap,
    q: &Params,
    b: Body,
) -> Result<(BatchBody, Box<dyn std::io::Read + Send>), ApiError> {
    if is_csv(h) {
        let spec = BatchBody {
            sponsor: param(q, "sponsor")?.to_string(),
            name: param(q, "name")?.to_string(),
            recycling: flag(q, "recycling")?,
            end_of_life: flag(q, "end_of_life")?,
            imsis: None,
            csv: None,
        };
        let file = door::spool(b, CSV_IMPORT_LIMIT).await?;
        let input: Box<dyn std::io::Read + Send> = Box::new(BufReader::new(file));
        return Ok((spec, input));
    }
    let mut v: BatchBody = body(&json_body(b).await?)?;
    let text = match (v.imsis.take(), v.csv.take()) {
        (Some(list), None) => list.join("\n"),
        (None, Some(csv)) => csv,
        _ => {
            return Err(bad(
                "imsis",
                "give exactly one of imsis (a list) or csv (text)",
            ))
        }
    };
    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(text.into_bytes()));
    Ok((v, input))
}

pub(super) async fn post_batch(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<Params>,
    b: Body,
) -> Result<impl IntoResponse, ApiError> {
    let (v, input) = batch_input(&h, &q, b).await?;
    let inv = st.inventory.clone();
    let report = blocking(move || {
        let spec = BatchSpec {
            sponsor: &v.sponsor,
            name: &v.name,
            recycling: v.recycling,
            end_of_life: v.end_of_life,
        };
        inv.import_batch("api", &spec, "request body", input, &|_| {})
    })
    .await?;
    Ok((StatusCode::CREATED, Json(report)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesBody {
    pool: String,
    csv: String,
}

pub(super) async fn post_profiles(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<Params>,
    b: Body,
) -> Result<impl IntoResponse, ApiError> {
    let (pool, input): (String, Box<dyn std::io::Read + Send>) = if is_csv(&h) {
        let pool = param(&q, "pool")?.to_string();
        let file = door::spool(b, CSV_IMPORT_LIMIT).await?;
        (pool, Box::new(BufReader::new(file)))
    } else {
        let v: ProfilesBody = body(&json_body(b).await?)?;
        (v.pool, Box::new(std::io::Cursor::new(v.csv.into_bytes())))
    };
    let inv = st.inventory.clone();
    let report =
        blocking(move || inv.import_profiles("api", &pool, "request body", input, &|_| {})).await?;
    Ok((StatusCode::CREATED, Json(report)))
}
