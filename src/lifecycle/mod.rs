//! The lifecycle on the running node: runs the inventory's due transitions
//! (bundle ends, grace, holds) as time passes, or at once when a test clock
//! jumps, and carries their effects beyond the store: the ledger's new
//! period, RAR on renewal, bundle change, eSIM swap and lapse, ASR on
//! closure.

use std::sync::Arc;
use std::time::Duration;

use crate::charging::app::CreditControl;
use crate::charging::server_initiated::ServerInitiated;
use crate::inventory::esim_swap::EsimSwap;
use crate::inventory::lifecycle::Effect;
use crate::inventory::{Inventory, InventoryError};
use crate::model::clock::ClockError;
use crate::model::lifecycle::BundlePeriod;
use crate::model::{Account, UnixTime};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("{0}")]
    Task(String),
}

pub struct Lifecycle {
    inventory: Arc<Inventory>,
    charging: Option<CreditControl>,
    gateways: Option<Arc<ServerInitiated>>,
    /// Held by a run of due transitions, and by a clock move from the
    /// moment the clock moves until what fell due has run: otherwise the
    /// once-a-second loop can see the new now first and run those
    /// transitions itself, and the clock's caller hears of none of them
    /// (nor can count on their RAR/ASR having left).
    runs: tokio::sync::Mutex<()>,
}

/// The longest the loop sleeps: a timer set meanwhile (an onboarding's
/// period end) is seen within this.
const TICK: Duration = Duration::from_secs(1);

impl Lifecycle {
    pub fn new(
        inventory: Arc<Inventory>,
        charging: Option<CreditControl>,
        gateways: Option<Arc<ServerInitiated>>,
    ) -> Arc<Lifecycle> {
        if let Some(c) = &charging {
            // A renewal whose reset a crash cut short is finished now (with
            // its fair-usage restore).
            if let Ok(periods) = inventory.current_periods() {
                for (account, period) in periods {
                    c.engine.start_period(account, period, &c.committer);
                }
            }
        }
        Arc::new(Lifecycle {
            inventory,
            charging,
            gateways,
            runs: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs due transitions every second, from now on.
    /// Supervised: a panic starts a fresh run.
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        crate::supervise::spawn("lifecycle", move || me.clone().run_forever());
    }

    async fn run_forever(self: Arc<Self>) -> Result<(), LifecycleError> {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "lifecycle transitions failed; retrying");
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// Every transition due by the node's now; how many ran.
    pub async fn run_due(&self) -> Result<usize, LifecycleError> {
        let _run = self.runs.lock().await;
        self.run_due_held().await
    }

    /// `run_due` for a caller that holds `runs`.
    async fn run_due_held(&self) -> Result<usize, LifecycleError> {
        let inv = self.inventory.clone();
        let (n, effects) = blocking(move || inv.run_due(inv.now())).await?;
        self.apply(effects);
        Ok(n)
    }

    /// Moves a test clock to `t` and runs what fell due, in order, before
    /// it returns.
    pub async fn advance_clock(&self, t: UnixTime) -> Result<(UnixTime, usize), LifecycleError> {
        let _run = self.runs.lock().await;
        let now = self.inventory.clock().advance_to(t)?;
        let inv = self.inventory.clone();
        blocking(move || inv.save_test_clock(now)).await?;
        Ok((now, self.run_due_held().await?))
    }

    pub async fn renew(&self, actor: &str, id: u64) -> Result<BundlePeriod, LifecycleError> {
        let (inv, actor) = (self.inventory.clone(), actor.to_string());
        let (p, effects) = blocking(move || inv.renew(&actor, id)).await?;
        self.apply(effects);
        Ok(p)
    }

    pub async fn close(&self, actor: &str, id: u64) -> Result<(), LifecycleError> {
        let (inv, actor) = (self.inventory.clone(), actor.to_string());
        let effects = blocking(move || inv.close_account(&actor, id)).await?;
        self.apply(effects);
        Ok(())
    }

    /// A bundle change: the account and its new period.
    pub async fn change_bundle(
        &self,
        actor: &str,
        id: u64,
        product: &str,
    ) -> Result<(Account, BundlePeriod), LifecycleError> {
        let (inv, actor, product) = (
            self.inventory.clone(),
            actor.to_string(),
            product.to_string(),
        );
        let (a, p, effects) = blocking(move || inv.change_bundle(&actor, id, &product)).await?;
        self.apply(effects);
        Ok((a, p))
    }

    /// An eSIM swap: the account moves to a new profile that serves the
    /// new product.
    pub async fn esim_swap(
        &self,
        actor: &str,
        id: u64,
        product: &str,
    ) -> Result<EsimSwap, LifecycleError> {
        let (inv, actor, product) = (
            self.inventory.clone(),
            actor.to_string(),
            product.to_string(),
        );
        let (swap, effects) = blocking(move || inv.esim_swap(&actor, id, &product)).await?;
        self.apply(effects);
        Ok(swap)
    }

    /// What a committed transition means beyond the store. The ledger's
    /// reset is immediate; RAR and ASR go out in the background (they wait
    /// for gateways, and a restart re-derives nothing from them).
    pub fn apply(&self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::PeriodStarted { account, period } => {
                    self.start_period(account, period);
                    self.reauth(account);
                }
                Effect::Lapsed { account } => self.reauth(account),
                Effect::Closed { account } => self.abort(account, "closed account"),
                Effect::Swapped { account, period } => {
                    self.start_period(account, period);
                    self.abort(account, "eSIM swap");
                }
            }
        }
    }

    fn start_period(&self, account: u64, period: u64) {
        if let Some(c) = &self.charging {
            c.engine.start_period(account, period, &c.committer);
        }
    }

    fn abort(&self, account: u64, why: &'static str) {
        if let Some(g) = self.gateways.clone() {
            tokio::spawn(async move {
                let sent = g.abort_sessions_of_account(account).await;
                tracing::info!(account, sessions = sent.len(), why, "ASR sent");
            });
        }
    }

    fn reauth(&self, account: u64) {
        if let Some(g) = self.gateways.clone() {
            tokio::spawn(async move {
                let sent = g.reauth_account(account).await;
                if sent.is_empty() {
                    // Said, so that a RAR nobody received can be told from one lost.
                    tracing::debug!(account, "bundle changed: no open session to re-authorise");
                } else {
                    tracing::info!(account, sessions = sent.len(), "bundle changed: RAR sent");
                }
            });
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InventoryError> + Send + 'static,
) -> Result<T, LifecycleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LifecycleError::Task(e.to_string()))?
        .map_err(LifecycleError::from)
}
