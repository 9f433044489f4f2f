//! How the admin API and the CLI show gyro's records: the JSON of
//! accounts, bundle periods, eSIM swaps, profiles and orders, and the HTTP
//! status and body an inventory error answers with. Both edges print the
//! same thing, so it lives below both.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::inventory::esim_swap::EsimSwap;
use crate::inventory::InventoryError;
use crate::model::lifecycle::BundlePeriod;
use crate::model::order::Order;
use crate::model::{iccid_grouped, rfc3339, Account, Profile};

/// An account as `GET /api/v1/accounts/{id}` shows it.
pub fn account_json(a: &Account, p: &BundlePeriod) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["bundle"] = period_json(p);
    v
}

/// An eSIM swap's answer: the account, its new profile and the old one.
pub fn swap_json(s: &EsimSwap) -> Value {
    json!({
        "account": account_json(&s.account, &s.period),
        "profile": profile_view(&s.profile),
        "old_profile": s.old_profile.as_ref().map(profile_view),
    })
}

/// A bundle period as the API shows it (times in RFC 3339).
pub fn period_json(p: &BundlePeriod) -> Value {
    json!({
        "account": p.account,
        "product": p.product,
        "period_start": rfc3339(p.start),
        "period_end": p.end.map(rfc3339),
        "auto_renew": p.auto_renew,
        "renewals": p.renewals,
    })
}

/// A profile as the API shows it: no secrets.
pub fn profile_view(p: &Profile) -> Value {
    json!({
        "iccid": p.iccid,
        "iccid_grouped": iccid_grouped(&p.iccid),
        "pool": p.pool,
        "imsis": p.imsis,
        "transport_key_label": p.transport_key_label,
        "state": p.state,
    })
}

/// The order as the API and the CLI show it.
pub fn order_json(o: &Order, with_profiles: bool) -> Value {
    let mut v = json!({
        "id": o.id,
        "state": o.state.name(),
        "pool": o.pool,
        "count": o.profiles.len(),
        "imsis_per_profile": o.imsis_per_profile,
        "batches": o.batches,
        "sponsors": o.sponsors,
        "rules": {"least_cost": o.least_cost, "profit_guarantee": o.profit_guarantee},
        "file": o.file,
        "created_at": o.created_at,
        "actor": o.actor,
        "perso": o.perso,
        "first_iccid": o.profiles.first().map(|p| &p.iccid),
        "last_iccid": o.profiles.last().map(|p| &p.iccid),
        "rejections": o.rejections,
    });
    if let Ok(Value::Object(state)) = serde_json::to_value(&o.state) {
        for (k, x) in state {
            if k != "state" {
                v[k] = x;
            }
        }
    }
    if with_profiles {
        v["profiles"] = json!(o.profiles);
    }
    v
}

/// The status and JSON body the API answers an inventory error with; the
/// CLI on a store reports errors the same way.
pub fn inventory_error(e: InventoryError) -> (StatusCode, Value) {
    let msg = e.to_string();
    match e {
        InventoryError::Invalid { field, message } => (
            StatusCode::BAD_REQUEST,
            json!({"error": message, "field": field}),
        ),
        InventoryError::NotFound { what, id } => (
            StatusCode::NOT_FOUND,
            json!({"error": msg, "field": what, "value": id}),
        ),
        InventoryError::Conflict(_) | InventoryError::OutOfStock(_) | InventoryError::Export(_) => {
            (StatusCode::CONFLICT, json!({"error": msg}))
        }
        InventoryError::Rejected { file, errors } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": format!("{file}: rejected, nothing imported"), "lines": errors}),
        ),
        InventoryError::Blocked {
            blockers, count, ..
        } => (
            StatusCode::CONFLICT,
            json!({"error": msg, "blockers": blockers, "blocked": count}),
        ),
        InventoryError::SwapRequired { reason, .. } => (
            StatusCode::CONFLICT,
            json!({"error": msg, "esim_swap_required": true, "reason": reason}),
        ),
        InventoryError::Store(_) | InventoryError::Interrupted(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": msg}))
        }
    }
}
