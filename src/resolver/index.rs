//! The resolver's in-memory indexes. Readers never take a lock that writers
//! hold for long: per-entry maps are `dashmap` shards, the small catalogue
//! (sponsors, products, pools, proxy Origin-Hosts) is an `arc-swap` snapshot.
//! The inventory writes here after every commit, so a change is visible at once.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;

use super::location::RateCode;

use crate::inventory::model::{
    Account, AccountStatus, Imsi, ImsiState, Product, Profile, ProfileState, Sponsor, UnixTime,
};

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
}

/// Everything a charging request needs about one IMSI, denormalised from its
/// profile and account so that resolving is one hash probe.
#[derive(Debug, Clone, Copy)]
pub struct ImsiEntry {
    /// ICCID key (see `iccid_key`) in two halves: a u128 would force 16-octet
    /// alignment and a larger map entry.
    iccid: [u64; 2],
    pub account: u64,
    /// Active: i64::MAX; grace: its end; closed: i64::MIN.
    pub account_until: UnixTime,
    pub sponsor: u16,
    pub product: u16,
    pub slot: u8,
    pub status: ImsiStatus,
    pub profile_status: ProfileStatus,
}

impl ImsiEntry {
    pub fn iccid(&self) -> u128 {
        (self.iccid[0] as u128) << 64 | self.iccid[1] as u128
    }
}

fn split(k: u128) -> [u64; 2] {
    [(k >> 64) as u64, k as u64]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProfileStatus {
    None,
    Available,
    Assigned,
    Disposed,
}

#[derive(Debug, Clone, Copy)]
pub struct ProfileEntry {
    pub account: u64,
    pub status: ProfileStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Grace(UnixTime),
    Closed,
}

impl AccountState {
    fn until(self) -> UnixTime {
        match self {
            AccountState::Active => UnixTime::MAX,
            AccountState::Grace(t) => t,
            AccountState::Closed => UnixTime::MIN,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct AccountEntry {
    pub product: u16,
    pub state: AccountState,
}

/// Sponsors and products by small index, and proxy Origin-Hosts.
#[derive(Debug, Default)]
pub struct Catalog {
    pub sponsors: Vec<Sponsor>,
    pub products: Vec<Product>,
    sponsor_ids: HashMap<String, u16>,
    product_ids: HashMap<String, u16>,
    /// Each product's rate codes, parsed once rather than per request.
    product_codes: Vec<Vec<RateCode>>,
    origin_hosts: HashMap<String, u16>,
}

impl Catalog {
    pub fn new(sponsors: Vec<Sponsor>, products: Vec<Product>) -> Catalog {
        let mut c = Catalog {
            sponsor_ids: sponsors
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i as u16))
                .collect(),
            product_ids: products
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i as u16))
                .collect(),
            ..Catalog::default()
        };
        for (i, s) in sponsors.iter().enumerate() {
            for h in &s.proxy_origin_hosts {
                c.origin_hosts.insert(h.to_ascii_lowercase(), i as u16);
            }
        }
        // Rate codes that do not parse were refused when the product was
        // defined; here they simply cover nothing.
        c.product_codes = products
            .iter()
            .map(|p| {
                p.rate_codes
                    .iter()
                    .filter_map(|r| RateCode::parse(r).ok())
                    .collect()
            })
            .collect();
        c.sponsors = sponsors;
        c.products = products;
        c
    }
    pub fn product_rate_codes(&self, product: u16) -> &[RateCode] {
        self.product_codes
            .get(product as usize)
            .map_or(&[], Vec::as_slice)
    }
    pub fn sponsor_index(&self, id: &str) -> Option<u16> {
        self.sponsor_ids.get(id).copied()
    }
    pub fn product_index(&self, name: &str) -> Option<u16> {
        self.product_ids.get(name).copied()
    }
    /// The sponsor whose Gy/Ro proxy this is.
    pub fn sponsor_by_origin_host(&self, host: &str) -> Option<u16> {
        if let Some(&i) = self.origin_hosts.get(host) {
            return Some(i);
        }
        self.origin_hosts.get(&host.to_ascii_lowercase()).copied()
    }
}

type Fx = rustc_hash::FxBuildHasher;

#[derive(Default)]
pub struct Index {
    pub(crate) imsis: DashMap<u64, ImsiEntry, Fx>,
    pub(crate) profiles: DashMap<[u64; 2], ProfileEntry, Fx>,
    pub(crate) accounts: DashMap<u64, AccountEntry, Fx>,
    pub(crate) msisdns: DashMap<u64, u64, Fx>,
    pub(crate) catalog: ArcSwap<Catalog>,
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

