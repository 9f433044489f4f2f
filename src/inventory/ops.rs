//! The `Inventory`: catalogue definitions, index rebuild, onboarding. Writers
//! serialise on one mutex and commit one atomic batch (with its audit record)
//! per operation; readers use the resolver's lock-free indexes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use super::store::{Storage, StorageExt, StoreError, WriteBatch};
use super::LineError;
use crate::model::event;
use crate::model::*;
use crate::resolver::index::{Catalog, Index};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} '{id}' not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{file}: rejected, nothing imported: {} bad line(s); first: {}", errors.len(), errors.first().map(|e| e.to_string()).unwrap_or_default())]
    Rejected {
        file: String,
        errors: Vec<LineError>,
    },
    #[error("no available eSIM profile for product '{0}'")]
    OutOfStock(String),
    /// A change refused because of these records (at most a page of them;
    /// `count` says how many there are).
    #[error("{message}")]
    Blocked {
        message: String,
        blockers: Vec<super::batches::Blocker>,
        count: usize,
    },
    /// A bundle change the subscriber's eSIM cannot serve (#1.7, #2.7).
    #[error("bundle change to '{product}' needs an eSIM swap: {reason}")]
    SwapRequired { product: String, reason: String },
}

pub fn invalid(field: &str, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl super::store::Record for AuditRecord {}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub at: UnixTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// What the writers keep in memory beside the store: available profiles per
/// pool (with the sponsors in each) and IMSIs waiting in dynamic pools.
#[derive(Default)]
pub(crate) struct Stock {
    /// pool → ICCID → sponsor ids of its IMSIs.
    pub(crate) available: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// (dynamic pool, sponsor) → IMSIs in it.
    pub(crate) dynamic: BTreeMap<(String, String), u64>,
    /// sponsor → available profiles holding one of its IMSIs (what a
    /// `Stock/Low` check reads at every onboarding).
    by_sponsor: HashMap<String, u64>,
}

pub struct Inventory {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) index: Arc<Index>,
    pub(crate) write: Mutex<Stock>,
    /// Count of committed changes to indexed records (see `checkpoint`).
    pub(crate) generation: std::sync::atomic::AtomicU64,
    /// The generation the checkpoint file reflects (`u64::MAX`: none does).
    pub(crate) checkpointed: std::sync::atomic::AtomicU64,
    /// Where the index checkpoint lives, if the inventory keeps one.
    pub(crate) checkpoint: Option<std::path::PathBuf>,
    pub(crate) started_from: super::StartedFrom,
    /// Held from numbering events to committing them, so that outbox ids
    /// become visible in increasing order (see `outbox`).
    pub(crate) events_lock: Mutex<()>,
    /// Woken after every commit that added events.
    pub(crate) events_written: Arc<tokio::sync::Notify>,
    /// `inventory.stock_alert_below` (0: no `Stock/Low` events).
    pub(crate) stock_alert_below: std::sync::atomic::AtomicU64,
    /// `lifecycle.grace_reminders`, in seconds before grace ends.
    pub(crate) grace_reminders: std::sync::RwLock<Vec<i64>>,
    /// The node clock: every record's time comes from it.
    pub(crate) clock: Arc<crate::model::clock::NodeClock>,
}

/// The system's time, for tests outside the crate that predate the node
/// clock; the node itself reads `Inventory::now`.
pub fn now_unix() -> UnixTime {
    crate::model::clock::NodeClock::system().now()
}

impl Inventory {
    /// Opens the inventory over `store` and rebuilds the indexes from it.
    pub fn open(store: Arc<dyn Storage>) -> Result<Inventory, InventoryError> {
        Self::open_with_checkpoint(store, None)
    }

