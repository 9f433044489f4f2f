//! `gyro batch set|remove` and `gyro pool set`: recycling and end of life
//! of IMSI batches, on the store or through `--api`, with the API's errors.

use clap::{ArgAction, Subcommand};
use serde_json::{json, Value};

use super::{mode, Mode, Target};
use crate::inventory::batches::BatchPatch;
pub(super) use crate::inventory::batches::Blocker;
use crate::inventory::InventoryError;

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Set a batch's flags; --end-of-life true also retires its available IMSIs.
    Set {
        name: String,
        /// Whether its IMSIs may serve new profiles after their hold.
        #[arg(long)]
        recycling: Option<bool>,
        /// Whether its IMSIs end their life (at once if available, at hold end otherwise).
        #[arg(long)]
        end_of_life: Option<bool>,
    },
    /// Remove a batch whose IMSIs are all end of life or never used (their history stays).
    Remove { name: String },
}

#[derive(Subcommand)]
pub enum PoolCommand {
    /// Whether IMSIs of the pool's disposed profiles may be recycled after their hold.
    Set {
        name: String,
        #[arg(long, action = ArgAction::Set, required = true)]
        recycle: bool,
    },
}

/// The IMSIs that keep a batch, as the API's 409 lists them.
pub(super) fn print_blockers(blockers: &[Blocker], count: usize) {
    for b in blockers {
        eprintln!("{} {}", b.imsi, b.state);
    }
    if count > blockers.len() {
        eprintln!("… and {} more", count - blockers.len());
    }
}

fn shown(e: InventoryError) -> anyhow::Error {
    if let InventoryError::Blocked {
        blockers, count, ..
    } = &e
    {
        print_blockers(blockers, *count);
    }
    anyhow::anyhow!(e)
}

pub fn batch(t: &Target, cmd: BatchCommand) -> anyhow::Result<()> {
    match cmd {
        BatchCommand::Set {
            name,
            recycling,
            end_of_life,
        } => {
            let patch = BatchPatch {
                recycling,
                end_of_life,
            };
            if patch == BatchPatch::default() {
                anyhow::bail!("give --recycling and/or --end-of-life");
            }
            let v: Value = match mode(t)? {
                Mode::Direct(inv, _) => json!(inv.set_batch_flags("cli", &name, patch)?),
                Mode::Api(api) => {
                    let mut body = json!({});
                    if let Some(r) = recycling {
                        body["recycling"] = json!(r);
                    }
                    if let Some(e) = end_of_life {
                        body["end_of_life"] = json!(e);
                    }
                    let path = format!("/api/v1/batches/{}", segment(&name));
                    api.send(reqwest::Method::PATCH, &path, &body, &name)?
                        .json()?
                }
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        BatchCommand::Remove { name } => {
            let v: Value = match mode(t)? {
                Mode::Direct(inv, _) => json!(inv.remove_batch("cli", &name).map_err(shown)?),
                Mode::Api(api) => {
                    let path = format!("/api/v1/batches/{}", segment(&name));
                    api.send(reqwest::Method::DELETE, &path, &json!({}), &name)?
                        .json()?
                }
            };
            println!(
                "removed batch {name}: {} IMSIs of sponsor {}",
                v["removed"],
                v["sponsor"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub fn pool(t: &Target, cmd: PoolCommand) -> anyhow::Result<()> {
    let PoolCommand::Set { name, recycle } = cmd;
    let v: Value = match mode(t)? {
        Mode::Direct(inv, _) => json!(inv.set_pool_recycle("cli", &name, recycle)?),
        Mode::Api(api) => {
            let path = format!("/api/v1/pools/{}", segment(&name));
            let body = json!({"recycle": recycle});
            api.send(reqwest::Method::PATCH, &path, &body, &name)?
                .json()?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// A name as one URL path segment: pool names hold spaces, '+' and '/'.
pub(super) fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
