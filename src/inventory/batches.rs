//! Recycling and end of life: an IMSI batch's flags, an eSIM
//! pool's `recycle`, and the removal of a batch whose IMSIs are all spent.
//! Each change is one batch with its audit record, like every other write.

use serde::Serialize;

use super::compact::{view, ImsiW};
use super::store::{decode, StorageExt, WriteBatch};
use super::{invalid, Inventory, InventoryError};
use crate::model::event;
use crate::model::lifecycle::ImsiHolding;
use crate::model::*;

/// At most this many IMSIs in use are listed when a removal is refused.
const MAX_BLOCKERS: usize = 20;

/// `PATCH /batches/{name}`: the flags to change (None: as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchPatch {
    pub recycling: Option<bool>,
    pub end_of_life: Option<bool>,
}

/// An IMSI that keeps its batch from being removed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Blocker {
    pub imsi: String,
    pub state: String,
}

/// What a removal took away.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BatchRemoval {
    pub batch: String,
    pub sponsor: String,
    pub removed: u64,
}

fn state_name(s: &ImsiState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Inventory {
    pub fn batch(&self, name: &str) -> Result<ImsiBatch, InventoryError> {
        self.store
            .get(&format!("batch/{name}"))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "batch",
                id: name.into(),
            })
    }

    /// Every IMSI of `batch`, in key order. The store keeps no IMSIs by
    /// batch: this is one pass over all of them, which decodes only the
    /// batch's own (admin operations, not the charging path).
    pub(super) fn batch_imsis(&self, batch: &str) -> Result<Vec<Imsi>, InventoryError> {
        let mut out = vec![];
        self.store.visit(b"imsi/", &mut |k, v| {
            let maybe_ours = view::<ImsiW>(k, v)?.is_none_or(|w| w.batch == batch);
            if maybe_ours {
                let i: Imsi = decode(k, v)?;
                if i.batch == batch {
                    out.push(i);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// `PATCH /batches/{name}`. Setting `end_of_life` also retires every
    /// available IMSI of the batch at once (unused IMSIs reach their end of
    /// life now); those in profiles or on hold follow when their hold ends.
    pub fn set_batch_flags(
        &self,
        actor: &str,
        name: &str,
        patch: BatchPatch,
    ) -> Result<ImsiBatch, InventoryError> {
        if patch == BatchPatch::default() {
            return Err(invalid("body", "give recycling and/or end_of_life"));
        }
        let _w = self.lock();
        let before = self.batch(name)?;
        let mut after = before.clone();
        after.recycling = patch.recycling.unwrap_or(before.recycling);
        after.end_of_life = patch.end_of_life.unwrap_or(before.end_of_life);
        let mut b = WriteBatch::default();
        b.put(format!("batch/{name}"), &after);
        let retired = match patch.end_of_life {
            Some(true) => self.retire_available(&mut b, name)?,
            _ => vec![],
        };
        let mut logged = serde_json::to_value(&after).unwrap_or_default();
        logged["imsis_retired"] = retired.len().into();
        self.audit(
            &mut b,
            actor,
            "set-batch",
            &format!("batch {name}"),
            serde_json::to_value(&before).ok(),
            Some(logged),
        )?;
        self.commit(b)?;
        for i in &retired {
            self.index.put_imsi(i);
        }
        Ok(after)
    }

    /// Available IMSIs of `batch` become end of life. One that was used
    /// before (recycled) gets a trail record, so that an audit after this
    /// does not call it available.
    fn retire_available(
        &self,
        b: &mut WriteBatch,
        batch: &str,
    ) -> Result<Vec<Imsi>, InventoryError> {
        let at = self.now();
        let mut out = vec![];
        for mut i in self.batch_imsis(batch)? {
            if i.state != ImsiState::Available {
                continue;
            }
            i.state = ImsiState::EndOfLife;
            if self.has_history(&i.imsi)? {
                let h = ImsiHolding {
                    at,
                    event: "end_of_life".into(),
                    iccid: None,
                    slot: None,
                    account: None,
                    msisdn: None,
                    product: None,
                    sponsor: i.sponsor.clone(),
                };
                self.record_holding(b, &i.imsi, &h)?;
            }
            b.put(format!("imsi/{}", i.imsi), &i);
            out.push(i);
        }
        Ok(out)
    }

    /// `PATCH /pools/{name}` `{"recycle": bool}`.
    pub fn set_pool_recycle(
        &self,
        actor: &str,
        name: &str,
        recycle: bool,
    ) -> Result<EsimPool, InventoryError> {
        let _w = self.lock();
        let before = self.pool(name)?;
        let after = EsimPool {
            recycle,
            ..before.clone()
        };
        let mut b = WriteBatch::default();
        b.put(format!("pool/{name}"), &after);
        self.audit(
            &mut b,
            actor,
            "set-pool",
            &format!("pool {name}"),
            serde_json::to_value(&before).ok(),
            serde_json::to_value(&after).ok(),
        )?;
        self.commit(b)?;
        Ok(after)
    }

    /// `DELETE /batches/{name}`: the batch and its IMSI records go, once
    /// every IMSI is end of life or was never used (available, no trail);
    /// `Blocked` names those that are not. The IMSIs' trails stay, so an
    /// audit still answers for them.
    pub fn remove_batch(&self, actor: &str, name: &str) -> Result<BatchRemoval, InventoryError> {
        let _w = self.lock();
        let batch = self.batch(name)?;
        let sponsor = self.sponsor(&batch.sponsor)?;
        let imsis = self.batch_imsis(name)?;
        let mut blockers = vec![];
        let mut count = 0;
        for i in &imsis {
            let spent = match i.state {
                ImsiState::EndOfLife => true,
                ImsiState::Available => !self.has_history(&i.imsi)?,
                _ => false,
            };
            if !spent {
                count += 1;
                if blockers.len() < MAX_BLOCKERS {
                    blockers.push(Blocker {
                        imsi: i.imsi.clone(),
                        state: state_name(&i.state),
                    });
                }
            }
        }
        if count > 0 {
            return Err(InventoryError::Blocked {
                message: format!(
                    "batch '{name}' has {count} IMSI(s) in use: each must be end of life, \
                     or available and never used (end_of_life retires the available ones)"
                ),
                blockers,
                count,
            });
        }
        let mut b = WriteBatch::default();
        b.delete(format!("batch/{name}"));
        for i in &imsis {
            b.delete(format!("imsi/{}", i.imsi));
            // Left behind by holds that ended at once (no hold days).
            b.delete(format!("holdorigin/{}", i.imsi));
        }
        self.audit(
            &mut b,
            actor,
            "remove-batch",
            &format!("batch {name}"),
            serde_json::to_value(&batch).ok(),
            None,
        )?;
        let removed = imsis.len() as u64;
        let drafts = vec![event::batch_removed(&batch, &sponsor, removed)];
        self.commit_with_events(b, drafts, self.now(), |b| self.commit(b))?;
        // The resolver's tables cannot drop an entry: a removed IMSI stays
        // there as end of life (never chargeable) until the next rebuild.
        for mut i in imsis {
            i.state = ImsiState::EndOfLife;
            self.index.put_imsi(&i);
        }
        Ok(BatchRemoval {
            batch: batch.name,
            sponsor: sponsor.id,
            removed,
        })
    }
}

#[cfg(test)]
mod tests;
