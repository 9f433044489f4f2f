//! `gyro inventory …`: imports, export, onboarding, definitions, dynamic
//! pools and IMSI look-ups, on the store or through `--api`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

use super::{mode, progress_bar, report_rejection, Mode, Target};
use crate::inventory::idempotency::{parse_key, Once};
use crate::inventory::import::{BatchSpec, ImportReport};
use crate::inventory::InventoryError;
use crate::model::{Account, Profile};

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
        /// Run again with the same key after an answer was lost: the first
        /// onboarding's answer comes back, and no second account is made.
        #[arg(long)]
        idempotency_key: Option<String>,
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

pub fn inventory(t: &Target, cmd: InventoryCommand) -> anyhow::Result<()> {
    let m = mode(t)?;
    match cmd {
        InventoryCommand::ImportBatch {
            sponsor,
            name,
            recycling,
            end_of_life,
            file,
        } => import_batch(m, sponsor, name, recycling, end_of_life, file),
        InventoryCommand::ImportProfiles { pool, file } => import_profiles(m, pool, file),
        InventoryCommand::Export { format, file } => export(m, format, file),
        InventoryCommand::Onboard {
            product,
            msisdn,
            idempotency_key,
        } => onboard(m, product, msisdn, idempotency_key),
        InventoryCommand::Define { file } => define(m, file),
        InventoryCommand::FillDynamicPool { pool, batch, count } => {
            fill_dynamic_pool(m, pool, batch, count)
        }
        InventoryCommand::Imsi { imsi } => show_imsi(m, imsi),
    }
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

/// `import-batch`: IMSIs of a sponsor, one per line, into a new batch.
fn import_batch(
    m: Mode,
    sponsor: String,
    name: String,
    recycling: bool,
    end_of_life: bool,
    file: PathBuf,
) -> anyhow::Result<()> {
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
            let (rec, eol) = (recycling.to_string(), end_of_life.to_string());
            let query = [
                ("sponsor", sponsor.as_str()),
                ("name", name.as_str()),
                ("recycling", rec.as_str()),
                ("end_of_life", eol.as_str()),
            ];
            let v: Value = api.post_csv("/api/v1/batches", &query, &file)?.json()?;
            println!(
                "imported {} IMSIs into batch {}",
                v["imported"],
                v["name"].as_str().unwrap_or("")
            );
        }
    }

    Ok(())
}

/// `import-profiles`: eSIM profiles into a pool.
fn import_profiles(m: Mode, pool: String, file: PathBuf) -> anyhow::Result<()> {
    let label = file.display().to_string();
    match m {
        Mode::Direct(inv, _) => {
            let r = import_file(&file, |input, progress| {
                inv.import_profiles("cli", &pool, &label, input, progress)
            });
            println!("imported {} profiles into pool {}", r?.imported, pool);
        }
        Mode::Api(api) => {
            let query = [("pool", pool.as_str())];
            let v: Value = api.post_csv("/api/v1/profiles", &query, &file)?.json()?;
            println!("imported {} profiles into pool {}", v["imported"], pool);
        }
    }

    Ok(())
}

/// `export`: the inventory in PortaBilling's SIM upload layout.
fn export(m: Mode, format: String, file: PathBuf) -> anyhow::Result<()> {
    if format != "portabilling" {
        bail!("--format: the only export format is portabilling");
    }
    let label = file.display().to_string();
    match m {
        Mode::Direct(inv, _) => {
            let f =
                std::fs::File::create(&file).with_context(|| format!("{label}: cannot create"))?;
            let n = inv.export_portabilling(std::io::BufWriter::new(f))?;
            println!("exported {n} rows to {label}");
        }
        Mode::Api(api) => {
            let bytes = api
                .get("/api/v1/export?format=portabilling", "export")?
                .bytes()?;
            std::fs::write(&file, &bytes).with_context(|| format!("{label}: cannot write"))?;
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

    Ok(())
}

/// `onboard`: a new account for a product, with an available profile;
/// once per idempotency key when one is given.
fn onboard(
    m: Mode,
    product: String,
    msisdn: Option<String>,
    key: Option<String>,
) -> anyhow::Result<()> {
    let v = match m {
        Mode::Direct(inv, _) => {
            let render = |a: &Account, p: &Profile| json!({"account": a, "profile": {"iccid": p.iccid, "pool": p.pool, "imsis": p.imsis}});
            match key {
                None => {
                    let (a, p) = inv.onboard("cli", &product, msisdn.as_deref())?;
                    render(&a, &p)
                }
                Some(k) => {
                    let k = parse_key(&k)?;
                    let request = json!({"product": product, "msisdn": msisdn});
                    let once = inv.onboard_once(
                        &k,
                        request,
                        ("cli", &product, msisdn.as_deref()),
                        |a, p| (201, render(a, p)),
                    )?;
                    match once {
                        Once::Answer { body, .. } => body,
                        Once::KeyReused => bail!("--idempotency-key {k}: this key came before with another product or msisdn"),
                    }
                }
            }
        }
        Mode::Api(api) => {
            let body = json!({"product": product, "msisdn": msisdn});
            api.post_with_key("/api/v1/accounts", &body, key.as_deref(), "onboard")?
                .json()?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v)?);

    Ok(())
}

/// `define`: sponsors, products, pools, dynamic pools and the hold policy
/// from a file laid out like config/seed.toml.
fn define(m: Mode, file: PathBuf) -> anyhow::Result<()> {
    let label = file.display().to_string();
    let text = std::fs::read_to_string(&file).with_context(|| format!("{label}: cannot read"))?;
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

    Ok(())
}

/// `fill-dynamic-pool`: available IMSIs of a batch into a dynamic pool.
fn fill_dynamic_pool(m: Mode, pool: String, batch: String, count: u64) -> anyhow::Result<()> {
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

    Ok(())
}

/// `imsi`: an IMSI, its profile and account, and whether it is chargeable.
fn show_imsi(m: Mode, imsi: String) -> anyhow::Result<()> {
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

    Ok(())
}
