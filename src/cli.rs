//! The inventory and stock subcommands: each works on the store directly, or
//! through a running node's admin API with `--api URL`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

mod account;
mod audit;
mod batch;
mod clock;
mod events;
mod profiles;
pub use account::{account, AccountCommand};
pub use audit::{audit, AuditCommand};
pub use batch::{batch, pool, BatchCommand, PoolCommand};
pub use clock::{clock, ClockCommand};
pub use events::{events, EventsCommand};
pub use profiles::{profiles, ProfilesCommand};

use crate::config::Config;
use crate::inventory::import::{BatchSpec, ImportReport};
use crate::inventory::stock::{self, StockBy, StockLine};
use crate::inventory::{Inventory, InventoryError};

#[derive(Args, Clone)]
pub struct Target {
    /// Configuration file (default: the embedded config/gyro.toml).
    #[arg(long, env = "GYRO_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Override node.data_dir.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Talk to a running node's admin API (http://HOST:PORT) instead of opening the store.
    #[arg(long, env = "GYRO_API", global = true)]
    pub api: Option<String>,
    /// Bearer token for --api (default: api.token from the configuration).
    #[arg(long, env = "GYRO_API_TOKEN", global = true)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Import a batch of IMSIs (one per line) for a sponsor; a bad file changes nothing.
    ImportBatch {
        #[arg(long)]
        sponsor: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        recycling: bool,
        #[arg(long)]
        end_of_life: bool,
        file: PathBuf,
    },
    /// Import eSIM profiles (iccid, imsi1..imsi10, ki, opc, pin1, puk1, pin2, puk2, transport_key_label).
    ImportProfiles {
        #[arg(long)]
        pool: String,
        file: PathBuf,
    },
    /// Export the inventory (PortaBilling SIM upload layout).
    Export {
        #[arg(long, default_value = "portabilling")]
        format: String,
        file: PathBuf,
    },
    /// Onboard a new account for a product: it gets an available profile.
    Onboard {
        #[arg(long)]
        product: String,
        #[arg(long)]
        msisdn: Option<String>,
    },
    /// Show an IMSI, its profile and account, and whether it is chargeable.
    Imsi { imsi: String },
    /// Define sponsors, products, pools, dynamic pools and the hold policy from
    /// a TOML file laid out like config/seed.toml ([[sponsor]], [[product]],
    /// [[pool]], [[dynamic_pool]], [hold_policy]).
    Define { file: PathBuf },
    /// Move available IMSIs of a batch into a dynamic IMSI pool.
    FillDynamicPool {
        #[arg(long)]
        pool: String,
        #[arg(long)]
        batch: String,
        #[arg(long)]
        count: u64,
    },
}

enum Mode {
    Direct(std::sync::Arc<Inventory>, Box<Config>),
    Api(Api),
}

/// A running node's admin API.
struct Api {
    base: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Api {
    fn get(&self, path: &str, what: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let req = self.client.get(format!("{}{path}", self.base));
        api_call(req.bearer_auth(&self.token), what)
    }
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl serde::Serialize,
        what: &str,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let req = self.client.request(method, format!("{}{path}", self.base));
        api_call(req.bearer_auth(&self.token).json(body), what)
    }
    fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        what: &str,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        self.send(reqwest::Method::POST, path, body, what)
    }
}

fn mode(t: &Target) -> anyhow::Result<Mode> {
    let mut cfg = Config::load(t.config.as_deref())?;
    if let Some(d) = &t.data_dir {
        cfg.node.data_dir = d.clone();
    }
    match &t.api {
        Some(base) => Ok(Mode::Api(Api {
            base: base.trim_end_matches('/').to_string(),
            token: t.token.clone().unwrap_or_else(|| cfg.api.token.clone()),
            client: reqwest::blocking::Client::new(),
        })),
        None => Ok(Mode::Direct(
            crate::inventory::open(&cfg.inventory_settings())?,
            Box::new(cfg),
        )),
    }
}

fn api_call(
    req: reqwest::blocking::RequestBuilder,
    what: &str,
) -> anyhow::Result<reqwest::blocking::Response> {
    let r = req
        .send()
        .with_context(|| format!("{what}: cannot reach the API"))?;
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let body: Value = r.json().unwrap_or(json!({}));
    bail!(error_text(what, status, &body))
}

