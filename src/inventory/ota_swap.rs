//! OTA IMSI swaps in the store: the three steps of a swap, each one
//! commit under the writers' lock. Ordering takes the new IMSI (from the
//! subscriber's hold or a dynamic pool) into the profile's slot, beside the
//! old one, so that both resolve while the SIM switches; confirming moves
//! the slot to it and holds the old one for the subscriber; failing gives
//! the new one back and changes nothing else. One swap per profile is in
//! flight at a time (`swapopen/<iccid>`), and a taken IMSI is no longer in
//! its pool or hold, so two decisions never take one IMSI. `records` reads
//! the swaps back and keeps the location decisions beside them.

mod records;

use serde_json::json;

use super::dynamic_pool::put_imsi;
use super::hold::held_for_key;
use super::stock::Stock;
use super::store::{StorageExt, WriteBatch};
use super::{Conflict, Inventory, InventoryError};
use crate::model::event::{self, EventType};
use crate::model::lifecycle::{HoldOrigin, ImsiHolding};
use crate::model::ota::{ImsiSwap, SwapState};
use crate::model::*;

pub(super) use records::{entry_of_record, BUILT_KEY, SWAP, SWAP_BY};
use records::{swap_by_key, swap_key};

const SWAP_OPEN: &str = "swapopen/";

/// Where the new IMSI of a swap comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewImsi {
    /// This IMSI, on hold for the subscriber.
    Held { imsi: String },
    /// Any available IMSI of `sponsor` in dynamic pool `pool`.
    FromPool { pool: String, sponsor: String },
}

/// A decided swap, as the decision gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapOrder {
    pub iccid: String,
    pub slot: u8,
    pub old_imsi: String,
    pub new: NewImsi,
    pub mcc: String,
    pub old_price: Option<rust_decimal::Decimal>,
    pub new_price: rust_decimal::Decimal,
}

impl Inventory {
    /// Takes the new IMSI for the swap and records the swap as ordered.
    /// Conflict when the profile has a swap in flight, its slot no longer
    /// holds `old_imsi`, or the new IMSI is gone.
    pub fn order_imsi_swap(&self, actor: &str, o: &SwapOrder) -> Result<ImsiSwap, InventoryError> {
        let mut stock = self.lock();
        let profile = self
            .profile(&o.iccid)?
            .ok_or_else(|| InventoryError::NotFound {
                what: "profile",
                id: o.iccid.clone(),
            })?;
        let ProfileState::Assigned { account } = profile.state else {
            let iccid = o.iccid.clone();
            return Err(Conflict::ProfileNotAssigned { iccid }.into());
        };
        if let Some(swap) = self.store.get::<u64>(&format!("{SWAP_OPEN}{}", o.iccid))? {
            let iccid = o.iccid.clone();
            return Err(Conflict::SwapInFlight { iccid, swap }.into());
        }
        let in_slot = profile.imsis.get(usize::from(o.slot).wrapping_sub(1));
        if in_slot != Some(&o.old_imsi) {
            return Err(Conflict::SlotMoved {
                iccid: o.iccid.clone(),
                slot: o.slot,
                holds: in_slot.cloned(),
                expected: o.old_imsi.clone(),
            }
            .into());
        }
        let mut b = WriteBatch::default();
        let mut rec = self.swap_source(&o.new, account, &mut b)?;
        let id = self.store.next_id()?;
        let at = self.now();
        let swap = ImsiSwap {
            id,
            iccid: o.iccid.clone(),
            account,
            slot: o.slot,
            old_imsi: o.old_imsi.clone(),
            new_imsi: rec.imsi.clone(),
            new_was: rec.state.clone(),
            mcc: o.mcc.clone(),
            old_price: o.old_price,
            new_price: o.new_price,
            ordered_at: at,
            attempts: 0,
            state: SwapState::Ordered,
        };
        if let NewImsi::Held { imsi } = &o.new {
            b.delete(held_for_key(account, imsi));
        }
        rec.state = ImsiState::Embedded {
            profile: o.iccid.clone(),
            slot: o.slot,
        };
        put_imsi(&mut b, &swap.new_was, &rec);
        b.put(swap_key(id), &swap);
        b.put(swap_by_key(&o.iccid, id), &String::new());
        b.put(format!("{SWAP_OPEN}{}", o.iccid), &id);
        let after = json!({"swap": id, "slot": o.slot, "old": o.old_imsi, "new": rec.imsi});
        self.audit(&mut b, actor, "ota-swap-order", &o.iccid, None, Some(after))?;
        let drafts = match (&swap.new_was, self.account(account)?) {
            (ImsiState::InDynamicPool { pool }, Some(a)) => {
                self.dynamic_taken(&stock, pool, &a.product, &mut b)?
            }
            _ => vec![],
        };
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        if let ImsiState::InDynamicPool { pool } = &swap.new_was {
            stock.dynamic_moved(&rec, pool, false);
        }
        self.index.put_imsi(&rec);
        Ok(swap)
    }