    /// Opens the inventory, starting from the index checkpoint at `path`
    /// when it is sound and rebuilding from the store when not. Writing a
    /// fresh checkpoint is left to the caller (`changed_since_checkpoint`),
    /// so that a node serves before it writes one.
    pub fn open_with_checkpoint(
        store: Arc<dyn Storage>,
        path: Option<std::path::PathBuf>,
    ) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory {
            store,
            index: Index::new(),
            write: Mutex::new(Stock::default()),
            generation: Default::default(),
            checkpointed: Default::default(),
            checkpoint: path,
            started_from: super::StartedFrom::Rebuild,
            events_lock: Mutex::new(()),
            events_written: Arc::new(tokio::sync::Notify::new()),
            stock_alert_below: std::sync::atomic::AtomicU64::new(0),
            clock: Arc::new(crate::model::clock::NodeClock::system()),
            grace_reminders: std::sync::RwLock::new(vec![]),
        };
        inv.start()?;
        Ok(inv)
    }

    pub fn started_from(&self) -> super::StartedFrom {
        self.started_from
    }

    pub fn index(&self) -> Arc<Index> {
        self.index.clone()
    }
    pub fn store(&self) -> &dyn Storage {
        &*self.store
    }

    /// Uses `clock` as the node clock from now on.
    pub fn set_clock(&mut self, clock: Arc<crate::model::clock::NodeClock>) {
        self.clock = clock;
    }

    pub fn clock(&self) -> Arc<crate::model::clock::NodeClock> {
        self.clock.clone()
    }

    /// Reminders during grace, this many seconds before it ends.
    pub fn set_grace_reminders(&self, before_end: Vec<i64>) {
        *self
            .grace_reminders
            .write()
            .unwrap_or_else(|p| p.into_inner()) = before_end;
    }

    pub(crate) fn grace_reminders(&self) -> Vec<i64> {
        self.grace_reminders
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The node's time.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Stock> {
        // A writer that panicked left no half-written state behind (commits
        // are atomic), so the guard is still good.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn refresh_catalog(&self) -> Result<(), InventoryError> {
        // Index entries hold catalogue positions: a definition may add to the
        // catalogue but must not move what is already in it.
        let old = self.index.catalog();
        // Known items keep their position; new ones follow in key order.
        fn in_old_order<T>(mut items: Vec<T>, position: impl Fn(&T) -> Option<u16>) -> Vec<T> {
            items.sort_by_key(|x| position(x).unwrap_or(u16::MAX));
            items
        }
        let sponsors = in_old_order(self.store.scan::<Sponsor>("sponsor/")?, |s| {
            old.sponsor_index(&s.id)
        });
        let products = in_old_order(self.store.scan::<Product>("product/")?, |p| {
            old.product_index(&p.name)
        });
        let pools = self.store.scan::<EsimPool>("pool/")?;
        let pools = in_old_order(pools.into_iter().map(|p| p.name).collect(), |p| {
            old.pool_index(p)
        });
        let dynamic = self.store.scan::<DynamicImsiPool>("dynpool/")?;
        let dynamic = in_old_order(dynamic.into_iter().map(|p| p.name).collect(), |p| {
            old.dynamic_pool_index(p)
        });
        self.index
            .set_catalog(Catalog::new(sponsors, products).with_pools(pools, dynamic));
        Ok(())
    }

    pub(crate) fn audit(
        &self,
        b: &mut WriteBatch,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), InventoryError> {
        let id = self.store.next_id()?;
        b.put(
            format!("audit/{id:020}"),
            &AuditRecord {
                at: self.now(),
                actor: actor.into(),
                action: action.into(),
                subject: subject.into(),
                before,
                after,
            },
        );
        Ok(())
    }

    fn put_catalog<T: super::store::Record>(
        &self,
        actor: &str,
        kind: &str,
        id: &str,
        value: &T,
    ) -> Result<(), InventoryError> {
        let _g = self.lock();
        let key = format!("{kind}/{id}");
        let before: Option<serde_json::Value> = self.store.get(&key)?;
        let mut b = WriteBatch::default();
        b.put(key, value);
        self.audit(
            &mut b,
            actor,
            &format!("define-{kind}"),
            id,
            before,
            serde_json::to_value(value).ok(),
        )?;
        self.commit(b)?;
        self.refresh_catalog()
    }

    pub fn define_sponsor(&self, actor: &str, s: &Sponsor) -> Result<(), InventoryError> {
        if s.id.is_empty() {
            return Err(invalid("id", "must not be empty"));
        }
        if s.plmns.is_empty()
            || s.plmns
                .iter()
                .any(|p| !(5..=6).contains(&p.len()) || !p.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(
                "plmns",
                "each entry is MCC+MNC, 5 or 6 digits (\"26201\")",
            ));
        }
        if let Some(t) = &s.translation {
            if !s
                .plmns
                .iter()
                .any(|p| t.sponsor_prefix.starts_with(p.as_str()))
            {
                return Err(invalid(
                    "translation.sponsor_prefix",
                    "must lie inside the sponsor's plmns",
                ));
            }
        }
        self.put_catalog(actor, "sponsor", &s.id, s)
    }

    pub fn define_product(&self, actor: &str, p: &Product) -> Result<(), InventoryError> {
        if p.name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if let Some(bad) = p
            .rate_codes
            .iter()
            .find(|c| crate::model::RateCode::parse(c).is_err())
        {
            return Err(invalid(
                "rate_codes",
                format!("'{bad}' is not a rate code like E212-262-01"),
            ));
        }
        self.put_catalog(actor, "product", &p.name, p)
    }

    pub fn define_pool(&self, actor: &str, p: &EsimPool) -> Result<(), InventoryError> {
        self.check_products(p.products.iter().map(|x| x.product.as_str()))?;
        if p.layout.len() > 10 {
            return Err(invalid("layout", "at most 10 IMSI positions"));
        }
        for s in &p.layout {
            if !self.store.exists(&format!("sponsor/{s}"))? {
                return Err(InventoryError::NotFound {
                    what: "sponsor",
                    id: s.clone(),
                });
            }
        }
        self.put_catalog(actor, "pool", &p.name, p)
    }

    pub fn define_dynamic_pool(
        &self,
        actor: &str,
        p: &DynamicImsiPool,
    ) -> Result<(), InventoryError> {
        self.check_products(p.products.iter().map(String::as_str))?;
        self.put_catalog(actor, "dynpool", &p.name, p)
    }

    pub fn set_hold_policy(&self, actor: &str, h: &HoldPolicy) -> Result<(), InventoryError> {
        self.put_catalog(actor, "policy", "hold", h)
    }

    fn check_products<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), InventoryError> {
        for n in names {
            if !self.store.exists(&format!("product/{n}"))? {
                return Err(InventoryError::NotFound {
                    what: "product",
                    id: n.into(),
                });
            }
        }
        Ok(())
    }

    pub fn sponsor(&self, id: &str) -> Result<Sponsor, InventoryError> {
        self.store
            .get(&format!("sponsor/{id}"))?
            .ok_or(InventoryError::NotFound {
                what: "sponsor",
                id: id.into(),
            })
    }
    pub fn pools(&self) -> Result<Vec<EsimPool>, InventoryError> {
        Ok(self.store.scan("pool/")?)
    }
    pub fn dynamic_pools(&self) -> Result<Vec<DynamicImsiPool>, InventoryError> {
        Ok(self.store.scan("dynpool/")?)
    }
    pub fn products(&self) -> Result<Vec<Product>, InventoryError> {
        Ok(self.store.scan("product/")?)
    }
    pub fn imsi(&self, imsi: &str) -> Result<Option<Imsi>, InventoryError> {
        Ok(self.store.get(&format!("imsi/{imsi}"))?)
    }
    pub fn profile(&self, iccid: &str) -> Result<Option<Profile>, InventoryError> {
        Ok(self.store.get(&format!("profile/{iccid}"))?)
    }
    pub fn account(&self, id: u64) -> Result<Option<Account>, InventoryError> {
        Ok(self.store.get(&format!("account/{id:020}"))?)
    }
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, InventoryError> {
        Ok(self.store.scan("audit/")?)
    }

    /// Onboarding: a new account for `product` gets an available profile from
    /// the product's pools, highest priority (lowest number) first.
    pub fn onboard(
        &self,
        actor: &str,
        product: &str,
        msisdn: Option<&str>,
    ) -> Result<(Account, Profile), InventoryError> {
        let mut stock = self.lock();
        if !self.store.exists(&format!("product/{product}"))? {
            return Err(InventoryError::NotFound {
                what: "product",
                id: product.into(),
            });
        }
        if let Some(m) = msisdn {
            if !(6..=15).contains(&m.len()) || !m.bytes().all(|c| c.is_ascii_digit()) {
                return Err(invalid("msisdn", "6 to 15 digits, E.164 without '+'"));
            }
            if self.index.msisdn_taken(m) {
                return Err(InventoryError::Conflict(format!(
                    "msisdn {m} already belongs to an account"
                )));
            }
        }
        let (mut profile, sponsors) = self.pick_profile(&stock, product)?;
        let iccid = profile.iccid.clone();
        let id = self.store.next_id()? + 1;
        let msisdn = match msisdn {
            Some(m) => m.to_string(),
            None => format!("4917{id:08}"),
        };
        let account = Account {
            id,
            msisdn,
            product: product.into(),
            profile: Some(iccid.clone()),
            status: AccountStatus::Active,
            created_at: self.now(),
        };
        profile.state = ProfileState::Assigned { account: id };
        let mut b = WriteBatch::default();
        b.put(format!("profile/{iccid}"), &profile);
        b.put(format!("account/{id:020}"), &account);
        b.put(
            format!("history/{iccid}/{:020}", account.created_at),
            &serde_json::json!([id, "assigned"]),
        );
        self.audit(
            &mut b,
            actor,
            "onboard",
            &format!("account {id}"),
            None,
            Some(serde_json::json!({"product": product, "iccid": iccid})),
        )?;
        let mut drafts = self.with_profile_imsis(&profile.imsis, |imsis| {
            vec![event::account_new(&account, &profile, imsis)]
        })?;
        drafts.extend(self.stock_taken(&stock, &profile.pool, &sponsors, product, &mut b)?);
        self.start_first_period(&mut b, &account)?;
        let who = super::history::Holder {
            account: Some(&account),
            event: "assigned",
        };
        self.record_profile(&mut b, &profile, who, account.created_at)?;
        self.commit_with_events(b, drafts, account.created_at, |b| self.commit(b))?;
        stock.taken(&profile);
        self.index.put_account(&account, Some(&profile));
        Ok((account, profile))
    }

    /// The profile a new subscription of `product` gets (onboarding, eSIM
    /// swap): the first available one of its pools, highest priority
    /// (lowest number) first; with the sponsor ids of its IMSIs.
    pub(crate) fn pick_profile(
        &self,
        stock: &Stock,
        product: &str,
    ) -> Result<(Profile, Vec<String>), InventoryError> {
        let mut pools: Vec<(u32, String)> = self
            .pools()?
            .into_iter()
            .filter_map(|p| {
                p.products
                    .iter()
                    .find(|x| x.product == product)
                    .map(|x| (x.priority, p.name.clone()))
            })
            .collect();
        pools.sort();
        let (iccid, sponsors) = pools
            .iter()
            .find_map(|(_, pool)| {
                let (iccid, sponsors) = stock.available.get(pool)?.iter().next()?;
                Some((iccid.clone(), sponsors.clone()))
            })
            .ok_or_else(|| InventoryError::OutOfStock(product.into()))?;
        let profile = self.profile(&iccid)?.ok_or(InventoryError::NotFound {
            what: "profile",
            id: iccid,
        })?;
        Ok((profile, sponsors))
    }
}

