//! The resolver's in-memory indexes, laid out for 10 M profiles in well under
//! 150 octets each. IMSIs sit in a flat table of 16-octet slots that point at
//! a profile row by ordinal; the row (see `table`) carries the profile's
//! status and, denormalised, its account's id, product and state, so one
//! account change is one row write whatever the number of IMSIs. Readers never
//! lock or wait on a writer (see `shard`); the inventory writes here after
//! every commit, so a change is visible at once. Puts are order-independent,
//! so the rebuild can feed accounts, profiles and IMSIs from parallel scans.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;

pub use super::catalog::Catalog;
use super::table::{hash_u64, row_for_iccid, Row, Rows};
use super::{imsi_table::ImsiTable, ordinal_table::OrdinalTable};
use crate::model::{Account, AccountStatus, Imsi, ImsiState, Profile, ProfileState, UnixTime};

/// Digits to a number: IMSIs (≤ 15 digits), MSISDNs (≤ 15) and ICCIDs (≤ 22)
/// fit, and a number keys a map in 8 or 16 octets instead of a heap string.
pub fn digits_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// ICCIDs keep their length so that leading zeros survive the round trip.
pub fn iccid_key(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 22 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u128>().ok()? << 5 | s.len() as u128)
}

pub fn iccid_string(k: u128) -> String {
    let len = (k & 31) as usize;
    format!("{:0len$}", k >> 5)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ImsiStatus {
    Available,
    Embedded,
    InDynamicPool,
    Hold,
    EndOfLife,
    Reserved,
}

impl ImsiStatus {
    pub fn of(state: &ImsiState) -> ImsiStatus {
        match state {
            ImsiState::Available => ImsiStatus::Available,
            ImsiState::Embedded { .. } => ImsiStatus::Embedded,
            ImsiState::InDynamicPool { .. } => ImsiStatus::InDynamicPool,
            ImsiState::Hold { .. } => ImsiStatus::Hold,
            ImsiState::EndOfLife => ImsiStatus::EndOfLife,
            ImsiState::Reserved { .. } => ImsiStatus::Reserved,
        }
    }
}

/// One IMSI: eight octets beside its eight-octet key.
#[derive(Debug, Clone, Copy)]
pub struct ImsiEntry {
    /// Row of the profile it is embedded in; `NO_PROFILE` otherwise.
    pub(crate) profile: u32,
    pub sponsor: u16,
    pub slot: u8,
    pub status: ImsiStatus,
}

pub(crate) const NO_PROFILE: u32 = u32::MAX;

/// Where an IMSI sits, as far as the index cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    Nowhere,
    Profile { iccid: u128, slot: u8 },
    DynamicPool(u16),
}

