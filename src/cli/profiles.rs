//! `gyro profiles generate|orders|order|cancel|input|ingest|perso`: eSIM
//! profile orders, on the store or through `--api`, like `gyro inventory`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{mode, Mode, Target};
use crate::config::Config;
use crate::inventory::orders::OrderRequest;
use crate::inventory::Inventory;
use crate::profilegen::desk::{DeskError, OrderDesk};
use crate::profilegen::rules::rule_options;
use crate::views::order_json;

#[derive(Subcommand)]
pub enum ProfilesCommand {
    /// Order N eSIM profiles of K IMSIs for a pool: reserves the IMSIs, numbers the ICCIDs and writes the SM-DP+ input file.
    Generate {
        #[arg(long)]
        pool: String,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        imsis_per_profile: usize,
        /// POSITION=BATCH, once per IMSI position (1=B1 --batch 2=B2 …).
        #[arg(long = "batch", value_parser = position_batch)]
        batches: Vec<(usize, String)>,
        /// Rule options, comma-separated: least-cost, profit-guarantee (default both).
        #[arg(long, value_delimiter = ',')]
        rules: Option<Vec<String>>,
    },
    /// List the orders.
    Orders,
    /// Show one order (--profiles: with its ICCIDs and IMSIs).
    Order {
        id: u64,
        #[arg(long)]
        profiles: bool,
    },
    /// Cancel an open order: its IMSIs go back to their batches.
    Cancel { id: u64 },
    /// Print (or write to --output) the input file of an order.
    Input {
        id: u64,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Take in an SM-DP+ output file (Standard or Perso) received another way.
    Ingest { file: PathBuf },
    /// Show a profile's Perso row.
    Perso { iccid: String },
}

fn position_batch(s: &str) -> Result<(usize, String), String> {
    let (p, b) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected POSITION=BATCH, e.g. 1=1000-Own-2025-12-23"))?;
    let p = p
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("'{p}': a position is 1 to 10"))?;
    Ok((p, b.trim().to_string()))
}

