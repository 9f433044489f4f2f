//! The order desk: what the API, the CLI and the sFTP poller share to create
//! orders (rules derived from the current rating, input file written in the
//! same commit as the reservation) and to take in output files (told apart,
//! matched to their order by Batch No, validated whole, loaded or refused).

use std::path::PathBuf;
use std::sync::Arc;

use super::file::FileErrors;
use super::perso::{output_kind, parse_perso, OutputKind};
use super::{derive, parse_standard, write_input, OrderView, ProfileRow, RuleOptions};
use crate::inventory::order_ingest::Ingested;
use crate::inventory::orders::{OrderRequest, OrderSettings};
use crate::inventory::{Inventory, InventoryError, LineError};
use crate::model::order::{Order, OrderState};
use crate::model::{Profile, ProfileState};
use crate::rating::Rating;

/// The rating in force (the engine's, or loaded from the file by the CLI).
pub type RatingNow = Arc<dyn Fn() -> Result<Arc<Rating>, String> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The file was refused; `order` is set when it could be matched.
    #[error("{file}: rejected, nothing loaded: {errors}")]
    Rejected {
        file: String,
        order: Option<u64>,
        errors: FileErrors,
    },
    /// A Standard file its order was already completed from, read again
    /// (after a crash between commit and move, or sent twice).
    #[error("order {order} was already ingested from this file")]
    Duplicate { order: u64 },
    #[error("rating: {0}")]
    Rating(String),
    #[error("smdp.perso_dir {dir}: {message}")]
    PersoDir { dir: String, message: String },
}

/// What an accepted output file did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Taken {
    pub order: u64,
    pub kind: &'static str,
    pub profiles: u64,
    pub pool: String,
}

pub struct OrderDesk {
    inventory: Arc<Inventory>,
    rating: RatingNow,
    settings: OrderSettings,
    perso_dir: Option<PathBuf>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            customer: o.customer.clone(),
            pool: o.pool.clone(),
            order_id: o.id.to_string(),
            transport_key: o.transport_key.clone(),
            imsis_per_profile: o.imsis_per_profile as usize,
            profiles: o.profiles.clone(),
        }
    }
}