impl ImsiEntry {
    pub(super) fn pack(self) -> u64 {
        self.profile as u64
            | (self.sponsor as u64) << 32
            | (self.slot as u64) << 48
            | (self.status as u64) << 56
    }
    pub(super) fn unpack(w: u64) -> ImsiEntry {
        ImsiEntry {
            profile: w as u32,
            sponsor: (w >> 32) as u16,
            slot: (w >> 48) as u8,
            status: match (w >> 56) as u8 {
                0 => ImsiStatus::Available,
                1 => ImsiStatus::Embedded,
                2 => ImsiStatus::InDynamicPool,
                3 => ImsiStatus::Hold,
                5 => ImsiStatus::Reserved,
                _ => ImsiStatus::EndOfLife,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProfileStatus {
    None,
    Available,
    Assigned,
    Disposed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// No account record has reached this profile's row.
    Unknown,
    Active,
    Grace(UnixTime),
    Closed,
}

impl AccountState {
    fn of(s: &AccountStatus) -> AccountState {
        match *s {
            AccountStatus::Active => AccountState::Active,
            AccountStatus::Grace { until } => AccountState::Grace(until),
            AccountStatus::Closed => AccountState::Closed,
        }
    }
}

/// A profile row's state word: bits 0–1 profile status, 2–3 account state,
/// 4–19 product index, 20–63 grace end in unix seconds (44 bits reach the
/// year 557 000; an end before 1970 is already over and stored as 0).
pub(super) mod state {
    use super::{AccountState, ProfileStatus, UnixTime};

    const PRODUCT_SHIFT: u32 = 4;
    const UNTIL_SHIFT: u32 = 20;
    const UNTIL_MAX: i64 = (1 << 44) - 1;

    pub fn profile(s: u64) -> ProfileStatus {
        match s & 3 {
            1 => ProfileStatus::Available,
            2 => ProfileStatus::Assigned,
            3 => ProfileStatus::Disposed,
            _ => ProfileStatus::None,
        }
    }
    pub fn with_profile(s: u64, p: ProfileStatus) -> u64 {
        s & !3 | p as u64
    }
    pub fn account(s: u64) -> AccountState {
        match s >> 2 & 3 {
            1 => AccountState::Active,
            2 => AccountState::Grace((s >> UNTIL_SHIFT) as i64),
            3 => AccountState::Closed,
            _ => AccountState::Unknown,
        }
    }
    pub fn product(s: u64) -> u16 {
        (s >> PRODUCT_SHIFT) as u16
    }
    pub fn with_account(s: u64, a: AccountState, product: u16) -> u64 {
        let (kind, until): (u64, UnixTime) = match a {
            AccountState::Unknown => (0, 0),
            AccountState::Active => (1, 0),
            AccountState::Grace(t) => (2, t.clamp(0, UNTIL_MAX)),
            AccountState::Closed => (3, 0),
        };
        s & 3 | kind << 2 | (product as u64) << PRODUCT_SHIFT | (until as u64) << UNTIL_SHIFT
    }
    /// A row whose account is not (yet) known: no product.
    pub fn without_account(s: u64) -> u64 {
        with_account(s, AccountState::Unknown, u16::MAX)
    }
}

/// What the resolver knows of an account: its profile row's copy, or for an
/// account without a profile, its own entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountEntry {
    pub id: u64,
    pub product: u16,
    pub state: AccountState,
}

/// What a row says, read word by word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProfileView {
    pub iccid: u128,
    pub status: ProfileStatus,
    pub account: AccountEntry,
}

fn view(row: &Row) -> ProfileView {
    let s = row.state.load(Relaxed);
    ProfileView {
        iccid: row.iccid(),
        status: state::profile(s),
        account: AccountEntry {
            id: row.account.load(Relaxed),
            product: state::product(s),
            state: state::account(s),
        },
    }
}

pub(crate) type AvailableProfiles = HashMap<String, BTreeMap<String, Vec<String>>>;
pub(crate) type DynamicImsis = BTreeMap<(String, String), u64>;

#[derive(Default)]
pub struct Index {
    pub(super) imsis: ImsiTable,
    pub(super) rows: Rows,
    pub(super) by_iccid: OrdinalTable,
    pub(super) by_msisdn: OrdinalTable,
    /// Accounts that have no profile (rare): MSISDN → account.
    pub(super) orphans: DashMap<u64, AccountEntry, rustc_hash::FxBuildHasher>,
    pub(super) accounts: AtomicUsize,
    catalog: ArcSwap<Catalog>,
}

impl Index {
    pub fn new() -> Arc<Index> {
        Arc::new(Index::default())
    }
    pub fn catalog(&self) -> arc_swap::Guard<Arc<Catalog>> {
        self.catalog.load()
    }
    pub fn set_catalog(&self, c: Catalog) {
        self.catalog.store(Arc::new(c));
    }

    /// Room for `imsis` more IMSIs and `profiles` more profiles, so that a
    /// bulk load does not regrow the tables as it goes.
    pub(crate) fn reserve(&self, imsis: usize, profiles: usize) {
        self.imsis.reserve(imsis);
        let rows = &self.rows;
        self.by_iccid.reserve(profiles, |o| {
            super::table::hash_u128(rows.get(o).map_or(0, Row::iccid))
        });
        self.by_msisdn.reserve(profiles, |o| {
            hash_u64(rows.msisdn(o).map_or(0, |m| m.load(Relaxed)))
        });
    }

    /// The row of `iccid`, created on first sight.
    ///
    /// Bulk loads meet ICCIDs in runs: a profile file, its IMSI batch and
    /// its onboarded accounts all follow the ICCID sequence, and rows are
    /// created in that order. So each thread first tries the rows just
    /// around the last one it touched (one or two cache lines it already
    /// holds) before it probes the hash table (three misses at 10 M). A
    /// guess is checked against the row's ICCID, so a wrong one, or one
    /// left by another index, costs only the compare.
    fn row(&self, iccid: u128) -> Option<(u32, &Row)> {
        thread_local! {
            static LAST: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
        const NEAR: u32 = 4;
        let last = LAST.get();
        for ord in last.saturating_sub(NEAR)..=last.saturating_add(NEAR) {
            if let Some(r) = self.rows.get(ord).filter(|r| r.iccid() == iccid) {
                LAST.set(ord);
                return Some((ord, r));
            }
        }
        let ord = row_for_iccid(&self.rows, &self.by_iccid, iccid)?;
        LAST.set(ord);
        Some((ord, self.rows.get(ord)?))
    }

    pub fn put_imsi(&self, i: &Imsi) {
        let Some(key) = digits_u64(&i.imsi) else {
            return;
        };
        let catalog = self.catalog.load();
        let place = match &i.state {
            ImsiState::Embedded { profile, slot } => match iccid_key(profile) {
                Some(iccid) => Place::Profile { iccid, slot: *slot },
                None => Place::Nowhere,
            },
            ImsiState::InDynamicPool { pool } => {
                Place::DynamicPool(catalog.dynamic_pool_index(pool).unwrap_or(u16::MAX))
            }
            _ => Place::Nowhere,
        };
        let sponsor = catalog.sponsor_index(&i.sponsor);
        self.put_imsi_fields(key, sponsor, ImsiStatus::of(&i.state), place);
    }

    /// An IMSI by its parts.
    pub(crate) fn put_imsi_fields(
        &self,
        imsi: u64,
        sponsor: Option<u16>,
        status: ImsiStatus,
        place: Place,
    ) {
        let (profile, slot) = match place {
            Place::Profile { iccid, slot } if status == ImsiStatus::Embedded => {
                (self.row(iccid).map_or(NO_PROFILE, |(o, _)| o), slot)
            }
            // Dynamic IMSIs keep their pool where embedded ones keep a row.
            Place::DynamicPool(pool) if status == ImsiStatus::InDynamicPool => (pool as u32, 0),
            _ => (NO_PROFILE, 0),
        };
        let entry = ImsiEntry {
            profile,
            sponsor: sponsor.unwrap_or(u16::MAX),
            slot,
            status,
        };
        // IMSI 0 (all zeros) names no subscriber and is the table's empty mark.
        if imsi != 0 {
            self.imsis.insert(imsi, entry.pack());
        }
    }

    pub fn put_profile(&self, p: &Profile) {
        let (status, account) = match p.state {
            ProfileState::Available => (ProfileStatus::Available, 0),
            ProfileState::Assigned { account } => (ProfileStatus::Assigned, account),
            ProfileState::Disposed => (ProfileStatus::Disposed, 0),
        };
        let pool = self.catalog.load().pool_index(&p.pool);
        if let Some(k) = iccid_key(&p.iccid) {
            self.put_profile_fields(k, status, account, pool);
        }
    }

    /// A profile's status and, when assigned, its account.
    pub(crate) fn put_profile_fields(
        &self,
        iccid: u128,
        status: ProfileStatus,
        account: u64,
        pool: Option<u16>,
    ) {
        let Some((ord, row)) = self.row(iccid) else {
            return;
        };
        if let Some(p) = self.rows.pool(ord) {
            p.store(pool.unwrap_or(u16::MAX), Relaxed);
        }
        let before = if account == 0 {
            row.account.load(Relaxed)
        } else {
            row.account.swap(account, Relaxed)
        };
        // The account state in the row belonged to another account.
        let other = account != 0 && before != 0 && before != account;
        row.update_state(|s| {
            let s = state::with_profile(s, status);
            if other {
                state::without_account(s)
            } else {
                s
            }
        });
    }

    /// Records the account on its profile's row; pass its profile when the
    /// account record does not name it (or to record both at once).
    pub fn put_account(&self, a: &Account, profile: Option<&Profile>) {
        let product = self.catalog.load().product_index(&a.product);
        let iccid = profile
            .map(|p| p.iccid.as_str())
            .or(a.profile.as_deref())
            .and_then(iccid_key);
        self.leave_former_row(a.id, &a.msisdn, iccid);
        self.put_account_fields(
            a.id,
            digits_u64(&a.msisdn),
            product,
            AccountState::of(&a.status),
            iccid,
        );
        if let Some(p) = profile {
            self.put_profile(p);
        }
    }

    pub(crate) fn put_account_fields(
        &self,
        id: u64,
        msisdn: Option<u64>,
        product: Option<u16>,
        st: AccountState,
        iccid: Option<u128>,
    ) {
        let product = product.unwrap_or(u16::MAX);
        let entry = AccountEntry {
            id,
            product,
            state: st,
        };
        let Some((ord, row)) = iccid.and_then(|k| self.row(k)) else {
            // No profile: the account is reachable by MSISDN only.
            match (msisdn, st) {
                (Some(m), AccountState::Closed) => {
                    self.orphans.remove(&m);
                }
                (Some(m), _) => {
                    self.orphans.insert(m, entry);
                }
                (None, _) => {}
            }
            return;
        };
        row.account.store(id, Relaxed);
        let before = row.update_state(|s| state::with_account(s, st, product));
        if state::account(before) == AccountState::Unknown {
            self.accounts.fetch_add(1, Relaxed);
        }
        // The MSISDN table hashes the row's MSISDN: take the old one out
        // before the row changes, and put it back unless the account closed.
        let Some(row_msisdn) = self.rows.msisdn(ord) else {
            return;
        };
        let old = row_msisdn.load(Relaxed);
        if old != 0 {
            self.by_msisdn.remove(hash_u64(old), |o| o == ord);
        }
        row_msisdn.store(msisdn.unwrap_or(0), Relaxed);
        if let Some(m) = msisdn {
            self.orphans.remove(&m);
            if st != AccountState::Closed {
                let rows = &self.rows;
                self.by_msisdn.insert(hash_u64(m), ord, |o| {
                    hash_u64(rows.msisdn(o).map_or(0, |m| m.load(Relaxed)))
                });
            }
        }
    }

    pub fn imsi(&self, imsi: u64) -> Option<ImsiEntry> {
        self.imsis.get(imsi).map(ImsiEntry::unpack)
    }
    /// The profile row an IMSI entry points at.
    pub(crate) fn profile_of(&self, e: &ImsiEntry) -> Option<ProfileView> {
        (e.profile != NO_PROFILE)
            .then(|| self.rows.get(e.profile))
            .flatten()
            .map(view)
    }
    pub fn account_by_msisdn(&self, msisdn: u64) -> Option<AccountEntry> {
        self.by_msisdn_with_iccid(msisdn).map(|(a, _)| a)
    }
    /// The account of an MSISDN and the ICCID of its profile (0: none).
    pub(crate) fn by_msisdn_with_iccid(&self, msisdn: u64) -> Option<(AccountEntry, u128)> {
        let rows = &self.rows;
        let row = self.by_msisdn.find(hash_u64(msisdn), |o| {
            rows.msisdn(o).is_some_and(|m| m.load(Relaxed) == msisdn)
        });
        match row.and_then(|o| self.rows.get(o)) {
            Some(r) => {
                let v = view(r);
                Some((v.account, v.iccid))
            }
            None => self.orphans.get(&msisdn).map(|e| (*e, 0)),
        }
    }
    /// The MSISDN of the account on a profile (its canonical charging id).
    pub fn msisdn_of_profile(&self, iccid: u128) -> Option<u64> {
        let (ord, _) = self.row(iccid)?;
        let m = self.rows.msisdn(ord)?.load(Relaxed);
        (m != 0).then_some(m)
    }
    pub fn msisdn_taken(&self, msisdn: &str) -> bool {
        digits_u64(msisdn).is_some_and(|m| self.account_by_msisdn(m).is_some())
    }
    /// IMSIs, profiles and accounts held.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.imsis.len(),
            self.rows.len(),
            self.accounts.load(Relaxed) + self.orphans.len(),
        )
    }
}

mod moved;
mod stock;
#[cfg(test)]
mod tests;