    /// The IMSI record the swap takes, checked to be takeable.
    fn swap_source(
        &self,
        new: &NewImsi,
        account: u64,
        b: &mut WriteBatch,
    ) -> Result<Imsi, InventoryError> {
        match new {
            NewImsi::Held { imsi } => {
                let rec = self.imsi(imsi)?;
                match rec {
                    Some(r) if matches!(r.state, ImsiState::Hold { reserved_for: Some(a), .. } if a == account) => {
                        Ok(r)
                    }
                    _ => Err(Conflict::NoLongerHeld {
                        imsi: imsi.clone(),
                        account,
                    }
                    .into()),
                }
            }
            NewImsi::FromPool { pool, sponsor } => {
                self.dynamic_imsi(pool, sponsor, b)?.ok_or_else(|| {
                    let (pool, sponsor) = (pool.clone(), sponsor.clone());
                    Conflict::DynamicPoolEmpty { pool, sponsor }.into()
                })
            }
        }
    }

    /// One more call to the vendor is about to be made.
    pub fn imsi_swap_attempt(&self, id: u64) -> Result<ImsiSwap, InventoryError> {
        let _w = self.lock();
        let mut s = self.imsi_swap(id)?;
        s.attempts += 1;
        let mut b = WriteBatch::default();
        b.put(swap_key(id), &s);
        self.commit(b)?;
        Ok(s)
    }

    /// The vendor confirmed: the slot holds the new IMSI, the old one is
    /// held for the subscriber, IMSI/Deactivate and IMSI/Activate go out.
    /// Confirming a confirmed swap changes nothing.
    pub fn confirm_imsi_swap(&self, actor: &str, id: u64) -> Result<ImsiSwap, InventoryError> {
        let mut stock = self.lock();
        let mut swap = self.imsi_swap(id)?;
        match &swap.state {
            SwapState::Ordered => {}
            SwapState::Confirmed { .. } => return Ok(swap),
            SwapState::Failed { .. } => return Err(Conflict::SwapFailed { swap: id }.into()),
        }
        let at = self.now();
        let mut profile = self
            .profile(&swap.iccid)?
            .ok_or_else(|| InventoryError::NotFound {
                what: "profile",
                id: swap.iccid.clone(),
            })?;
        let account = self.account(swap.account)?;
        let slot = usize::from(swap.slot) - 1;
        let mut b = WriteBatch::default();
        if let Some(s) = profile.imsis.get_mut(slot) {
            *s = swap.new_imsi.clone();
        }
        b.put(format!("profile/{}", profile.iccid), &profile);
        let origin = self.swapped_out_origin(&stock, &swap.old_imsi, account.as_ref())?;
        let held = self.start_hold(&mut b, &swap.old_imsi, &origin, Some(swap.account), at)?;
        // With no hold days the old IMSI is back in its dynamic pool at once.
        let back_in = held.as_ref().and_then(|h| match &h.state {
            ImsiState::InDynamicPool { pool } => Some(pool.clone()),
            _ => None,
        });
        if let Some(pool) = &back_in {
            self.dynamic_refilled(&stock, pool, 1, &mut b)?;
        }
        self.record_swap_holdings(&mut b, &swap, account.as_ref(), at)?;
        swap.state = SwapState::Confirmed { confirmed_at: at };
        b.put(swap_key(id), &swap);
        b.delete(format!("{SWAP_OPEN}{}", swap.iccid));
        let after =
            json!({"swap": id, "old": swap.old_imsi, "new": swap.new_imsi, "old_to": origin});
        self.audit(
            &mut b,
            actor,
            "ota-swap-confirm",
            &swap.iccid,
            None,
            Some(after),
        )?;
        let drafts = match &account {
            Some(a) => self.swap_events(a, &swap)?,
            None => vec![],
        };
        self.commit_with_events(b, drafts, at, |b| self.commit(b))?;
        self.index.put_profile(&profile);
        if let Some(h) = &held {
            if let Some(pool) = &back_in {
                stock.dynamic_moved(h, pool, true);
            }
            self.index.put_imsi(h);
        }
        Ok(swap)
    }

