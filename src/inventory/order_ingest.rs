//! The SM-DP+'s answers to an order, into the store: the Standard file's
//! profiles become Available in the pool in one commit (all or nothing, so a
//! crash mid-way leaves the order open and its IMSIs reserved), and the
//! Perso rows are kept per ICCID.

use std::collections::HashMap;

use super::store::{StorageExt, WriteBatch};
use super::LineError;
use super::{Conflict, Inventory, InventoryError};
use crate::model::order::*;
use crate::model::*;

const PERSO: &str = "perso/";

/// What an ingested Standard file did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ingested {
    pub order: u64,
    pub pool: String,
    pub profiles: u64,
}

impl Inventory {
    /// Loads the order's profiles (parsed and checked against it by the
    /// caller; checked again here under the writers' lock, since the order
    /// may have changed meanwhile).
    pub fn ingest_order(
        &self,
        actor: &str,
        id: u64,
        file: &str,
        profiles: Vec<Profile>,
    ) -> Result<Ingested, InventoryError> {
        let mut stock = self.lock();
        let mut order = self.open_order(id)?;
        let errors = self.check_against(&order, &profiles)?;
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        let mut b = WriteBatch::default();
        let mut imsis = Vec::with_capacity(profiles.len() * order.batches.len());
        for p in &profiles {
            b.put(format!("profile/{}", p.iccid), p);
            for (slot, imsi) in p.imsis.iter().enumerate() {
                let rec = Imsi {
                    imsi: imsi.clone(),
                    batch: order.batches[slot].clone(),
                    sponsor: order.sponsors[slot].clone(),
                    state: ImsiState::Embedded {
                        profile: p.iccid.clone(),
                        slot: slot as u8 + 1,
                    },
                };
                b.put(format!("imsi/{imsi}"), &rec);
                imsis.push(rec);
            }
        }
        order.state = OrderState::Ingested {
            ingested_at: self.now(),
        };
        b.put(super::orders::order_key(id), &order);
        let after = serde_json::json!({"order": id, "count": profiles.len(), "file": file});
        self.audit(
            &mut b,
            actor,
            "ingest-order",
            &order.pool,
            None,
            Some(after),
        )?;
        let sponsors = &order.sponsors;
        let added = profiles.iter().map(|_| sponsors.as_slice());
        self.stock_refilled(&stock, &order.pool, added, &mut b)?;
        self.commit(b)?;
        for i in &imsis {
            self.index.put_imsi(i);
        }
        for p in &profiles {
            self.index.put_profile(p);
            stock.added(&order.pool, &p.iccid, sponsors.clone());
        }
        Ok(Ingested {
            order: id,
            pool: order.pool.clone(),
            profiles: profiles.len() as u64,
        })
    }

    /// Faults of `profiles` against the order: the same ICCIDs with the
    /// same IMSIs, those still reserved for it, and no ICCID already in the
    /// inventory. Lines count from 1 over the profiles.
    fn check_against(
        &self,
        order: &Order,
        profiles: &[Profile],
    ) -> Result<Vec<LineError>, InventoryError> {
        let mut errors = vec![];
        let mut fault = |line: usize, field: &str, value: &str, reason: &str| {
            errors.push(LineError {
                line,
                field: field.into(),
                value: value.into(),
                reason: reason.into(),
            })
        };
        if profiles.len() != order.profiles.len() {
            let n = profiles.len().to_string();
            let why = format!("the order has {} profiles", order.profiles.len());
            fault(0, "rows", &n, &why);
        }
        let want: HashMap<&str, &OrderProfile> = order
            .profiles
            .iter()
            .map(|p| (p.iccid.as_str(), p))
            .collect();
        for (n, p) in profiles.iter().enumerate() {
            let line = n + 1;
            match want.get(p.iccid.as_str()) {
                None => fault(line, "iccid", &p.iccid, "not in the order"),
                Some(o) if o.imsis != p.imsis => {
                    fault(line, "imsi", &p.imsis.join(" "), "not the order's IMSIs")
                }
                Some(_) => {}
            }
            if self.store.exists(&format!("profile/{}", p.iccid))? {
                fault(line, "iccid", &p.iccid, "already in the inventory");
            }
            for imsi in &p.imsis {
                let reserved = self.imsi(imsi)?.map(|i| i.state)
                    == Some(ImsiState::Reserved { order: order.id });
                if !reserved {
                    fault(line, "imsi", imsi, "no longer reserved for the order");
                }
            }
        }
        Ok(errors)
    }

    /// Keeps an order's Perso rows, one record per ICCID. Every ICCID must
    /// be the order's, and all of them must be there.
    pub fn store_perso(
        &self,
        actor: &str,
        id: u64,
        file: &str,
        rows: Vec<Perso>,
    ) -> Result<usize, InventoryError> {
        let _w = self.lock();
        let mut order = self.order(id)?;
        if matches!(order.state, OrderState::Cancelled { .. }) {
            let state = order.state.name();
            return Err(Conflict::OrderClosed { order: id, state }.into());
        }
        let mut errors = vec![];
        let ours: std::collections::HashSet<&str> =
            order.profiles.iter().map(|p| p.iccid.as_str()).collect();
        for (n, r) in rows.iter().enumerate() {
            if !ours.contains(r.iccid.as_str()) {
                errors.push(LineError {
                    line: n + 1,
                    field: "iccid".into(),
                    value: r.iccid.clone(),
                    reason: "not in the order".into(),
                });
            }
        }
        if rows.len() != order.profiles.len() {
            errors.push(LineError {
                line: 0,
                field: "rows".into(),
                value: rows.len().to_string(),
                reason: format!("the order has {} profiles", order.profiles.len()),
            });
        }
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        let mut b = WriteBatch::default();
        for r in &rows {
            b.put(format!("{PERSO}{}", r.iccid), r);
        }
        order.perso = true;
        b.put(super::orders::order_key(id), &order);
        let after = serde_json::json!({"order": id, "count": rows.len(), "file": file});
        self.audit(&mut b, actor, "store-perso", &order.pool, None, Some(after))?;
        self.commit(b)?;
        Ok(rows.len())
    }

    /// A profile's Perso row, if its order's Perso file came.
    pub fn perso(&self, iccid: &str) -> Result<Option<Perso>, InventoryError> {
        Ok(self.store.get(&format!("{PERSO}{iccid}"))?)
    }
}
