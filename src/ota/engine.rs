//! The swap engine: what a coalesced location event sets going. It prices
//! the profile's IMSIs, the subscriber's held IMSIs and the product's
//! dynamic pools in the visited country (`decision`), records the decision,
//! and for a swap orders it in the store, then drives the OTA vendor until
//! the swap is confirmed or failed. Swaps left ordered by a crash are
//! driven again at start, with the same `functionCallIdentifier`, so a
//! vendor that already swapped answers as before and nothing swaps twice.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::decision::{decide, Action, Candidate, Decision, DecisionInput, PriceBook, Source};
use super::intake::LocationSink;
use super::vendor::{OtaVendor, SwapOutcome, SwapRequest};
use crate::inventory::ota_swap::{NewImsi, SwapOrder};
use crate::inventory::{Inventory, InventoryError};
use crate::model::ota::ImsiSwap;
use crate::model::ota::Located;
use crate::model::{Plmn, ProfileState};
use crate::rating::Rating;

/// The rating in force (the charging engine's).
pub type RatingNow = Arc<dyn Fn() -> Arc<Rating> + Send + Sync>;

pub struct OtaEngine {
    inventory: Arc<Inventory>,
    rating: RatingNow,
    min_saving: Decimal,
    /// None: swaps are decided and recorded, never ordered (`[ota] url`).
    vendor: Option<Arc<OtaVendor>>,
    runtime: tokio::runtime::Handle,
}

