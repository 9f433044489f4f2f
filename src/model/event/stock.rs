//! Stock events: a stock level fell low, and a batch left the inventory.

use serde_json::json;

use super::{EventDraft, EventType};
use crate::model::{ImsiBatch, Sponsor};

/// Which stock level fell low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockScope<'a> {
    Pool(&'a str),
    Sponsor(&'a str),
    /// IMSIs waiting in a dynamic pool.
    DynamicPool(&'a str),
}

/// Stock fell below its threshold (once per crossing).
pub fn stock_low(scope: StockScope<'_>, product: &str, level: u64, threshold: u64) -> EventDraft {
    let mut variables = json!({"product": product, "level": level, "threshold": threshold});
    match scope {
        StockScope::Pool(p) => variables["pool"] = json!(p),
        StockScope::Sponsor(s) => variables["sponsor"] = json!(s),
        StockScope::DynamicPool(p) => variables["dynamic_pool"] = json!(p),
    }
    EventDraft {
        event_type: EventType::StockLow,
        account: None,
        variables,
    }
}

/// A batch left the inventory with its IMSIs: the sponsor may
/// take them back. Their holding history stays for audit.
pub fn batch_removed(batch: &ImsiBatch, sponsor: &Sponsor, removed: u64) -> EventDraft {
    EventDraft {
        event_type: EventType::BatchRemoved,
        account: None,
        variables: json!({
            "batch": batch.name,
            "sponsor": sponsor.name,
            "sponsor_id": sponsor.id,
            "imsis_removed": removed,
        }),
    }
}