/// The desk on the store, with the rating file of the configuration.
fn desk(inv: Arc<Inventory>, cfg: &Config) -> OrderDesk {
    let rating = cfg.charging.rating.clone();
    let now = Arc::new(move || {
        crate::rating::source::RatingSource::new(rating.clone())
            .load()
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    let perso_dir = cfg.smdp.as_ref().and_then(|s| s.perso_dir.clone());
    OrderDesk::new(inv, now, cfg.profiles.order_settings(), perso_dir)
}

/// A refused file's faults, one per line on stderr, as the API lists them.
fn shown(e: DeskError) -> anyhow::Error {
    if let DeskError::Rejected { errors, .. } = &e {
        for l in &errors.errors {
            eprintln!("{l}");
        }
        if errors.total > errors.errors.len() {
            eprintln!("… and {} more", errors.total - errors.errors.len());
        }
    }
    anyhow::anyhow!(e)
}

pub fn profiles(t: &Target, cmd: ProfilesCommand) -> anyhow::Result<()> {
    let m = mode(t)?;
    let v: Value = match cmd {
        ProfilesCommand::Generate {
            pool,
            count,
            imsis_per_profile,
            batches,
            rules,
        } => return generate(m, pool, count, imsis_per_profile, batches, rules),
        ProfilesCommand::Orders => match m {
            Mode::Direct(inv, _) => {
                let list = inv.orders()?;
                json!(list
                    .iter()
                    .map(|o| order_json(o, false))
                    .collect::<Vec<_>>())
            }
            Mode::Api(api) => api.get("/api/v1/orders", "orders")?.json()?,
        },
        ProfilesCommand::Order { id, profiles } => match m {
            Mode::Direct(inv, _) => order_json(&inv.order(id)?, profiles),
            Mode::Api(api) => {
                let path = format!("/api/v1/orders/{id}?profiles={profiles}");
                api.get(&path, &format!("order {id}"))?.json()?
            }
        },
        ProfilesCommand::Cancel { id } => match m {
            Mode::Direct(inv, _) => order_json(&inv.cancel_order("cli", id)?, false),
            Mode::Api(api) => {
                let path = format!("/api/v1/orders/{id}");
                api.send(
                    reqwest::Method::DELETE,
                    &path,
                    &json!({}),
                    &format!("order {id}"),
                )?
                .json()?
            }
        },
        ProfilesCommand::Input { id, output } => {
            let text = match m {
                Mode::Direct(inv, _) => inv.order_input(id)?,
                Mode::Api(api) => {
                    let path = format!("/api/v1/orders/{id}/input");
                    api.get(&path, &format!("order {id}"))?.text()?
                }
            };
            match output {
                Some(p) => std::fs::write(&p, text)
                    .with_context(|| format!("{}: cannot write", p.display()))?,
                None => print!("{text}"),
            }
            return Ok(());
        }
        ProfilesCommand::Ingest { file } => ingest(m, &file)?,
        ProfilesCommand::Perso { iccid } => match m {
            Mode::Direct(inv, _) => {
                let p = inv.perso(&iccid)?;
                let p = p.ok_or_else(|| anyhow::anyhow!("no Perso data for profile '{iccid}'"))?;
                json!(p)
            }
            Mode::Api(api) => {
                let path = format!("/api/v1/profiles/{}/perso", super::batch::segment(&iccid));
                api.get(&path, &iccid)?.json()?
            }
        },
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn generate(
    m: Mode,
    pool: String,
    count: u32,
    imsis_per_profile: usize,
    batches: Vec<(usize, String)>,
    rules: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let (least_cost, profit_guarantee) =
        rule_options(rules.as_deref()).map_err(anyhow::Error::msg)?;
    let pb = super::progress_bar(&format!("ordering {count} profiles for {pool}"));
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    let v: anyhow::Result<Value> = match m {
        Mode::Direct(inv, cfg) => {
            let req = OrderRequest {
                pool,
                count,
                imsis_per_profile,
                batches,
                least_cost,
                profit_guarantee,
            };
            desk(inv, &cfg)
                .create("cli", &req)
                .map(|o| order_json(&o, false))
                .map_err(anyhow::Error::from)
        }
        Mode::Api(api) => {
            let mut rule_names = vec![];
            if least_cost {
                rule_names.push("least-cost");
            }
            if profit_guarantee {
                rule_names.push("profit-guarantee");
            }
            let body = json!({
                "count": count,
                "imsis_per_profile": imsis_per_profile,
                "batches": batches.iter().map(|(p, b)| (p.to_string(), b.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "rules": rule_names,
            });
            let path = format!("/api/v1/pools/{}/orders", super::batch::segment(&pool));
            api.post(&path, &body, &pool)
                .and_then(|r| r.json().map_err(Into::into))
        }
    };
    pb.finish_and_clear();
    let v = v?;
    eprintln!(
        "order {}: {} profiles ({} … {}), input file {}",
        v["id"],
        v["count"],
        v["first_iccid"].as_str().unwrap_or(""),
        v["last_iccid"].as_str().unwrap_or(""),
        v["file"].as_str().unwrap_or("")
    );
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn ingest(m: Mode, file: &std::path::Path) -> anyhow::Result<Value> {
    let label = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| format!("{label}: cannot read"))?;
    let name = file
        .file_name()
        .map_or_else(|| label.clone(), |n| n.to_string_lossy().into_owned());
    match m {
        Mode::Direct(inv, cfg) => {
            let taken = desk(inv, &cfg)
                .ingest("cli", &name, &bytes)
                .map_err(shown)?;
            Ok(json!(taken))
        }
        Mode::Api(api) => {
            let req = api
                .client
                .post(format!("{}/api/v1/orders/ingest", api.base))
                .query(&[("file", name.as_str())])
                .bearer_auth(&api.token)
                .body(bytes);
            Ok(super::api_call(req, &label)?.json()?)
        }
    }
}
