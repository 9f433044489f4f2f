//! Profile orders for eSIM profiles from the SM-DP+:
//! - `POST /api/v1/pools/{name}/orders` `{"count": N, "imsis_per_profile": K,
//!   "batches": {"1": "B1", "2": "B2"}, "rules": ["least-cost",
//!   "profit-guarantee"]}` (rules optional: both): 201 with the order;
//! - `GET /api/v1/orders`, `GET /api/v1/orders/{id}` (`?profiles=true` adds
//!   the ICCIDs and IMSIs), `GET /api/v1/orders/{id}/input` (the file sent);
//! - `DELETE /api/v1/orders/{id}`: cancels, releasing the IMSIs;
//! - `POST /api/v1/orders/ingest?file=NAME` with an output file as the body
//!   (Standard or Perso): 200, or 422 listing every fault;
//! - `GET /api/v1/profiles/{iccid}/perso`: the profile's Perso row.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{authorize, bad, body, ApiError, ApiState, St};
use crate::inventory::orders::OrderRequest;
use crate::profilegen::desk::{DeskError, OrderDesk};
use crate::profilegen::rules::rule_options;
use crate::views::order_json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    count: u32,
    imsis_per_profile: usize,
    batches: BTreeMap<String, String>,
    #[serde(default)]
    rules: Option<Vec<String>>,
}

fn desk(st: &ApiState) -> Result<Arc<OrderDesk>, ApiError> {
    st.orders.clone().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "profile orders are not served by this node"}),
        )
    })
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Inventory(e) => e.into(),
            DeskError::Rejected {
                file,
                order,
                errors,
            } => ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": format!("{file}: rejected, nothing loaded"), "order": order,
                       "faults": errors.total, "lines": errors.errors}),
            ),
            DeskError::Duplicate { order } => ApiError(
                StatusCode::CONFLICT,
                json!({"error": e.to_string(), "order": order, "duplicate": true}),
            ),
            other => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": other.to_string()}),
            ),
        }
    }
}

pub(super) async fn post_order(
    State(st): St,
    h: HeaderMap,
    Path(pool): Path<String>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let ob: OrderBody = body(&b)?;
    let mut batches = vec![];
    for (pos, name) in ob.batches {
        let p = pos
            .parse::<usize>()
            .map_err(|_| bad("batches", &format!("'{pos}': positions are 1 to 10")))?;
        batches.push((p, name));
    }
    let (least_cost, profit_guarantee) =
        rule_options(ob.rules.as_deref()).map_err(|m| bad("rules", &m))?;
    let req = OrderRequest {
        pool,
        count: ob.count,
        imsis_per_profile: ob.imsis_per_profile,
        batches,
        least_cost,
        profit_guarantee,
    };
    let d = desk(&st)?;
    let order = super::blocking(move || d.create("api", &req)).await?;
    if let Some(wake) = &st.orders_created {
        wake.notify_one();
    }
    Ok((StatusCode::CREATED, Json(order_json(&order, false))))
}

pub(super) async fn get_orders(State(st): St, h: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let orders = super::blocking(move || inv.orders()).await?;
    let list: Vec<Value> = orders.iter().map(|o| order_json(o, false)).collect();
    Ok(Json(list))
}

#[derive(Deserialize)]
pub(super) struct OrderQuery {
    #[serde(default)]
    profiles: bool,
}

fn order_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| bad("id", &format!("'{s}': an order id is a number")))
}

pub(super) async fn get_order(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<OrderQuery>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let id = order_id(&id)?;
    let inv = st.inventory.clone();
    let o = super::blocking(move || inv.order(id)).await?;
    Ok(Json(order_json(&o, q.profiles)))
}

pub(super) async fn get_order_input(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let id = order_id(&id)?;
    let inv = st.inventory.clone();
    let text = super::blocking(move || inv.order_input(id)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    ))
}

pub(super) async fn delete_order(
    State(st): St,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let id = order_id(&id)?;
    let inv = st.inventory.clone();
    let o = super::blocking(move || inv.cancel_order("api", id)).await?;
    Ok(Json(order_json(&o, false)))
}

#[derive(Deserialize)]
pub(super) struct IngestQuery {
    file: Option<String>,
}

pub(super) async fn post_ingest(
    State(st): St,
    h: HeaderMap,
    Query(q): Query<IngestQuery>,
    b: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let file = q.file.unwrap_or_else(|| "upload".into());
    let d = desk(&st)?;
    let taken = super::blocking(move || d.ingest("api", &file, &b)).await?;
    Ok(Json(taken))
}

pub(super) async fn get_perso(
    State(st): St,
    h: HeaderMap,
    Path(iccid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&st, &h)?;
    let inv = st.inventory.clone();
    let key = iccid.clone();
    let p = super::blocking(move || inv.perso(&key)).await?;
    let p = p.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no Perso data for profile '{iccid}'"), "field": "iccid", "value": iccid}),
        )
    })?;
    let fields: serde_json::Map<String, Value> = p
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let names: Vec<&str> = std::iter::once("ICCID")
        .chain(p.fields.iter().map(|(k, _)| k.as_str()))
        .collect();
    let row: Vec<&str> = std::iter::once(p.iccid.as_str())
        .chain(p.fields.iter().map(|(_, v)| v.expose()))
        .collect();
    Ok(Json(json!({
        "iccid": p.iccid,
        "order": p.order,
        "fields": fields,
        "var_out": names.join("/"),
        "row": row.join(" "),
    })))
}
