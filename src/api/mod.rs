//! The admin HTTP API (`/api/v1/…`, JSON, bearer token): inventory
//! definitions, imports, onboarding, the lifecycle, stock, export, look-ups
//! and the rating reload. Errors are JSON bodies naming the field at fault.
//! `door` checks the token before any body is read and gates the imports;
//! `webhook` is the location webhooks' own listener (`ota.listen`).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::inventory::stock::StockBy;
use crate::inventory::{Inventory, InventoryError};
use crate::model::*;
use crate::views::profile_view;

mod accounts;
mod audit;
mod batches;
mod bundle;
mod door;
mod events;
mod imports;
mod lifecycle;
mod location;
mod orders;
mod ota;
mod proxy;
mod reload;
mod sessions;
mod webhook;

pub use door::IMPORTS_AT_ONCE;
pub use webhook::webhook_router;

pub struct ApiState {
    pub inventory: Arc<Inventory>,
    /// The embedded OCS, for balances (absent in CLI-only use).
    pub engine: Option<Arc<crate::charging::engine::Engine>>,
    /// Where the engine's rating is reloaded from (absent with no engine).
    pub rating: Option<Arc<crate::rating::source::RatingSource>>,
    /// RAR and ASR to the gateways (absent with no engine).
    pub server_initiated: Option<Arc<crate::charging::server_initiated::ServerInitiated>>,
    pub token: String,
    pub stock_alert_below: u64,
    /// The outbox and its webhooks (absent in CLI-only use).
    pub events: Option<Arc<crate::events::Events>>,
    /// Renewal, closure, the test clock (absent in CLI-only use).
    pub lifecycle: Option<Arc<crate::lifecycle::Lifecycle>>,
    /// Profile orders and SM-DP+ output files.
    pub orders: Option<Arc<crate::profilegen::desk::OrderDesk>>,
    /// Woken when an order is created, so that its file goes out at once.
    pub orders_created: Option<Arc<tokio::sync::Notify>>,
    /// MVNE location webhooks.
    pub location: Option<Arc<crate::ota::intake::Intake>>,
}

type St = State<Arc<ApiState>>;

pub struct ApiError(StatusCode, serde_json::Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        let (status, body) = crate::views::inventory_error(e);
        ApiError(status, body)
    }
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        json!({"error": message, "field": field}),
    )
}

/// A numeric id from a path segment; 400 naming `what` it should be.
fn path_id(id: &str, what: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| bad("id", &format!("{what} id is a whole number")))
}

fn authorize(st: &ApiState, h: &HeaderMap) -> Result<(), ApiError> {
    let ok = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), st.token.as_bytes()));
    if ok {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong bearer token", "field": "Authorization"}),
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs a blocking inventory call off the async workers (imports and
/// commits touch the disk).
async fn blocking<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": e.to_string()}),
            )
        })?
        .map_err(Into::into)
}

/// Parses a JSON body, turning serde's complaint into a 400 naming the field.
fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let m = e.to_string();
        let field = m.split('`').nth(1).unwrap_or("body").to_string();
        ApiError(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("invalid JSON body: {m}"), "field": field}),
        )
    })
}

/// Largest location webhook body: a few short fields.
const LOCATION_BODY_LIMIT: usize = 16 << 10;

/// Largest Perso or Standard output file taken by `orders/ingest`.
const INGEST_BODY_LIMIT: usize = 1 << 30;

/// The routes that carry whole files, streamed (`imports`), a few at once.
fn imports_routes() -> Router<Arc<ApiState>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(IMPORTS_AT_ONCE));
    let gated = || axum::middleware::from_fn_with_state(gate.clone(), door::import_gate);
    Router::new()
        .route(
            "/api/v1/batches",
            post(imports::post_batch).route_layer(gated()),
        )
        .route(
            "/api/v1/profiles",
            post(imports::post_profiles).route_layer(gated()),
        )
        .route(
            "/api/v1/orders/ingest",
            post(orders::post_ingest)
                .layer(DefaultBodyLimit::max(INGEST_BODY_LIMIT))
                .route_layer(gated()),
        )
}

