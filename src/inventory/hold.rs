//! IMSIs on hold: a hold starts when an IMSI leaves a profile
//! (closure, eSIM swap, OTA swap) and ends when its timer fires, sending it
//! where its origin and batch say. An IMSI held for its subscriber also gets
//! a `heldfor/<account>/<imsi>` key, so that the subscriber's held IMSIs are
//! found without scanning every hold; the IMSI record stays the truth, and
//! a key whose IMSI moved on is ignored.

use super::dynamic_pool::put_imsi;
use super::lifecycle::Effect;
use super::stock::Stock;
use super::store::{StorageExt, WriteBatch};
use super::{Inventory, InventoryError};
use crate::model::lifecycle::{HoldOrigin, ImsiHolding, Timer, TimerKind};
use crate::model::*;

const DAY: i64 = 86_400;
const HELD_FOR: &str = "heldfor/";

pub(super) fn held_for_key(account: u64, imsi: &str) -> String {
    format!("{HELD_FOR}{account:020}/{imsi}")
}

/// An IMSI on hold for a subscriber, and where it was held from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldImsi {
    pub imsi: Imsi,
    pub origin: HoldOrigin,
}

impl Inventory {
    /// Puts an IMSI on hold from `at` for the days its MCC's policy says
    /// (`reserved_for`: an IMSI kept for its subscriber, whom an OTA swap
    /// may give it back to); with no days it goes where a hold's end would
    /// send it at once.
    pub(crate) fn start_hold(
        &self,
        b: &mut WriteBatch,
        imsi: &str,
        origin: &HoldOrigin,
        reserved_for: Option<u64>,
        at: UnixTime,
    ) -> Result<Option<Imsi>, InventoryError> {
        let Some(mut rec) = self.imsi(imsi)? else {
            return Ok(None);
        };
        let was = rec.state.clone();
        let policy: HoldPolicy = self.store.get("policy/hold")?.unwrap_or_default();
        let days = match origin {
            HoldOrigin::DynamicPool { .. } => policy.dynamic_swap_days,
            HoldOrigin::Pool { .. } => policy
                .days_by_mcc
                .get(imsi.get(..3).unwrap_or(""))
                .copied()
                .unwrap_or(0),
        };
        b.put(
            format!("holdorigin/{imsi}"),
            &serde_json::to_value(origin).unwrap_or_default(),
        );
        if days == 0 {
            rec.state = self.after_hold(&rec, origin)?;
        } else {
            let until = at + i64::from(days) * DAY;
            rec.state = ImsiState::Hold {
                until,
                reserved_for,
            };
            let kind = TimerKind::HoldEnd {
                imsi: imsi.into(),
                until,
            };
            self.schedule(b, &Timer { due: until, kind })?;
            if let Some(a) = reserved_for {
                b.put(held_for_key(a, imsi), &serde_json::json!(until));
            }
        }
        put_imsi(b, &was, &rec);
        Ok(Some(rec))
    }

    /// Where an IMSI goes when its hold ends: end of life when its batch
    /// is, back to the dynamic pool it came from, available for new
    /// profiles when both its batch recycles and the eSIM pool it came from
    /// does, and end of life otherwise: a batch or pool that does not
    /// recycle never hands an IMSI out twice. The flags are read now, not at
    /// the hold's start, so that an operator may change them meanwhile.
    fn after_hold(&self, rec: &Imsi, origin: &HoldOrigin) -> Result<ImsiState, InventoryError> {
        let batch: Option<ImsiBatch> = self.store.get(&format!("batch/{}", rec.batch))?;
        let (recycling, eol) = batch.map_or((false, false), |b| (b.recycling, b.end_of_life));
        Ok(match origin {
            _ if eol => ImsiState::EndOfLife,
            HoldOrigin::DynamicPool { pool } => ImsiState::InDynamicPool { pool: pool.clone() },
            HoldOrigin::Pool { pool } if recycling && self.pool_recycles(pool)? => {
                ImsiState::Available
            }
            HoldOrigin::Pool { .. } => ImsiState::EndOfLife,
        })
    }

    fn pool_recycles(&self, pool: &str) -> Result<bool, InventoryError> {
        let p: Option<EsimPool> = self.store.get(&format!("pool/{pool}"))?;
        Ok(p.is_some_and(|p| p.recycle))
    }

    /// The hold ending `until` is over (a stale timer only goes).
    pub(crate) fn hold_end(
        &self,
        imsi: &str,
        until: UnixTime,
        mut b: WriteBatch,
        stock: &mut Stock,
    ) -> Result<Vec<Effect>, InventoryError> {
        let Some(mut rec) = self.imsi(imsi)? else {
            return self.stale(b);
        };
        if !matches!(rec.state, ImsiState::Hold { until: u, .. } if u == until) {
            return self.stale(b);
        }
        let origin = self.hold_origin(imsi)?;
        if let ImsiState::Hold {
            reserved_for: Some(a),
            ..
        } = rec.state
        {
            b.delete(held_for_key(a, imsi));
        }
        let after = self.after_hold(&rec, &origin)?;
        let was = std::mem::replace(&mut rec.state, after);
        put_imsi(&mut b, &was, &rec);
        b.delete(format!("holdorigin/{imsi}"));
        let event = match &rec.state {
            ImsiState::Available => "available",
            ImsiState::InDynamicPool { .. } => "dynamic_pool",
            _ => "end_of_life",
        };
        let h = ImsiHolding {
            at: until,
            event: event.into(),
            iccid: None,
            slot: None,
            account: None,
            msisdn: None,
            product: None,
            sponsor: rec.sponsor.clone(),
        };
        self.record_holding(&mut b, imsi, &h)?;
        let after = serde_json::to_value(&rec.state).ok();
        self.audit(
            &mut b,
            "lifecycle",
            "hold-end",
            &format!("imsi {imsi}"),
            None,
            after,
        )?;
        if let ImsiState::InDynamicPool { pool } = &rec.state {
            self.dynamic_refilled(stock, pool, 1, &mut b)?;
        }
        self.commit(b)?;
        if let ImsiState::InDynamicPool { pool } = &rec.state {
            stock.dynamic_moved(&rec, pool, true);
        }
        self.index.put_imsi(&rec);
        Ok(vec![])
    }

    /// Where a held IMSI came from (an unknown origin: no pool).
    fn hold_origin(&self, imsi: &str) -> Result<HoldOrigin, InventoryError> {
        Ok(self
            .store
            .get::<serde_json::Value>(&format!("holdorigin/{imsi}"))?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or(HoldOrigin::Pool {
                pool: String::new(),
            }))
    }

    /// The IMSIs on hold for `account` now, oldest key first.
    pub fn held_for(&self, account: u64) -> Result<Vec<HeldImsi>, InventoryError> {
        let prefix = format!("{HELD_FOR}{account:020}/");
        let mut imsis = Vec::new();
        self.store.visit(prefix.as_bytes(), &mut |k, _| {
            imsis.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            Ok(())
        })?;
        let mut out = Vec::new();
        for i in imsis {
            let Some(rec) = self.imsi(&i)? else { continue };
            if matches!(rec.state, ImsiState::Hold { reserved_for: Some(a), .. } if a == account) {
                let origin = self.hold_origin(&i)?;
                out.push(HeldImsi { imsi: rec, origin });
            }
        }
        Ok(out)
    }
}