    /// Fills an IMSI entry's profile and account fields from those maps.
    fn denormalise(&self, e: &mut ImsiEntry) {
        let (pstatus, account) = match self.profiles.get(&e.iccid) {
            Some(p) if e.status == ImsiStatus::Embedded => (p.status, p.account),
            _ => (ProfileStatus::None, 0),
        };
        e.profile_status = pstatus;
        e.account = account;
        match self
            .accounts
            .get(&account)
            .filter(|_| pstatus == ProfileStatus::Assigned)
        {
            Some(a) => {
                e.product = a.product;
                e.account_until = a.state.until();
            }
            None => {
                e.product = u16::MAX;
                e.account_until = UnixTime::MIN;
            }
        }
    }

    pub fn put_imsi(&self, i: &Imsi) {
        let Some(key) = digits_u64(&i.imsi) else {
            return;
        };
        let sponsor = self
            .catalog
            .load()
            .sponsor_index(&i.sponsor)
            .unwrap_or(u16::MAX);
        let (status, iccid, slot) = match &i.state {
            ImsiState::Available => (ImsiStatus::Available, 0, 0),
            ImsiState::Embedded { profile, slot } => {
                (ImsiStatus::Embedded, iccid_key(profile).unwrap_or(0), *slot)
            }
            ImsiState::InDynamicPool { .. } => (ImsiStatus::InDynamicPool, 0, 0),
            ImsiState::Hold { .. } => (ImsiStatus::Hold, 0, 0),
            ImsiState::EndOfLife => (ImsiStatus::EndOfLife, 0, 0),
        };
        let mut e = ImsiEntry {
            iccid: split(iccid),
            account: 0,
            account_until: UnixTime::MIN,
            sponsor,
            product: u16::MAX,
            slot,
            status,
            profile_status: ProfileStatus::None,
        };
        self.denormalise(&mut e);
        self.imsis.insert(key, e);
    }

    /// Records the profile and refreshes the entries of its IMSIs.
    pub fn put_profile(&self, p: &Profile) {
        let Some(key) = iccid_key(&p.iccid) else {
            return;
        };
        let (status, account) = match p.state {
            ProfileState::Available => (ProfileStatus::Available, 0),
            ProfileState::Assigned { account } => (ProfileStatus::Assigned, account),
            ProfileState::Disposed => (ProfileStatus::Disposed, 0),
        };
        let key = split(key);
        self.profiles.insert(key, ProfileEntry { account, status });
        for imsi in p.imsis.iter().filter_map(|i| digits_u64(i)) {
            let current = self.imsis.get(&imsi).map(|e| *e);
            if let Some(mut e) = current.filter(|e| e.iccid == key) {
                self.denormalise(&mut e);
                self.imsis.insert(imsi, e);
            }
        }
    }

    /// Records the account; pass its profile so that the profile's IMSIs see
    /// the change (product, status) at once.
    pub fn put_account(&self, a: &Account, profile: Option<&Profile>) {
        let product = self
            .catalog
            .load()
            .product_index(&a.product)
            .unwrap_or(u16::MAX);
        let state = match a.status {
            AccountStatus::Active => AccountState::Active,
            AccountStatus::Grace { until } => AccountState::Grace(until),
            AccountStatus::Closed => AccountState::Closed,
        };
        self.accounts.insert(a.id, AccountEntry { product, state });
        if let Some(m) = digits_u64(&a.msisdn) {
            if state == AccountState::Closed {
                self.msisdns.remove(&m);
            } else {
                self.msisdns.insert(m, a.id);
            }
        }
        if let Some(p) = profile {
            self.put_profile(p);
        }
    }

    pub fn imsi(&self, imsi: u64) -> Option<ImsiEntry> {
        self.imsis.get(&imsi).map(|e| *e)
    }
    pub fn profile(&self, iccid: u128) -> Option<ProfileEntry> {
        self.profiles.get(&split(iccid)).map(|e| *e)
    }
    pub fn account(&self, id: u64) -> Option<AccountEntry> {
        self.accounts.get(&id).map(|e| *e)
    }
    pub fn account_by_msisdn(&self, msisdn: u64) -> Option<u64> {
        self.msisdns.get(&msisdn).map(|e| *e)
    }
    pub fn msisdn_taken(&self, msisdn: &str) -> bool {
        digits_u64(msisdn).is_some_and(|m| self.msisdns.contains_key(&m))
    }
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.imsis.len(), self.profiles.len(), self.accounts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iccid_keys_keep_leading_zeros_and_length() {
        for s in [
            "894910262010000012345",
            "0089491026201000001",
            "8949102620100000126",
        ] {
            assert_eq!(iccid_string(iccid_key(s).unwrap()), s);
        }
        assert_ne!(iccid_key("0123"), iccid_key("123"));
        assert!(iccid_key("12a").is_none());
    }
}