/// The admin API. Every route is behind the bearer token, checked from
/// the headers before any body is read; the imports share a gate of
/// `IMPORTS_AT_ONCE`.
pub fn router(state: Arc<ApiState>) -> Router {
    imports_routes()
        .route("/api/v1/sponsors", post(post_sponsor))
        .route("/api/v1/products", post(post_product))
        .route("/api/v1/pools", post(post_pool))
        .route("/api/v1/pools/{name}", patch(batches::patch_pool))
        .route("/api/v1/dynamic-pools", post(post_dynamic_pool))
        .route("/api/v1/dynamic-pools/{name}/fill", post(post_fill))
        .route("/api/v1/hold-policy", put(put_hold_policy))
        .route("/api/v1/batches/{name}", batches::routes())
        .route("/api/v1/profiles/{iccid}", get(get_profile))
        .route("/api/v1/profiles/{iccid}/perso", get(orders::get_perso))
        .route(
            "/api/v1/profiles/{iccid}/decisions",
            get(ota::get_decisions),
        )
        .route("/api/v1/profiles/{iccid}/swaps", get(ota::get_swaps))
        .route("/api/v1/pools/{name}/orders", post(orders::post_order))
        .route("/api/v1/orders", get(orders::get_orders))
        .route(
            "/api/v1/orders/{id}",
            get(orders::get_order).delete(orders::delete_order),
        )
        .route("/api/v1/orders/{id}/input", get(orders::get_order_input))
        .route("/api/v1/accounts", post(post_account))
        .route(
            "/api/v1/accounts/{id}",
            get(get_account).patch(lifecycle::patch_account),
        )
        .route("/api/v1/accounts/{id}/renew", post(lifecycle::post_renew))
        .route("/api/v1/accounts/{id}/close", post(lifecycle::post_close))
        .route("/api/v1/accounts/{id}/bundle", post(bundle::post_bundle))
        .route(
            "/api/v1/accounts/{id}/esim-swap",
            post(bundle::post_esim_swap),
        )
        .route(
            "/api/v1/clock",
            get(lifecycle::get_clock).post(lifecycle::post_clock),
        )
        .route("/api/v1/accounts/{id}/balance", get(sessions::get_balance))
        .route("/api/v1/accounts/{id}/reauth", post(sessions::post_reauth))
        .route("/api/v1/accounts/{id}/abort", post(sessions::post_abort))
        .route("/api/v1/imsis/{imsi}", get(get_imsi))
        .route("/api/v1/audit/imsi/{imsi}", get(audit::get_imsi_audit))
        .route("/api/v1/stock", get(get_stock))
        .route("/api/v1/events", get(events::get_events))
        .route("/api/v1/events/{id}/retry", post(events::post_retry))
        .route(
            "/api/v1/events/location",
            post(location::post_location).layer(DefaultBodyLimit::max(LOCATION_BODY_LIMIT)),
        )
        .route(
            "/api/v1/events/location/pending",
            get(location::get_pending),
        )
        .route("/api/v1/charging/parked", get(sessions::get_parked_usage))
        .route("/api/v1/proxy/journal/parked", get(proxy::get_parked))
        .route(
            "/api/v1/proxy/journal/parked/{id}/retry",
            post(proxy::post_retry),
        )
        .route("/api/v1/export", get(get_export))
        .route("/api/v1/reload", post(reload::post_reload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            door::require_token,
        ))
        .with_state(state)
}

macro_rules! define {
    ($name:ident, $ty:ty, $method:ident) => {
        async fn $name(
            State(st): St,
            h: HeaderMap,
            b: axum::body::Bytes,
        ) -> Result<impl IntoResponse, ApiError> {
            authorize(&st, &h)?;
            let v: $ty = body(&b)?;
            let inv = st.inventory.clone();
            let out = v.clone();
            blocking(move || inv.$method("api", &v)).await?;
            Ok((StatusCode::CREATED, Json(out)))
        }
    };
}

define!(post_sponsor, Sponsor, define_sponsor);
define!(post_product, Product, define_product);
define!(post_pool, EsimPool, define_pool);
define!(post_dynamic_pool, DynamicImsiPool, define_dynamic_pool);
define!(put_hold_policy, HoldPolicy, set_hold_policy);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    product: String,
    #[serde(default)]
    msisdn: Option<String>,
}