/// An API error as the CLI reports it (bad lines of an import first, on
/// stderr), the same whether it came over HTTP or from the store.
fn error_text(what: &str, status: reqwest::StatusCode, body: &Value) -> String {
    if let Some(lines) = body["lines"].as_array() {
        for l in lines {
            eprintln!(
                "line {}: {} '{}': {}",
                l["line"],
                l["field"].as_str().unwrap_or(""),
                l["value"].as_str().unwrap_or(""),
                l["reason"].as_str().unwrap_or("")
            );
        }
        // A refused SM-DP+ file lists its first faults and counts them all.
        let more = body["faults"].as_u64().map_or(0, |n| n as usize);
        if more > lines.len() {
            eprintln!("… and {} more", more - lines.len());
        }
    }
    if let Some(list) = body["blockers"].as_array() {
        let blockers: Vec<batch::Blocker> = list
            .iter()
            .map(|b| batch::Blocker {
                imsi: b["imsi"].as_str().unwrap_or("").into(),
                state: b["state"].as_str().unwrap_or("").into(),
            })
            .collect();
        let count = body["blocked"].as_u64().unwrap_or(0) as usize;
        batch::print_blockers(&blockers, count);
    }
    if body["esim_swap_required"] == true {
        return format!(
            "{what}: {status}: esim_swap_required: {}",
            body["reason"].as_str().unwrap_or("")
        );
    }
    format!(
        "{what}: {status}: {}",
        body["error"].as_str().unwrap_or("error")
    )
}

fn report_rejection(e: InventoryError) -> anyhow::Error {
    if let InventoryError::Rejected { errors, .. } = &e {
        for l in errors {
            eprintln!("{l}");
        }
    }
    anyhow::anyhow!(e)
}

fn progress_bar(label: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} lines ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_message(label.to_string());
    pb
}

/// Runs an import on `file` with a progress bar; bad lines go to stderr.
fn import_file(
    file: &std::path::Path,
    run: impl FnOnce(
        std::io::BufReader<std::fs::File>,
        &dyn Fn(u64),
    ) -> Result<ImportReport, InventoryError>,
) -> anyhow::Result<ImportReport> {
    let label = file.display().to_string();
    let f = std::fs::File::open(file).with_context(|| format!("{label}: cannot open"))?;
    let pb = progress_bar(&format!("importing {label}"));
    let r = run(std::io::BufReader::new(f), &|n| pb.set_position(n)).map_err(report_rejection);
    pb.finish_and_clear();
    r
}

