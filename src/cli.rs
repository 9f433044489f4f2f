//! The operators' subcommands: each works on the store directly, or
//! through a running node's admin API with `--api URL`. Here: the target
//! (store or API), how API errors are reported, and `gyro stock`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

mod account;
mod audit;
mod batch;
mod clock;
mod events;
mod inventory;
mod profiles;
pub use account::{account, AccountCommand};
pub use audit::{audit, AuditCommand};
pub use batch::{batch, pool, BatchCommand, PoolCommand};
pub use clock::{clock, ClockCommand};
pub use events::{events, EventsCommand};
pub use inventory::{inventory, InventoryCommand};
pub use profiles::{profiles, ProfilesCommand};

use crate::config::Config;
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
    /// A POST with an `Idempotency-Key` header when `key` is given.
    fn post_with_key(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        key: Option<&str>,
        what: &str,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let mut req = self.client.post(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        api_call(req.bearer_auth(&self.token).json(body), what)
    }
    /// POSTs a CSV file as it is read (the API spools it), with `query`.
    fn post_csv(
        &self,
        path: &str,
        query: &[(&str, &str)],
        file: &std::path::Path,
    ) -> anyhow::Result<reqwest::blocking::Response> {
        let label = file.display().to_string();
        let f = std::fs::File::open(file).with_context(|| format!("{label}: cannot read"))?;
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(reqwest::blocking::Body::new(f));
        api_call(req, &label)
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
