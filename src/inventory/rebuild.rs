//! Start-up rebuild of the resolver's indexes and the writers' stock from the
//! store, when no sound checkpoint exists. Accounts, profiles and IMSIs are
//! scanned on parallel threads (the index's puts do not depend on order),
//! each record visited in place without copying it out of the store; the
//! IMSIs, twice as many as the others, are read from both ends at once. The
//! stock is then derived from the index.

use std::sync::Mutex;

use super::model::*;
use super::ops::{Inventory, InventoryError, Stock};
use super::store::{decode, StoreError};

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
        *stock = Stock { available, dynamic };
        Ok(())
    }

    fn scan_accounts(&self) -> Result<(), StoreError> {
        self.store.visit(b"account/", &mut |k, v| {
            self.index.put_account(&decode::<Account>(k, v)?, None);
            Ok(())
        })
    }

    fn scan_profiles(&self) -> Result<(), StoreError> {
        self.store.visit(b"profile/", &mut |k, v| {
            self.index.put_profile(&decode::<Profile>(k, v)?);
            Ok(())
        })
    }

    /// One end of the IMSI scan. A store that cannot scan backwards leaves
    /// the whole range to the forward scan, which then never meets anyone.
    fn scan_imsis(&self, meeting: &Mutex<Meeting>, backward: bool) -> Result<(), StoreError> {
        let mut other: Option<Vec<u8>> = None;
        let mut n = 0u32;
        let mut visit = |k: &[u8], v: &[u8]| {
            let met = other
                .as_deref()
                .is_some_and(|o| if backward { k <= o } else { k >= o });
            if met {
                return Err(StoreError::Stop);
            }
            self.index.put_imsi(&decode::<Imsi>(k, v)?);
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
