//! Who held an IMSI when: every change of an IMSI's holder appends
//! an `ImsiHolding` (`imsihist/<imsi>/<at>/<id>`) in the change's own batch.
//! Records are never rewritten, so the trail survives recycling and
//! reassignment, and even the removal of the IMSI's batch. The audit
//! answers (`GET /audit/imsi/{imsi}`, `gyro audit imsi`) are built here.

use serde_json::{json, Value};

use crate::inventory::store::{decode, Record, StorageExt, StoreError, WriteBatch};
use crate::inventory::{invalid, Inventory, InventoryError};
use crate::model::lifecycle::ImsiHolding;
use crate::model::rfc3339;
use crate::model::{Account, Profile, UnixTime};

const HISTORY: &str = "imsihist/";

impl Record for ImsiHolding {}

/// Who holds the IMSIs of a profile, for `record_profile`.
pub(crate) struct Holder<'a> {
    pub account: Option<&'a Account>,
    pub event: &'a str,
}

impl Inventory {
    /// The profile the IMSI was last embedded in, from its trail.
    pub fn last_profile_of(&self, imsi: &str) -> Result<Option<String>, InventoryError> {
        let trail: Vec<ImsiHolding> = self.store.scan(&format!("{HISTORY}{imsi}/"))?;
        Ok(trail.into_iter().rev().find_map(|h| h.iccid))
    }

    pub(crate) fn record_holding(
        &self,
        b: &mut WriteBatch,
        imsi: &str,
        h: &ImsiHolding,
    ) -> Result<(), InventoryError> {
        let key = format!(
            "{HISTORY}{imsi}/{:020}/{:020}",
            h.at.max(0),
            self.store.next_id()?
        );
        b.put(key, h);
        Ok(())
    }

    /// One record per IMSI of `profile`: held by `who` from `at` on (or by
    /// nobody, when `who.account` is None).
    pub(crate) fn record_profile(
        &self,
        b: &mut WriteBatch,
        profile: &Profile,
        who: Holder<'_>,
        at: UnixTime,
    ) -> Result<(), InventoryError> {
        for (i, imsi) in profile.imsis.iter().enumerate() {
            let sponsor = self.imsi(imsi)?.map(|r| r.sponsor).unwrap_or_default();
            let h = ImsiHolding {
                at,
                event: who.event.into(),
                iccid: Some(profile.iccid.clone()),
                slot: Some(i as u8 + 1),
                account: who.account.map(|a| a.id),
                msisdn: who.account.map(|a| a.msisdn.clone()),
                product: who.account.map(|a| a.product.clone()),
                sponsor,
            };
            self.record_holding(b, imsi, &h)?;
        }
        Ok(())
    }

    /// The IMSI's whole trail, oldest first.
    pub fn imsi_history(&self, imsi: &str) -> Result<Vec<ImsiHolding>, InventoryError> {
        let prefix = format!("{HISTORY}{imsi}/");
        let mut out = Vec::new();
        self.store.visit(prefix.as_bytes(), &mut |k, v| {
            out.push(decode::<ImsiHolding>(k, v)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The record in force at `at`: the last one from before or at it.
    pub fn imsi_holding_at(
        &self,
        imsi: &str,
        at: UnixTime,
    ) -> Result<Option<ImsiHolding>, InventoryError> {
        Ok(self
            .imsi_history(imsi)?
            .into_iter()
            .take_while(|h| h.at <= at)
            .last())
    }

    /// Whether the IMSI ever had a trail record (was ever in an assigned
    /// profile, on hold, …).
    pub(crate) fn has_history(&self, imsi: &str) -> Result<bool, InventoryError> {
        let prefix = format!("{HISTORY}{imsi}/");
        let mut any = false;
        self.store.visit(prefix.as_bytes(), &mut |_, _| {
            any = true;
            Err(StoreError::Stop)
        })?;
        Ok(any)
    }

    /// The audit's whole trail of an IMSI, oldest first. An IMSI neither in
    /// the inventory nor in any trail is not found; one that was removed
    /// with its batch still answers.
    pub fn audit_imsi(&self, imsi: &str) -> Result<Vec<Value>, InventoryError> {
        check_imsi(imsi)?;
        let trail = self.imsi_history(imsi)?;
        if trail.is_empty() && self.imsi(imsi)?.is_none() {
            return Err(InventoryError::NotFound {
                what: "imsi",
                id: imsi.into(),
            });
        }
        Ok(trail.iter().map(holding_json).collect())
    }

    /// The audit at one instant: who held the IMSI then, even if
    /// it has since been recycled and reassigned. `NoHolder` when nobody
    /// did: no record yet, or the record in force names no account.
    pub fn audit_imsi_at(
        &self,
        imsi: &str,
        at: UnixTime,
    ) -> Result<Result<Value, NoHolder>, InventoryError> {
        check_imsi(imsi)?;
        let trail = self.imsi_history(imsi)?;
        let when = rfc3339(at);
        let Some(first) = trail.first() else {
            if self.imsi(imsi)?.is_none() {
                return Err(InventoryError::NotFound {
                    what: "imsi",
                    id: imsi.into(),
                });
            }
            let message = format!("imsi {imsi} has no holder record: it was never assigned");
            return Ok(Err(NoHolder {
                message,
                record: None,
            }));
        };
        let Some(h) = trail.iter().take_while(|h| h.at <= at).last() else {
            let message = format!(
                "imsi {imsi} had no holder record before {when}: its trail starts at {}",
                rfc3339(first.at)
            );
            return Ok(Err(NoHolder {
                message,
                record: None,
            }));
        };
        let mut v = holding_json(h);
        v["since"] = v["at"].take();
        v["at"] = json!(when);
        v["imsi"] = json!(imsi);
        if h.account.is_none() {
            let message = format!(
                "imsi {imsi} was held by nobody at that time ({when}): {} since {}",
                h.event,
                rfc3339(h.at)
            );
            return Ok(Err(NoHolder {
                message,
                record: Some(v),
            }));
        }
        Ok(Ok(v))
    }
}

/// Why an audit at an instant names no holder; `record` is the trail
/// record in force then, if there is one.
#[derive(Debug, Clone)]
pub struct NoHolder {
    pub message: String,
    pub record: Option<Value>,
}

fn check_imsi(imsi: &str) -> Result<(), InventoryError> {
    if !(6..=15).contains(&imsi.len()) || !imsi.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("imsi", "an IMSI is 6 to 15 digits"));
    }
    Ok(())
}

/// A trail record as the audit shows it, times in RFC 3339.
pub fn holding_json(h: &ImsiHolding) -> Value {
    json!({
        "at": rfc3339(h.at),
        "event": h.event,
        "iccid": h.iccid,
        "slot": h.slot,
        "account": h.account,
        "msisdn": h.msisdn,
        "product": h.product,
        "sponsor": h.sponsor,
    })
}
