//! Who held an IMSI when (#1.12): every change of an IMSI's holder appends
//! an `ImsiHolding` (`imsihist/<imsi>/<at>/<id>`) in the change's own batch.
//! Records are never rewritten, so the trail survives recycling and
//! reassignment.

use super::ops::{Inventory, InventoryError};
use super::store::{decode, WriteBatch};
use crate::model::lifecycle::ImsiHolding;
use crate::model::{Account, Profile, UnixTime};

const HISTORY: &str = "imsihist/";

/// Who holds the IMSIs of a profile, for `record_profile`.
pub(crate) struct Holder<'a> {
    pub account: Option<&'a Account>,
    pub event: &'a str,
}

impl Inventory {
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
}