    /// Where the IMSI leaving the slot goes after its hold: the product's
    /// dynamic pool that holds its sponsor's IMSIs, else the profile's pool.
    fn swapped_out_origin(
        &self,
        stock: &Stock,
        imsi: &str,
        account: Option<&Account>,
    ) -> Result<HoldOrigin, InventoryError> {
        let rec = self.imsi(imsi)?;
        let sponsor = rec.as_ref().map(|r| r.sponsor.as_str()).unwrap_or("");
        let product = account.map(|a| a.product.as_str()).unwrap_or("");
        let pools = self.dynamic_pools()?;
        let serves = |p: &DynamicImsiPool| p.products.iter().any(|x| x == product);
        let by_sponsor = pools.iter().filter(|p| serves(p)).find(|p| {
            stock
                .dynamic
                .keys()
                .any(|(pool, s)| pool == &p.name && s == sponsor)
        });
        Ok(match by_sponsor {
            Some(p) => HoldOrigin::DynamicPool {
                pool: p.name.clone(),
            },
            None => {
                let pool = match rec.map(|r| r.state) {
                    Some(ImsiState::Embedded { profile, .. }) => {
                        self.profile(&profile)?.map(|p| p.pool).unwrap_or_default()
                    }
                    _ => String::new(),
                };
                HoldOrigin::Pool { pool }
            }
        })
    }

    fn record_swap_holdings(
        &self,
        b: &mut WriteBatch,
        swap: &ImsiSwap,
        account: Option<&Account>,
        at: UnixTime,
    ) -> Result<(), InventoryError> {
        let sponsor_of = |imsi: &str| -> Result<String, InventoryError> {
            Ok(self.imsi(imsi)?.map(|r| r.sponsor).unwrap_or_default())
        };
        let h = ImsiHolding {
            at,
            event: "ota_swap".into(),
            iccid: Some(swap.iccid.clone()),
            slot: Some(swap.slot),
            account: account.map(|a| a.id),
            msisdn: account.map(|a| a.msisdn.clone()),
            product: account.map(|a| a.product.clone()),
            sponsor: sponsor_of(&swap.new_imsi)?,
        };
        self.record_holding(b, &swap.new_imsi, &h)?;
        let h = ImsiHolding {
            at,
            event: "hold".into(),
            iccid: None,
            slot: None,
            account: None,
            msisdn: None,
            product: None,
            sponsor: sponsor_of(&swap.old_imsi)?,
        };
        self.record_holding(b, &swap.old_imsi, &h)
    }

    fn swap_events(
        &self,
        a: &Account,
        swap: &ImsiSwap,
    ) -> Result<Vec<event::EventDraft>, InventoryError> {
        let both = [swap.old_imsi.clone(), swap.new_imsi.clone()];
        self.with_profile_imsis(&both, |rows| {
            vec![
                event::imsi_swapped(
                    EventType::ImsiDeactivate,
                    a,
                    &swap.iccid,
                    swap.slot,
                    &rows[0],
                    swap.id,
                ),
                event::imsi_swapped(
                    EventType::ImsiActivate,
                    a,
                    &swap.iccid,
                    swap.slot,
                    &rows[1],
                    swap.id,
                ),
            ]
        })
    }

    /// The vendor refused or never answered: the new IMSI goes back where
    /// it was; the profile keeps its IMSIs.
    pub fn fail_imsi_swap(
        &self,
        actor: &str,
        id: u64,
        reason: &str,
    ) -> Result<ImsiSwap, InventoryError> {
        let mut stock = self.lock();
        let mut swap = self.imsi_swap(id)?;
        if swap.state != SwapState::Ordered {
            return Ok(swap);
        }
        let at = self.now();
        let mut b = WriteBatch::default();
        let mut rec = self
            .imsi(&swap.new_imsi)?
            .ok_or_else(|| InventoryError::NotFound {
                what: "IMSI",
                id: swap.new_imsi.clone(),
            })?;
        let was = std::mem::replace(&mut rec.state, swap.new_was.clone());
        if let ImsiState::Hold {
            until,
            reserved_for: Some(a),
        } = rec.state
        {
            b.put(held_for_key(a, &rec.imsi), &json!(until));
        }
        put_imsi(&mut b, &was, &rec);
        swap.state = SwapState::Failed {
            failed_at: at,
            reason: reason.into(),
        };
        b.put(swap_key(id), &swap);
        b.delete(format!("{SWAP_OPEN}{}", swap.iccid));
        let after = json!({"swap": id, "reason": reason, "returned": rec.imsi});
        self.audit(
            &mut b,
            actor,
            "ota-swap-fail",
            &swap.iccid,
            None,
            Some(after),
        )?;
        if let ImsiState::InDynamicPool { pool } = &rec.state {
            self.dynamic_refilled(&stock, pool, 1, &mut b)?;
        }
        self.commit(b)?;
        if let ImsiState::InDynamicPool { pool } = &rec.state {
            stock.dynamic_moved(&rec, pool, true);
        }
        self.index.put_imsi(&rec);
        Ok(swap)
    }
}

#[cfg(test)]
mod tests;