pub fn inventory(t: &Target, cmd: InventoryCommand) -> anyhow::Result<()> {
    let m = mode(t)?;
    match cmd {
        InventoryCommand::ImportBatch {
            sponsor,
            name,
            recycling,
            end_of_life,
            file,
        } => {
            let label = file.display().to_string();
            match m {
                Mode::Direct(inv, _) => {
                    let spec = BatchSpec {
                        sponsor: &sponsor,
                        name: &name,
                        recycling,
                        end_of_life,
                    };
                    let r = import_file(&file, |input, progress| {
                        inv.import_batch("cli", &spec, &label, input, progress)
                    })?;
                    println!("imported {} IMSIs into batch {}", r.imported, r.name);
                }
                Mode::Api(api) => {
                    let csv = std::fs::read_to_string(&file)
                        .with_context(|| format!("{label}: cannot read"))?;
                    let body = json!({"sponsor": sponsor, "name": name, "recycling": recycling, "end_of_life": end_of_life, "csv": csv});
                    let v: Value = api.post("/api/v1/batches", &body, &label)?.json()?;
                    println!(
                        "imported {} IMSIs into batch {}",
                        v["imported"],
                        v["name"].as_str().unwrap_or("")
                    );
                }
            }
        }
        InventoryCommand::ImportProfiles { pool, file } => {
            let label = file.display().to_string();
            match m {
                Mode::Direct(inv, _) => {
                    let r = import_file(&file, |input, progress| {
                        inv.import_profiles("cli", &pool, &label, input, progress)
                    });
                    println!("imported {} profiles into pool {}", r?.imported, pool);
                }
                Mode::Api(api) => {
                    let csv = std::fs::read_to_string(&file)
                        .with_context(|| format!("{label}: cannot read"))?;
                    let body = json!({"pool": pool, "csv": csv});
                    let v: Value = api.post("/api/v1/profiles", &body, &label)?.json()?;
                    println!("imported {} profiles into pool {}", v["imported"], pool);
                }
            }
        }
        InventoryCommand::Export { format, file } => {
            if format != "portabilling" {
                bail!("--format: the only export format is portabilling");
            }
            let label = file.display().to_string();
            match m {
                Mode::Direct(inv, _) => {
                    let f = std::fs::File::create(&file)
                        .with_context(|| format!("{label}: cannot create"))?;
                    let n = inv.export_portabilling(std::io::BufWriter::new(f))?;
                    println!("exported {n} rows to {label}");
                }
                Mode::Api(api) => {
                    let bytes = api
                        .get("/api/v1/export?format=portabilling", "export")?
                        .bytes()?;
                    std::fs::write(&file, &bytes)
                        .with_context(|| format!("{label}: cannot write"))?;
                    println!(
                        "exported {} rows to {label}",
                        bytes
                            .iter()
                            .filter(|&&b| b == b'\n')
                            .count()
                            .saturating_sub(1)
                    );
                }
            }
        }
        InventoryCommand::Onboard { product, msisdn } => {
            let v = match m {
                Mode::Direct(inv, _) => {
                    let (a, p) = inv.onboard("cli", &product, msisdn.as_deref())?;
                    json!({"account": a, "profile": {"iccid": p.iccid, "pool": p.pool, "imsis": p.imsis}})
                }
                Mode::Api(api) => {
                    let body = json!({"product": product, "msisdn": msisdn});
                    api.post("/api/v1/accounts", &body, "onboard")?.json()?
                }
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        InventoryCommand::Define { file } => {
            let label = file.display().to_string();
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("{label}: cannot read"))?;
            let seed = crate::inventory::seed::parse(&text, &label)?;
            if !seed.batch.is_empty()
                || !seed.profiles.is_empty()
                || !seed.account.is_empty()
                || !seed.dynamic_fill.is_empty()
            {
                bail!("{label}: define takes only [[sponsor]], [[product]], [[pool]], [[dynamic_pool]] and [hold_policy]");
            }
            match m {
                Mode::Direct(inv, _) => {
                    for x in &seed.sponsor {
                        inv.define_sponsor("cli", x)?;
                    }
                    for x in &seed.product {
                        inv.define_product("cli", x)?;
                    }
                    for x in &seed.pool {
                        inv.define_pool("cli", x)?;
                    }
                    for x in &seed.dynamic_pool {
                        inv.define_dynamic_pool("cli", x)?;
                    }
                    if let Some(h) = &seed.hold_policy {
                        inv.set_hold_policy("cli", h)?;
                    }
                }
                Mode::Api(api) => {
                    let mut calls: Vec<(&str, Value)> = vec![];
                    calls.extend(seed.sponsor.iter().map(|x| ("sponsors", json!(x))));
                    calls.extend(seed.product.iter().map(|x| ("products", json!(x))));
                    calls.extend(seed.pool.iter().map(|x| ("pools", json!(x))));
                    calls.extend(
                        seed.dynamic_pool
                            .iter()
                            .map(|x| ("dynamic-pools", json!(x))),
                    );
                    for (path, body) in calls {
                        api.post(&format!("/api/v1/{path}"), &body, &label)?;
                    }
                    if let Some(h) = &seed.hold_policy {
                        api.send(reqwest::Method::PUT, "/api/v1/hold-policy", h, &label)?;
                    }
                }
            }
            let n = seed.sponsor.len()
                + seed.product.len()
                + seed.pool.len()
                + seed.dynamic_pool.len()
                + seed.hold_policy.iter().count();
            println!("defined {n} item(s) from {label}");
        }
        InventoryCommand::FillDynamicPool { pool, batch, count } => {
            let moved = match m {
                Mode::Direct(inv, _) => inv.fill_dynamic_pool("cli", &pool, &batch, count)?,
                Mode::Api(api) => {
                    let body = json!({"batch": batch, "count": count});
                    let path = format!("/api/v1/dynamic-pools/{pool}/fill");
                    let v: Value = api.post(&path, &body, "fill-dynamic-pool")?.json()?;
                    v["moved"].as_u64().unwrap_or(0)
                }
            };
            println!("moved {moved} IMSIs of batch {batch} into dynamic pool {pool}");
        }
        InventoryCommand::Imsi { imsi } => {
            let v = match m {
                Mode::Direct(inv, _) => {
                    let rec = inv
                        .imsi(&imsi)?
                        .ok_or_else(|| anyhow::anyhow!("imsi {imsi}: not in the inventory"))?;
                    let res = inv.index().resolve_imsi(&imsi, None, inv.now());
                    json!({"imsi": rec, "resolution": crate::resolver::resolve::resolution_json(&res)})
                }
                Mode::Api(api) => api.get(&format!("/api/v1/imsis/{imsi}"), &imsi)?.json()?,
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(())
}

pub fn stock(t: &Target, by: &str, as_json: bool) -> anyhow::Result<()> {
    let by_enum = match by {
        "sponsor" => StockBy::Sponsor,
        "product" => StockBy::Product,
        _ => bail!("--by: must be sponsor or product"),
    };
    let lines: Vec<StockLine> = match mode(t)? {
        Mode::Direct(inv, cfg) => inv.stock(by_enum, cfg.inventory.stock_alert_below)?,
        Mode::Api(api) => {
            let v: Vec<Value> = api
                .get(&format!("/api/v1/stock?by={by}"), "stock")?
                .json()?;
            v.into_iter()
                .map(|l| StockLine {
                    name: l["name"].as_str().unwrap_or("").into(),
                    available_profiles: l["available_profiles"].as_u64().unwrap_or(0),
                    dynamic_imsis: l["dynamic_imsis"].as_u64().unwrap_or(0),
                    alert: l["alert"].as_bool().unwrap_or(false),
                    imsis: serde_json::from_value(l["imsis"].clone()).ok(),
                })
                .collect()
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
    } else {
        print!("{}", stock::table(&lines, by_enum));
    }
    Ok(())
}
