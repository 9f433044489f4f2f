//! The SM-DP+ exchange, run by `gyro serve` when `[smdp]` is set: each new
//! order's input file goes up to `input_dir` (retried until the server takes
//! it, then the order is `sent`), and `output_dir` is polled every `poll`
//! for the SM-DP+'s output files. A file taken in moves to `processed/`; a
//! refused one to `rejected/` beside a `.err` naming its faults. A file is
//! only moved after its commit, so a crash leaves it to be read again, and
//! a file read again for an order it already completed is a duplicate.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::sftp::{SftpClient, SftpError};
use super::SmdpSettings;
use crate::inventory::InventoryError;
use crate::model::order::OrderState;
use crate::profilegen::desk::{DeskError, OrderDesk};

pub const PROCESSED: &str = "processed";
pub const REJECTED: &str = "rejected";

pub struct Exchange {
    cfg: SmdpSettings,
    desk: Arc<OrderDesk>,
    wake: Arc<Notify>,
}

/// What became of one output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Processed,
    Rejected,
    /// Left where it is for the next poll (the store failed).
    Kept,
}

impl Exchange {
    pub fn new(cfg: SmdpSettings, desk: Arc<OrderDesk>, wake: Arc<Notify>) -> Exchange {
        Exchange { cfg, desk, wake }
    }

    /// Runs until the process ends: a round at once, then one per `poll`
    /// or whenever an order is created.
    /// Supervised: a panic starts a fresh run (and a fresh connection).
    pub fn spawn(self) {
        let me = Arc::new(self);
        crate::supervise::spawn("smdp_exchange", move || me.clone().run());
    }

    /// A round at once, then one per `poll` or whenever an order is created.
    async fn run(self: Arc<Self>) -> Result<(), SftpError> {
        let mut client: Option<SftpClient> = None;
        loop {
            if let Err(e) = self.round(&mut client).await {
                metrics::counter!("gyro_smdp_errors_total").increment(1);
                tracing::warn!(error = %e, "SM-DP+ sFTP exchange failed; retrying at the next poll");
                client = None;
            }
            let poll = self.cfg.poll.0.max(Duration::from_millis(200));
            let _ = tokio::time::timeout(poll, self.wake.notified()).await;
        }
    }

    /// Sends what waits to be sent, then takes in what the SM-DP+ left.
    async fn round(&self, client: &mut Option<SftpClient>) -> Result<(), SftpError> {
        if client.as_ref().is_none_or(SftpClient::is_closed) {
            *client = Some(SftpClient::connect(&self.cfg).await?);
        }
        let Some(c) = client.as_ref() else {
            return Ok(());
        };
        self.send(c).await?;
        self.poll(c).await
    }

    async fn send(&self, c: &SftpClient) -> Result<(), SftpError> {
        let inv = self.desk.inventory().clone();
        let waiting = blocking(move || {
            let orders = inv.orders()?;
            let created = orders
                .into_iter()
                .filter(|o| o.state == OrderState::Created);
            created
                .map(|o| inv.order_input(o.id).map(|text| (o.id, o.file, text)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        let waiting = match waiting {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the orders to send");
                return Ok(());
            }
        };
        for (id, file, text) in waiting {
            c.upload_atomic(&self.cfg.input_dir, &file, text.as_bytes())
                .await?;
            let inv = self.desk.inventory().clone();
            match blocking(move || inv.order_sent(id)).await {
                Ok(_) => {
                    metrics::counter!("gyro_smdp_uploads_total").increment(1);
                    tracing::info!(order = id, %file, dir = %self.cfg.input_dir, "order input file sent to the SM-DP+");
                }
                // Cancelled meanwhile: the file on the server is moot.
                Err(e) => tracing::warn!(order = id, error = %e, "order sent but not marked"),
            }
        }
        Ok(())
    }

    async fn poll(&self, c: &SftpClient) -> Result<(), SftpError> {
        let dir = &self.cfg.output_dir;
        for f in c.list(dir).await? {
            if f.name.ends_with(".err") {
                continue;
            }
            let bytes = c.read(dir, &f.name).await?;
            let desk = self.desk.clone();
            let name = f.name.clone();
            let result = tokio::task::spawn_blocking(move || desk.ingest("smdp", &name, &bytes))
                .await
                .unwrap_or_else(|e| {
                    Err(DeskError::Inventory(InventoryError::Interrupted(
                        e.to_string(),
                    )))
                });
            let fate = self.settle(c, &f.name, result).await?;
            metrics::counter!("gyro_smdp_files_total", "fate" => fate_name(fate)).increment(1);
        }
        Ok(())
    }

    /// Moves the file where its outcome says.
    async fn settle(
        &self,
        c: &SftpClient,
        name: &str,
        result: Result<crate::profilegen::desk::Taken, DeskError>,
    ) -> Result<Fate, SftpError> {
        let dir = &self.cfg.output_dir;
        let (fate, note) = match result {
            Ok(t) => {
                tracing::info!(file = name, order = t.order, kind = t.kind, profiles = t.profiles, pool = %t.pool, "SM-DP+ output file taken in");
                (Fate::Processed, None)
            }
            Err(DeskError::Duplicate { order }) => {
                tracing::info!(
                    file = name,
                    order,
                    "output file already taken in for its order"
                );
                (Fate::Processed, None)
            }
            Err(DeskError::Inventory(InventoryError::Store(e))) => {
                tracing::error!(file = name, error = %e, "store failed; the file stays for the next poll");
                (Fate::Kept, None)
            }
            Err(e @ DeskError::PersoDir { .. }) => {
                tracing::error!(file = name, error = %e, "the file stays for the next poll");
                (Fate::Kept, None)
            }
            Err(DeskError::Rejected { errors, order, .. }) => {
                tracing::warn!(
                    file = name,
                    ?order,
                    faults = errors.total,
                    "SM-DP+ output file rejected"
                );
                (Fate::Rejected, Some(errors.to_string()))
            }
            Err(e) => {
                tracing::warn!(file = name, error = %e, "SM-DP+ output file rejected");
                (Fate::Rejected, Some(format!("{e}\n")))
            }
        };
        match fate {
            Fate::Processed => c.rename(dir, name, PROCESSED, name).await?,
            Fate::Rejected => {
                let rejected = format!("{dir}/{REJECTED}");
                c.rename(dir, name, REJECTED, name).await?;
                let note = note.unwrap_or_default();
                c.write(&rejected, &format!("{name}.err"), note.as_bytes())
                    .await?;
            }
            Fate::Kept => {}
        }
        Ok(fate)
    }
}

fn fate_name(f: Fate) -> &'static str {
    match f {
        Fate::Processed => "processed",
        Fate::Rejected => "rejected",
        Fate::Kept => "kept",
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InventoryError> + Send + 'static,
) -> Result<T, InventoryError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(InventoryError::Interrupted(e.to_string())))
}
