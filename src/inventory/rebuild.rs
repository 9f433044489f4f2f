//! Start-up rebuild of the resolver's indexes and the writers' stock from the
//! store, when no sound checkpoint exists. Accounts, profiles and IMSIs are
//! scanned on parallel threads (the index's puts do not depend on order),
//! each record visited in place without copying it out of the store; the
//! IMSIs, twice as many as the others, are read from both ends at once. The
//! stock is then derived from the index.

use std::sync::Mutex;

use super::compact::{view, AccountStatusW, AccountW, ImsiStateW, ImsiW, ProfileStateW, ProfileW};
use super::stock::Stock;
use super::store::{decode, StoreError};
use super::{Inventory, InventoryError};
use crate::model::*;
use crate::resolver::index::{
    digits_u64, iccid_key, AccountState, ImsiStatus, Place, ProfileStatus,
};

const IMSIS: &[u8] = b"imsi/";

/// How far the two IMSI scans have got: each has put every key from its end
/// up to the one it published, so the other may stop on reaching it.
#[derive(Default)]
struct Meeting {
    forward: Option<Vec<u8>>,
    backward: Option<Vec<u8>>,
}

/// Publishing every key would make the scans contend; every so many is
/// enough, and only means a few keys are put twice (puts are idempotent).
const PUBLISH_EVERY: u32 = 512;

impl Inventory {
    /// Rebuilds every index and the stock counters from the store.
    pub fn rebuild(&self) -> Result<(), InventoryError> {
        let mut stock = self.lock();
        self.refresh_catalog()?;
        let meeting = Mutex::new(Meeting::default());
        std::thread::scope(|s| {
            let handles = [
                s.spawn(|| self.scan_accounts()),
                s.spawn(|| self.scan_profiles()),
                s.spawn(|| self.scan_imsis(&meeting, false)),
                s.spawn(|| self.scan_imsis(&meeting, true)),
            ];
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        let (available, dynamic) = self.index.stock();
        *stock = Stock::new(available, dynamic);
        Ok(())
    }

    // Compact records are indexed straight from their borrowed view; JSON
    // ones (written by earlier releases) are decoded whole.

    fn scan_accounts(&self) -> Result<(), StoreError> {
        let catalog = self.index.catalog();
        self.store.visit(b"account/", &mut |k, v| {
            let Some(a) = view::<AccountW>(k, v)? else {
                self.index.put_account(&decode::<Account>(k, v)?, None);
                return Ok(());
            };
            let state = match a.status {
                AccountStatusW::Active => AccountState::Active,
                AccountStatusW::Grace { until } => AccountState::Grace(until),
                AccountStatusW::Closed => AccountState::Closed,
            };
            self.index.put_account_fields(
                a.id,
                digits_u64(a.msisdn),
                catalog.product_index(a.product),
                state,
                a.profile.and_then(iccid_key),
            );
            Ok(())
        })
    }

    fn scan_profiles(&self) -> Result<(), StoreError> {
        let catalog = self.index.catalog();
        self.store.visit(b"profile/", &mut |k, v| {
            let Some(p) = view::<ProfileW>(k, v)? else {
                self.index.put_profile(&decode::<Profile>(k, v)?);
                return Ok(());
            };
            let (status, account) = match p.state {
                ProfileStateW::Available => (ProfileStatus::Available, 0),
                ProfileStateW::Assigned { account } => (ProfileStatus::Assigned, account),
                ProfileStateW::Disposed => (ProfileStatus::Disposed, 0),
            };
            if let Some(iccid) = iccid_key(p.iccid) {
                let pool = catalog.pool_index(p.pool);
                self.index.put_profile_fields(iccid, status, account, pool);
            }
            Ok(())
        })
    }

    /// One end of the IMSI scan. A store that cannot scan backwards leaves
    /// the whole range to the forward scan, which then never meets anyone.
    fn scan_imsis(&self, meeting: &Mutex<Meeting>, backward: bool) -> Result<(), StoreError> {
        let catalog = self.index.catalog();
        let mut other: Option<Vec<u8>> = None;
        let mut n = 0u32;
        let mut visit = |k: &[u8], v: &[u8]| {
            let met = other
                .as_deref()
                .is_some_and(|o| if backward { k <= o } else { k >= o });
            if met {
                return Err(StoreError::Stop);
            }
            match view::<ImsiW>(k, v)? {
                Some(i) => {
                    let (status, place) = match i.state {
                        ImsiStateW::Available => (ImsiStatus::Available, Place::Nowhere),
                        ImsiStateW::Embedded { profile, slot } => (
                            ImsiStatus::Embedded,
                            iccid_key(profile)
                                .map_or(Place::Nowhere, |iccid| Place::Profile { iccid, slot }),
                        ),
                        ImsiStateW::InDynamicPool { pool } => (
                            ImsiStatus::InDynamicPool,
                            Place::DynamicPool(
                                catalog.dynamic_pool_index(pool).unwrap_or(u16::MAX),
                            ),
                        ),
                        ImsiStateW::Hold { .. } => (ImsiStatus::Hold, Place::Nowhere),
                        ImsiStateW::EndOfLife => (ImsiStatus::EndOfLife, Place::Nowhere),
                        ImsiStateW::Reserved { .. } => (ImsiStatus::Reserved, Place::Nowhere),
                    };
                    if let Some(key) = digits_u64(i.imsi) {
                        let sponsor = catalog.sponsor_index(i.sponsor);
                        self.index.put_imsi_fields(key, sponsor, status, place);
                    }
                }
                None => self.index.put_imsi(&decode::<Imsi>(k, v)?),
            }
            n += 1;
            if n % PUBLISH_EVERY == 0 {
                let mut guard = meeting.lock().unwrap_or_else(|p| p.into_inner());
                let m = &mut *guard;
                let (mine, theirs) = if backward {
                    (&mut m.backward, &m.forward)
                } else {
                    (&mut m.forward, &m.backward)
                };
                *mine = Some(k.to_vec());
                other = theirs.clone();
            }
            Ok(())
        };
        if backward {
            self.store.visit_rev(IMSIS, &mut visit).map(|_| ())
        } else {
            self.store.visit(IMSIS, &mut visit)
        }
    }
}
