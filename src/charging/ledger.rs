//! Who owns an account's charging state: its balance and its sessions live
//! together in one `AccountState`, reached only through that account's
//! lock. Whoever holds it decides, takes the commit sequence and keeps the
//! answer in one step, so two gateways charging one bundle are serialised
//! and the durable totals come out in the order they changed.
//!
//! Accounts are spread over shards, each a mutex around a map; the lock
//! is held for one request's rating (about a microsecond), never across
//! I/O. A Session-Id → account map finds the owner of a CCR-U/T; it is only
//! written while the owning account is locked.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crossbeam_utils::CachePadded;
use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::balance::AccountBalance;
use super::gateway::OpenSession;
use super::session::{Session, SessionState};
use crate::model::{UnixTime, Used};

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// An account's balance and every session charging it.
#[derive(Debug, Default)]
pub struct AccountState {
    pub balance: AccountBalance,
    pub sessions: HashMap<Box<str>, Session, FxBuildHasher>,
}

type Shard = HashMap<u64, AccountState, FxBuildHasher>;

pub struct Ledger {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    owners: DashMap<Box<str>, u64, FxBuildHasher>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::default()))
                .collect(),
            owners: DashMap::default(),
        }
    }
}

fn shard_of(account: u64) -> usize {
    (account.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARD_BITS)) as usize
}

/// One account, locked.
pub struct AccountGuard<'a> {
    shard: MutexGuard<'a, Shard>,
    account: u64,
    owners: &'a DashMap<Box<str>, u64, FxBuildHasher>,
}

impl AccountGuard<'_> {
    pub fn account(&self) -> u64 {
        self.account
    }
    pub fn state(&mut self) -> &mut AccountState {
        self.shard.entry(self.account).or_default()
    }
    /// The account's state, without making one for an account gyro has
    /// not charged.
    pub fn existing(&self) -> Option<&AccountState> {
        self.shard.get(&self.account)
    }
    pub fn session(&mut self, id: &str) -> Option<&mut Session> {
        self.shard.get_mut(&self.account)?.sessions.get_mut(id)
    }
    /// The balance and one of its sessions, both borrowed mutably.
    pub fn split(&mut self, id: &str) -> Option<(&mut AccountBalance, &mut Session)> {
        let s = self.shard.get_mut(&self.account)?;
        let session = s.sessions.get_mut(id)?;
        Some((&mut s.balance, session))
    }
    /// Opens (or replaces) a session of this account; returns it with the
    /// balance, ready to rate on.
    pub fn open(&mut self, id: &str, session: Session) -> (&mut AccountBalance, &mut Session) {
        self.owners.insert(id.into(), self.account);
        let st = self.shard.entry(self.account).or_default();
        let s = match st.sessions.entry(id.into()) {
            Entry::Occupied(mut o) => {
                o.insert(session);
                o.into_mut()
            }
            Entry::Vacant(v) => v.insert(session),
        };
        (&mut st.balance, s)
    }
    /// Ends a session of this account and releases its reservations.
    pub fn close(&mut self, id: &str) -> Option<Session> {
        let account = self.account;
        let st = self.shard.get_mut(&account)?;
        let s = st.sessions.remove(id)?;
        for r in &s.reservations {
            st.balance.release(r.allowance, r.units);
        }
        self.owners.remove_if(id, |_, a| *a == account);
        Some(s)
    }
}

/// What a supervision sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Silent sessions that held quota: released and ended (Tcc).
    pub expired: usize,
    /// Terminated sessions whose answers need no longer be kept.
    pub forgotten: usize,
}

impl Ledger {
    /// The account that owns a Session-Id, if gyro knows the session.
    pub fn owner(&self, session_id: &str) -> Option<u64> {
        self.owners.get(session_id).map(|a| *a)
    }

    pub fn lock(&self, account: u64) -> AccountGuard<'_> {
        AccountGuard {
            shard: self.shards[shard_of(account)]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            account,
            owners: &self.owners,
        }
    }

    /// Sets an account's durable usage (at start-up, from the store).
    pub fn load(&self, account: u64, used: Used) {
        self.lock(account).state().balance.used = used;
    }

    pub fn balance(&self, account: u64) -> AccountBalance {
        let shard = self.shards[shard_of(account)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        shard.get(&account).map(|s| s.balance).unwrap_or_default()
    }

    pub fn sessions(&self) -> usize {
        self.owners.len()
    }

    /// An account's open sessions, by Session-Id, copied out under its
    /// lock: whoever sends them requests holds no lock meanwhile.
    pub fn open_sessions(&self, account: u64) -> Vec<OpenSession> {
        let acct = self.lock(account);
        let mut v: Vec<OpenSession> = acct
            .existing()
            .into_iter()
            .flat_map(|st| &st.sessions)
            .filter(|(_, s)| s.state == SessionState::Open)
            .map(|(id, s)| OpenSession {
                session_id: id.clone(),
                iccid: s.subscriber.iccid,
                gateway: s.gateway.clone(),
            })
            .collect();
        drop(acct);
        v.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        v
    }

    /// Supervision at `now`. A silent session past Tcc that holds quota has
    /// its reservations released and ends (the gateway is gone: a later
    /// CCR-U re-creates it). One that holds none keeps its bearer until it
    /// was silent for `idle_max`. Terminated ones are forgotten once their
    /// linger time is over.
    /// `forget` sees each session before it goes.
    pub fn sweep(&self, now: UnixTime, idle_max: i64, forget: &dyn Fn(&str, &Session)) -> Swept {
        let mut out = Swept::default();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for st in shard.values_mut() {
                let balance = &mut st.balance;
                st.sessions.retain(|id, s| {
                    let keep = match s.state {
                        SessionState::Terminated => s.expires > now,
                        SessionState::Open if s.expires > now => true,
                        SessionState::Open if s.holds_quota() => false,
                        SessionState::Open => now - s.last_seen < idle_max,
                    };
                    if !keep {
                        forget(id, s);
                        for r in &s.reservations {
                            balance.release(r.allowance, r.units);
                        }
                        match s.state {
                            SessionState::Open if s.holds_quota() => out.expired += 1,
                            _ => out.forgotten += 1,
                        }
                        let account = s.subscriber.account;
                        self.owners.remove_if(&**id, |_, a| *a == account);
                    }
                    keep
                });
            }
            shard.retain(|_, st| !st.sessions.is_empty() || st.balance.used != Used::default());
        }
        out
    }
}
