//! The admin API's door: who may come in, and how much each may bring.
//! The bearer token is checked from the headers before any handler runs,
//! so a request without it is answered 401 before a byte of its body is
//! read. Imports pass a gate of a few at a time (503 with Retry-After past
//! it, the upload left unread), and their bodies are spooled to an
//! unlinked temporary file as they arrive instead of being held in memory.

use std::io::{Seek, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Semaphore;

use super::{authorize, ApiError, ApiState};

/// Imports running at once; one more is answered 503. Each holds its
/// file's parse state (about a hundred bytes per line), so that a few
/// uploads cannot take the node's memory.
pub const IMPORTS_AT_ONCE: usize = 2;

/// What a refused import is told to wait, in seconds.
const RETRY_AFTER_SECS: &str = "5";

/// Chunks in flight between the socket and the spool file.
const SPOOL_CHUNKS: usize = 16;

/// Every admin route: the token, from the headers alone, or 401.
pub(super) async fn require_token(
    State(st): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    match authorize(&st, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The import routes: a permit of `IMPORTS_AT_ONCE`, held until the
/// answer, or 503 before the body is read.
pub(super) async fn import_gate(
    State(gate): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    let Ok(permit) = gate.try_acquire_owned() else {
        let body = json!({"error": format!(
            "{IMPORTS_AT_ONCE} imports are running already; retry later"
        )});
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
            Json(body),
        )
            .into_response();
    };
    let answer = next.run(req).await;
    drop(permit);
    answer
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": format!("spooling the upload: {e}")}),
    )
}

/// A new file only this process can read, already unlinked, so that it
/// goes with its handle whatever happens (a crash included).
fn unlinked_temp_file() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("gyro-upload-{}-{n}", std::process::id()));
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match opened {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The request body as it arrives, written to an unlinked temporary file
/// and rewound: at most `limit` bytes (413 past it); an upload cut short
/// is a 400 and nothing is imported.
pub(super) async fn spool(body: Body, limit: u64) -> Result<std::fs::File, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(SPOOL_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || {
        let mut f = std::io::BufWriter::new(unlinked_temp_file()?);
        while let Some(chunk) = rx.blocking_recv() {
            f.write_all(&chunk)?;
        }
        let mut f = f.into_inner().map_err(|e| e.into_error())?;
        f.rewind()?;
        Ok::<_, std::io::Error>(f)
    });
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    let mut refused = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                total += c.len() as u64;
                if total > limit {
                    refused = Some(ApiError(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        json!({"error": format!("an upload is at most {limit} bytes"), "field": "body"}),
                    ));
                    break;
                }
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                refused = Some(ApiError(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("the upload was cut short: {e}"), "field": "body"}),
                ));
                break;
            }
        }
    }
    drop(tx);
    let file = writer.await.map_err(internal)?.map_err(internal)?;
    match refused {
        Some(e) => Err(e),
        None => Ok(file),
    }
}