impl OtaEngine {
    pub fn new(
        inventory: Arc<Inventory>,
        rating: RatingNow,
        min_saving: Decimal,
        vendor: Option<Arc<OtaVendor>>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<OtaEngine> {
        Arc::new(OtaEngine {
            inventory,
            rating,
            min_saving,
            vendor,
            runtime,
        })
    }

    /// Drives the swaps a previous run left ordered.
    pub fn resume(self: &Arc<Self>) -> Result<usize, InventoryError> {
        let open = self.inventory.open_imsi_swaps()?;
        let n = open.len();
        for s in open {
            self.spawn_drive(s);
        }
        Ok(n)
    }

    /// The decision for the profile in country `mcc`, recorded.
    pub fn decide_for(&self, iccid: &str, mcc: &str) -> Result<Decision, InventoryError> {
        let (candidates, product) = self.candidates(iccid)?;
        let catalog = self.inventory.index().catalog();
        let rating = (self.rating)();
        let book = PriceBook::new(&rating, &catalog.sponsors);
        // The networks the subscriber's bundle covers; none without one.
        let bundle = product.as_deref().and_then(|name| {
            let i = catalog.product_index(name)?;
            Some((catalog.product_rate_codes(i), &catalog.products[i as usize]))
        });
        let covers = |plmn: Plmn| {
            bundle.is_some_and(|(codes, p)| {
                rating.covers(codes, &p.rate_code_groups, plmn.rate_code())
            })
        };
        let input = DecisionInput {
            iccid,
            mcc,
            candidates: &candidates,
            covers: &covers,
        };
        let d = decide(&input, &book, self.min_saving);
        let mut recorded = serde_json::to_value(&d).unwrap_or_default();
        recorded["at"] = serde_json::json!(self.inventory.now());
        self.inventory.record_decision(iccid, &recorded)?;
        metrics::counter!("gyro_ota_decisions_total", "action" => action_name(&d.action))
            .increment(1);
        Ok(d)
    }

    /// The profile's IMSIs, those held for its subscriber out of this very
    /// profile, and one entry
    /// per (dynamic pool of its product, sponsor) with stock, with the
    /// subscriber's product. A pool entry names no IMSI: the store picks
    /// one when the swap is ordered.
    fn candidates(&self, iccid: &str) -> Result<(Vec<Candidate>, Option<String>), InventoryError> {
        let inv = &self.inventory;
        let profile = inv
            .profile(iccid)?
            .ok_or_else(|| InventoryError::NotFound {
                what: "profile",
                id: iccid.into(),
            })?;
        let ProfileState::Assigned { account } = profile.state else {
            return Ok((vec![], None));
        };
        let mut out = vec![];
        for (i, imsi) in profile.imsis.iter().enumerate() {
            let sponsor = inv.imsi(imsi)?.map(|r| r.sponsor).unwrap_or_default();
            out.push(Candidate {
                imsi: imsi.clone(),
                sponsor,
                source: Source::Profile { slot: i as u8 + 1 },
            });
        }
        for h in inv.held_for(account)? {
            // Held for this eSIM only (not the old profile's after an eSIM
            // swap), and never from a batch at its end of life.
            let this_esim = inv.last_profile_of(&h.imsi.imsi)?.as_deref() == Some(iccid);
            let ending = inv.batch(&h.imsi.batch).map_or(true, |b| b.end_of_life);
            if !this_esim || ending {
                continue;
            }
            out.push(Candidate {
                imsi: h.imsi.imsi.clone(),
                sponsor: h.imsi.sponsor.clone(),
                source: Source::Held,
            });
        }
        let product = inv.account(account)?.map(|a| a.product).unwrap_or_default();
        let pools = inv.dynamic_pools()?;
        for ((pool, sponsor), n) in inv.dynamic_stock() {
            let serves = pools
                .iter()
                .any(|p| p.name == pool && p.products.contains(&product));
            if n > 0 && serves {
                out.push(Candidate {
                    imsi: String::new(),
                    sponsor,
                    source: Source::Pool { pool },
                });
            }
        }
        Ok((out, Some(product)))
    }

    /// Decides, and orders what the decision says (a swap already in
    /// flight for the profile is left to finish).
    fn handle(self: &Arc<Self>, l: &Located) -> Result<(), InventoryError> {
        let d = self.decide_for(&l.iccid, &l.mcc)?;
        let Action::Swap {
            slot,
            old_imsi,
            new,
            profile_price,
            new_price,
            ..
        } = &d.action
        else {
            tracing::info!(iccid = %l.iccid, mcc = %l.mcc, action = ?d.action, "location: no change required");
            return Ok(());
        };
        if self.vendor.is_none() {
            tracing::warn!(iccid = %l.iccid, mcc = %l.mcc, "a cheaper IMSI exists, but [ota] url is not set: no swap ordered");
            return Ok(());
        }
        let new = match &new.source {
            Source::Pool { pool } => NewImsi::FromPool {
                pool: pool.clone(),
                sponsor: new.sponsor.clone(),
            },
            _ => NewImsi::Held {
                imsi: new.imsi.clone(),
            },
        };
        let order = SwapOrder {
            iccid: l.iccid.clone(),
            slot: *slot,
            old_imsi: old_imsi.clone(),
            new,
            mcc: l.mcc.clone(),
            old_price: *profile_price,
            new_price: *new_price,
        };
        match self.inventory.order_imsi_swap("ota", &order) {
            Ok(swap) => {
                tracing::info!(iccid = %swap.iccid, swap = swap.id, old = %swap.old_imsi, new = %swap.new_imsi, mcc = %swap.mcc, "OTA IMSI swap ordered");
                self.spawn_drive(swap);
                Ok(())
            }
            Err(InventoryError::Conflict(why)) => {
                tracing::info!(iccid = %l.iccid, %why, "swap not ordered");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Drives the swap under supervision: a panic drives it again (the
    /// vendor de-duplicates by the swap's `functionCallIdentifier`).
    fn spawn_drive(self: &Arc<Self>, swap: ImsiSwap) {
        let me = self.clone();
        let _in = self.runtime.enter();
        crate::supervise::spawn("ota_swap", move || {
            let (me, swap) = (me.clone(), swap.clone());
            async move {
                me.drive(swap).await;
                Ok::<(), std::convert::Infallible>(())
            }
        });
    }

    /// Calls the vendor until it gives a verdict or the attempts run out;
    /// every attempt is counted in the store before it is made.
    async fn drive(self: Arc<Self>, swap: ImsiSwap) {
        let Some(vendor) = self.vendor.clone() else {
            return;
        };
        let req = SwapRequest {
            swap_id: swap.id,
            iccid: swap.iccid.clone(),
            slot: swap.slot,
            old_imsi: swap.old_imsi.clone(),
            new_imsi: swap.new_imsi.clone(),
        };
        let mut made = swap.attempts;
        loop {
            let Some(wait) = vendor.retry().next_delay(made, swap.id) else {
                self.settle(
                    swap.id,
                    Err(format!("no answer from the OTA vendor in {made} attempts")),
                )
                .await;
                return;
            };
            tokio::time::sleep(wait).await;
            let inv = self.inventory.clone();
            let id = swap.id;
            match tokio::task::spawn_blocking(move || inv.imsi_swap_attempt(id)).await {
                Ok(Ok(s)) => made = s.attempts,
                other => {
                    tracing::error!(swap = swap.id, result = ?other.map(|r| r.map(|_| ())), "cannot count an OTA attempt; retrying");
                    made += 1;
                    continue;
                }
            }
            match vendor.imsi_swap(&req).await {
                Ok(SwapOutcome::Confirmed) => return self.settle(swap.id, Ok(())).await,
                Ok(SwapOutcome::Refused {
                    subject_code,
                    reason_code,
                    message,
                }) => {
                    let why = format!("refused {subject_code}/{reason_code}: {message}");
                    return self.settle(swap.id, Err(why)).await;
                }
                Err(e) if e.is_retryable() => {
                    metrics::counter!("gyro_ota_vendor_errors_total").increment(1);
                    tracing::warn!(swap = swap.id, attempt = made, error = %e, "OTA vendor call failed; retrying");
                }
                Err(e) => return self.settle(swap.id, Err(e.to_string())).await,
            }
        }
    }

    /// Applies the verdict in the store (confirm or fail), trying again
    /// while the store fails: the vendor has acted, and the swap must not
    /// wait for the next start to be settled.
    async fn settle(&self, id: u64, verdict: Result<(), String>) {
        let mut backoff = crate::supervise::Backoff::default();
        let r = loop {
            let inv = self.inventory.clone();
            let v = verdict.clone();
            let r = tokio::task::spawn_blocking(move || match &v {
                Ok(()) => inv.confirm_imsi_swap("ota", id),
                Err(why) => inv.fail_imsi_swap("ota", id, why),
            })
            .await;
            let Ok(Err(InventoryError::Store(e))) = &r else {
                break r;
            };
            let wait = backoff.after(std::time::Duration::ZERO);
            tracing::warn!(swap = id, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot settle the OTA swap: the store failed; trying again");
            tokio::time::sleep(wait).await;
        };
        let outcome = if verdict.is_ok() {
            "confirmed"
        } else {
            "failed"
        };
        metrics::counter!("gyro_ota_swaps_total", "outcome" => outcome).increment(1);
        match (r, verdict) {
            (Ok(Ok(s)), Ok(())) => {
                tracing::info!(swap = id, iccid = %s.iccid, new = %s.new_imsi, "OTA IMSI swap confirmed")
            }
            (Ok(Ok(s)), Err(why)) => {
                tracing::warn!(swap = id, iccid = %s.iccid, %why, "OTA IMSI swap failed; the new IMSI went back")
            }
            (other, _) => {
                tracing::error!(swap = id, result = ?other.map(|r| r.map(|_| ())), "cannot settle the OTA swap; it is resumed at the next start")
            }
        }
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Keep { .. } => "keep",
        Action::Swap { .. } => "swap",
    }
}

impl LocationSink for Arc<OtaEngine> {
    fn located(&self, l: &Located) -> Result<(), String> {
        super::intake::LogSink.located(l)?;
        self.handle(l).map_err(|e| e.to_string())
    }
}