impl OrderDesk {
    pub fn new(
        inventory: Arc<Inventory>,
        rating: RatingNow,
        settings: OrderSettings,
        perso_dir: Option<PathBuf>,
    ) -> OrderDesk {
        OrderDesk {
            inventory,
            rating,
            settings,
            perso_dir,
        }
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    /// Creates an order with its input file; nothing is reserved on error.
    pub fn create(&self, actor: &str, req: &OrderRequest) -> Result<Order, DeskError> {
        let rating = (self.rating)().map_err(DeskError::Rating)?;
        let options = RuleOptions {
            least_cost: req.least_cost,
            profit_guarantee: req.profit_guarantee,
        };
        let write = |order: &Order, products: &[_], sponsors: &[_]| {
            let rules = derive(products, sponsors, &rating, options).map_err(|e| e.to_string())?;
            let bytes = write_input(&OrderView::from(order), &rules).map_err(|e| e.to_string())?;
            String::from_utf8(bytes).map_err(|e| e.to_string())
        };
        Ok(self
            .inventory
            .create_order(actor, req, &self.settings, &write)?)
    }

    /// Takes in an output file named `file`: a Standard file loads the
    /// order's profiles, a Perso file is kept per ICCID (and copied to
    /// `smdp.perso_dir`). A refused file changes nothing but the order's
    /// list of rejections.
    pub fn ingest(&self, actor: &str, file: &str, bytes: &[u8]) -> Result<Taken, DeskError> {
        let refused = |order: Option<u64>, errors: FileErrors| DeskError::Rejected {
            file: file.into(),
            order,
            errors,
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(refused(None, one(1, "file", "", "not UTF-8 text")));
        };
        let Some((id, kind)) = output_kind(text) else {
            let why =
                "no *HEADER DESCRIPTION with a numeric Batch No and *OUTPUT VARIABLES var_Out";
            return Err(refused(None, one(1, "file", "", why)));
        };
        let order = match self.inventory.order(id) {
            Ok(o) => o,
            Err(InventoryError::NotFound { .. }) => {
                return Err(refused(
                    None,
                    one(1, "Batch No", &id.to_string(), "no such order"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if kind == OutputKind::Standard && !order.state.is_open() {
            return Err(self.closed(&order, file, text)?);
        }
        let result = match kind {
            OutputKind::Standard => self.standard(actor, &order, file, text),
            OutputKind::Perso => self.perso(actor, &order, file, text, bytes),
        };
        if let Err(DeskError::Rejected { errors, .. }) = &result {
            if order.state.is_open() {
                let first = errors
                    .errors
                    .iter()
                    .take(5)
                    .map(|e| e.to_string())
                    .collect();
                self.inventory
                    .order_rejected(id, file, errors.total, first)?;
            }
        }
        result
    }

    fn standard(
        &self,
        actor: &str,
        order: &Order,
        file: &str,
        text: &str,
    ) -> Result<Taken, DeskError> {
        let view = OrderView::from(order);
        let rows = parse_standard(text, &view).map_err(|errors| DeskError::Rejected {
            file: file.into(),
            order: Some(order.id),
            errors,
        })?;
        let profiles = rows
            .into_iter()
            .map(|r| Profile {
                iccid: r.iccid,
                pool: order.pool.clone(),
                imsis: r.imsis,
                transport_key_label: order.transport_key.clone(),
                ki: r.ki,
                opc: r.opc,
                pin1: r.pin1,
                puk1: r.puk1,
                pin2: r.pin2,
                puk2: r.puk2,
                state: ProfileState::Available,
            })
            .collect();
        let Ingested {
            order,
            pool,
            profiles,
        } = self
            .inventory
            .ingest_order(actor, order.id, file, profiles)
            .map_err(|e| rejected_by_store(file, order.id, e))?;
        Ok(Taken {
            order,
            kind: "standard",
            profiles,
            pool,
        })
    }

    fn perso(
        &self,
        actor: &str,
        order: &Order,
        file: &str,
        text: &str,
        bytes: &[u8],
    ) -> Result<Taken, DeskError> {
        let rows = parse_perso(text, &OrderView::from(order), order.id).map_err(|errors| {
            DeskError::Rejected {
                file: file.into(),
                order: Some(order.id),
                errors,
            }
        })?;
        let n = self
            .inventory
            .store_perso(actor, order.id, file, rows)
            .map_err(|e| rejected_by_store(file, order.id, e))?;
        if let Some(dir) = &self.perso_dir {
            copy_atomic(dir, file, bytes).map_err(|message| DeskError::PersoDir {
                dir: dir.display().to_string(),
                message,
            })?;
        }
        Ok(Taken {
            order: order.id,
            kind: "perso",
            profiles: n as u64,
            pool: order.pool.clone(),
        })
    }
}

impl OrderDesk {
    /// A Standard file for a closed order: a duplicate when it is the very
    /// file the order was completed from (every row as loaded, keys and
    /// PINs included), refused otherwise.
    fn closed(&self, order: &Order, file: &str, text: &str) -> Result<DeskError, DeskError> {
        let mut why = format!("order {} is {}", order.id, order.state);
        if matches!(order.state, OrderState::Ingested { .. }) {
            if let Ok(rows) = parse_standard(text, &OrderView::from(order)) {
                if self.as_loaded(&rows)? {
                    return Ok(DeskError::Duplicate { order: order.id });
                }
                why.push_str(" from a file with other values");
            }
        }
        Ok(DeskError::Rejected {
            file: file.into(),
            order: Some(order.id),
            errors: one(1, "Batch No", &order.id.to_string(), &why),
        })
    }

    /// Whether each row is its profile as the inventory loaded it.
    fn as_loaded(&self, rows: &[ProfileRow]) -> Result<bool, InventoryError> {
        for r in rows {
            let same = self.inventory.profile(&r.iccid)?.is_some_and(|p| {
                (&p.imsis, &p.ki, &p.opc, &p.pin1, &p.puk1, &p.pin2, &p.puk2)
                    == (&r.imsis, &r.ki, &r.opc, &r.pin1, &r.puk1, &r.pin2, &r.puk2)
            });
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn one(line: usize, field: &str, value: &str, reason: &str) -> FileErrors {
    let mut e = FileErrors::default();
    e.push(line, field, value, reason);
    e
}

/// The store's own refusal of a parsed file (the order changed meanwhile)
/// is a rejection of the file too.
fn rejected_by_store(file: &str, order: u64, e: InventoryError) -> DeskError {
    match e {
        InventoryError::Rejected { errors, .. } => {
            let mut fe = FileErrors::default();
            for LineError {
                line,
                field,
                value,
                reason,
            } in errors
            {
                fe.push(line, &field, &value, &reason);
            }
            DeskError::Rejected {
                file: file.into(),
                order: Some(order),
                errors: fe,
            }
        }
        other => other.into(),
    }
}

/// Writes `name` into `dir` whole or not at all (a reader of the folder
/// never sees half a file).
fn copy_atomic(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let base = std::path::Path::new(name)
        .file_name()
        .ok_or_else(|| format!("'{name}' has no file name"))?;
    let fail = |what: &str, e: std::io::Error| format!("{what}: {e}");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail("creating the folder", e))?;
    let part = dir.join(format!("{}.part", base.to_string_lossy()));
    // The file holds the SM-DP+'s secrets: only gyro's user reads it, and
    // it is on disk (its name in the folder too) before the answer says so.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&part)
        .map_err(|e| fail("creating the file", e))?;
    // A .part left by an older run keeps its mode: set it again.
    std::fs::set_permissions(&part, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| fail("setting its mode", e))?;
    f.write_all(bytes).map_err(|e| fail("writing", e))?;
    f.sync_all().map_err(|e| fail("syncing the file", e))?;
    std::fs::rename(&part, dir.join(base)).map_err(|e| fail("renaming", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("syncing the folder", e))
}

#[cfg(test)]
mod tests;