/// Each sponsor once, however many of a profile's IMSIs it lent.
fn distinct(sponsors: &[String]) -> Vec<&String> {
    let mut uniq: Vec<&String> = sponsors.iter().collect();
    uniq.sort();
    uniq.dedup();
    uniq
}

impl Stock {
    pub(crate) fn new(
        available: HashMap<String, BTreeMap<String, Vec<String>>>,
        dynamic: BTreeMap<(String, String), u64>,
    ) -> Stock {
        let mut by_sponsor: HashMap<String, u64> = HashMap::new();
        for sponsors in available.values().flat_map(|m| m.values()) {
            for s in distinct(sponsors) {
                *by_sponsor.entry(s.clone()).or_default() += 1;
            }
        }
        Stock {
            available,
            dynamic,
            by_sponsor,
        }
    }

    /// A committed change made `iccid` of `pool` available.
    pub(crate) fn added(&mut self, pool: &str, iccid: &str, sponsors: Vec<String>) {
        for s in distinct(&sponsors) {
            *self.by_sponsor.entry(s.clone()).or_default() += 1;
        }
        let avail = self.available.entry(pool.to_string()).or_default();
        if let Some(old) = avail.insert(iccid.to_string(), sponsors) {
            self.uncount(&old);
        }
    }

    /// A committed change assigned `p`: it is no longer available.
    pub(crate) fn taken(&mut self, p: &Profile) {
        let gone = self
            .available
            .get_mut(&p.pool)
            .and_then(|m| m.remove(&p.iccid));
        if let Some(sponsors) = gone {
            self.uncount(&sponsors);
        }
    }

    fn uncount(&mut self, sponsors: &[String]) {
        for s in distinct(sponsors) {
            if let Some(n) = self.by_sponsor.get_mut(s) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// A committed change put `imsi` in (its state is InDynamicPool) or took
    /// it out of (`joined` false) a dynamic pool.
    pub(crate) fn dynamic_moved(&mut self, imsi: &Imsi, pool: &str, joined: bool) {
        let n = self
            .dynamic
            .entry((pool.to_string(), imsi.sponsor.clone()))
            .or_default();
        *n = if joined { *n + 1 } else { n.saturating_sub(1) };
    }

    /// IMSIs waiting in dynamic pool `pool`, of every sponsor.
    pub(crate) fn dynamic_level(&self, pool: &str) -> u64 {
        self.dynamic
            .iter()
            .filter(|((p, _), _)| p == pool)
            .map(|(_, n)| n)
            .sum()
    }

    /// Available profiles with at least one IMSI of `sponsor`.
    pub(crate) fn sponsor_level(&self, sponsor: &str) -> u64 {
        self.by_sponsor.get(sponsor).copied().unwrap_or(0)
    }
}
