//! `gyro account bundle|esim-swap|renew|close|auto-renew`: an account's
//! lifecycle, on the store or through `--api`, printing the API's JSON and
//! reporting errors as the API does (a bundle change that needs an eSIM swap
//! says `esim_swap_required` and why).
//!
//! On the store the node is not running, so there is no gateway to send a
//! RAR or ASR to; the new period reaches the ledger when the node starts.

use clap::{ArgGroup, Subcommand};
use serde_json::{json, Value};

use super::{error_text, mode, Mode, Target};
use crate::inventory::InventoryError;
use crate::views::{account_json, inventory_error, period_json, swap_json};

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Move the account to another product on the eSIM it has; refused with
    /// esim_swap_required when that eSIM cannot serve it.
    Bundle {
        id: u64,
        #[arg(long)]
        product: String,
    },
    /// Give the account a new eSIM profile for a product; the old one is
    /// disposed and its IMSIs go on hold for the subscriber.
    EsimSwap {
        id: u64,
        #[arg(long)]
        product: String,
    },
    /// Start a new bundle period from now.
    Renew { id: u64 },
    /// Close the account: its profile is disposed, its IMSIs go on hold.
    Close { id: u64 },
    /// Whether the bundle renews by itself at the end of each period.
    #[command(group(ArgGroup::new("switch").required(true).args(["on", "off"])))]
    AutoRenew {
        id: u64,
        /// Renew by itself (renewable products only).
        #[arg(long)]
        on: bool,
        /// Lapse at the end of the period unless renewed.
        #[arg(long)]
        off: bool,
    },
}

/// An error from the store, as the API would have answered it.
fn direct(what: &str, e: InventoryError) -> anyhow::Error {
    let (status, body) = inventory_error(e);
    anyhow::anyhow!(error_text(what, status, &body))
}

pub fn account(t: &Target, cmd: AccountCommand) -> anyhow::Result<()> {
    let m = mode(t)?;
    let (id, path, body) = match &cmd {
        AccountCommand::Bundle { id, product } => (*id, "/bundle", json!({"product": product})),
        AccountCommand::EsimSwap { id, product } => {
            (*id, "/esim-swap", json!({"product": product}))
        }
        AccountCommand::Renew { id } => (*id, "/renew", json!({})),
        AccountCommand::Close { id } => (*id, "/close", json!({})),
        AccountCommand::AutoRenew { id, on, .. } => (*id, "", json!({"auto_renew": on})),
    };
    let what = format!("account {id}");
    let v: Value = match m {
        Mode::Api(api) => {
            let path = format!("/api/v1/accounts/{id}{path}");
            let method = match cmd {
                AccountCommand::AutoRenew { .. } => reqwest::Method::PATCH,
                _ => reqwest::Method::POST,
            };
            api.send(method, &path, &body, &what)?.json()?
        }
        Mode::Direct(inv, _) => on_store(&inv, cmd).map_err(|e| direct(&what, e))?,
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// The command on the store: the same JSON the API answers.
fn on_store(
    inv: &crate::inventory::Inventory,
    cmd: AccountCommand,
) -> Result<Value, InventoryError> {
    Ok(match cmd {
        AccountCommand::Bundle { id, product } => {
            let (a, p, _) = inv.change_bundle("cli", id, &product)?;
            account_json(&a, &p)
        }
        AccountCommand::EsimSwap { id, product } => {
            swap_json(&inv.esim_swap("cli", id, &product)?.0)
        }
        AccountCommand::Renew { id } => period_json(&inv.renew("cli", id)?.0),
        AccountCommand::Close { id } => {
            inv.close_account("cli", id)?;
            json!({"account": id, "status": "closed"})
        }
        AccountCommand::AutoRenew { id, on, .. } => {
            period_json(&inv.set_auto_renew("cli", id, on)?)
        }
    })
}