async fn post_account(
    State(st): St,
    h: HeaderMap,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let v: AccountBody = body(&b)?;
    if let Some(key) = h.get(accounts::IDEMPOTENCY_KEY) {
        return accounts::onboard_once(&st, key, v.product, v.msisdn).await;
    }
    let inv = st.inventory.clone();
    let (account, profile) =
        blocking(move || inv.onboard("api", &v.product, v.msisdn.as_deref())).await?;
    Ok(accounts::created(&account, &profile))
}

async fn get_account(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let a = account(&st, &id).await?;
    let bundle = lifecycle::period_of(&st, a.id).await?;
    let mut v = serde_json::to_value(&a).unwrap_or_default();
    v["bundle"] = bundle;
    Ok(Json(v))
}

/// The account named by a path segment: 400 if it is not a number, 404 if
/// there is no such account.
async fn account(st: &ApiState, id: &str) -> Result<Account, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| bad("id", "account ids are numbers"))?;
    let inv = st.inventory.clone();
    blocking(move || inv.account(id)).await?.ok_or_else(|| {
        InventoryError::NotFound {
            what: "account",
            id: id.to_string(),
        }
        .into()
    })
}

async fn get_profile(
    State(st): St,
    h: HeaderMap,
    Path(iccid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let iccid: String = iccid.chars().filter(|c| !c.is_whitespace()).collect();
    let inv = st.inventory.clone();
    let key = iccid.clone();
    let p = blocking(move || inv.profile(&key)).await?;
    p.map(|p| Json(profile_view(&p))).ok_or_else(|| {
        InventoryError::NotFound {
            what: "profile",
            id: iccid,
        }
        .into()
    })
}

async fn get_imsi(
    State(st): St,
    h: HeaderMap,
    Path(imsi): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    if imsi.is_empty() || imsi.len() > 15 || !imsi.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("imsi", "an IMSI is 6 to 15 digits"));
    }
    let inv = st.inventory.clone();
    let now = st.inventory.now();
    let key = imsi.clone();
    let (rec, profile, account) = blocking(move || {
        let rec = inv.imsi(&key)?;
        let profile = match rec.as_ref().map(|r| &r.state) {
            Some(ImsiState::Embedded { profile, .. }) => inv.profile(profile)?,
            _ => None,
        };
        let account = match profile.as_ref().map(|p| &p.state) {
            Some(ProfileState::Assigned { account }) => inv.account(*account)?,
            _ => None,
        };
        Ok::<_, InventoryError>((rec, profile, account))
    })
    .await?;
    let rec = rec.ok_or(InventoryError::NotFound {
        what: "imsi",
        id: imsi.clone(),
    })?;
    let resolution = crate::resolver::resolve::resolution_json(
        &st.inventory.index().resolve_imsi(&imsi, None, now),
    );
    Ok(Json(json!({
        "imsi": rec,
        "profile": profile.as_ref().map(profile_view),
        "account": account,
        "resolution": resolution,
    })))
}

#[derive(Deserialize)]
struct StockQuery {
    by: Option<String>,
}

async fn get_stock(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<StockQuery>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let by = match q.by.as_deref().unwrap_or("sponsor") {
        "sponsor" => StockBy::Sponsor,
        "product" => StockBy::Product,
        _ => return Err(bad("by", "must be sponsor or product")),
    };
    let inv = st.inventory.clone();
    let alert = st.stock_alert_below;
    let lines = blocking(move || inv.stock(by, alert)).await?;
    Ok(Json(lines))
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

async fn get_export(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    authorize(&st, &h)?;
    if q.format.as_deref().unwrap_or("portabilling") != "portabilling" {
        return Err(bad("format", "the only export format is portabilling"));
    }
    let inv = st.inventory.clone();
    let bytes = blocking(move || {
        let mut out = vec![];
        inv.export_portabilling(&mut out)?;
        Ok::<_, InventoryError>(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv")], bytes).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FillBody {
    batch: String,
    count: u64,
}

/// Moves available IMSIs of a batch into a dynamic IMSI pool.
async fn post_fill(
    State(st): St,
    h: HeaderMap,
    Path(name): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let v: FillBody = body(&b)?;
    let inv = st.inventory.clone();
    let moved = blocking(move || inv.fill_dynamic_pool("api", &name, &v.batch, v.count)).await?;
    Ok(Json(json!({"moved": moved})))
}
