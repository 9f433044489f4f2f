//! The `gyro` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bytes::BytesMut;
use clap::{Parser, Subcommand};

use gyro::config::Config;
use gyro::diameter::{dump, Framer, Message};

// A rebuild reads 40 M records through sled, which allocates and frees
// each, often on another thread: glibc's arenas spent a fifth of the
// start-up there. jemalloc fixes that and keeps charging's tail latency,
// which mimalloc tripled (docs/performance.md). The resolver's big tables
// bypass the allocator (see resolver::hugepages).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "gyro",
    version,
    about = "Diameter Gy/Ro online-charging node with a multi-IMSI resolver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Diameter node.
    Serve {
        /// Configuration file (default: the embedded config/gyro.toml).
        #[arg(long, env = "GYRO_CONFIG")]
        config: Option<PathBuf>,
        /// Override node.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Override metrics.listen.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
    },
    /// SIM/IMSI inventory operations.
    Inventory {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::InventoryCommand,
    },
    /// Stock levels: available profiles and dynamic-pool IMSIs.
    Stock {
        #[command(flatten)]
        target: gyro::cli::Target,
        /// sponsor or product
        #[arg(long, default_value = "sponsor")]
        by: String,
        #[arg(long)]
        json: bool,
    },
    /// The node clock; a test clock moves forward and runs what fell due.
    Clock {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::ClockCommand,
    },
    /// Provisioning events in the outbox: list them, retry dead letters.
    Events {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::EventsCommand,
    },
    /// IMSI batches: recycling and end-of-life flags, removal.
    Batch {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::BatchCommand,
    },
    /// eSIM profile orders to the SM-DP+: generate, list, cancel, ingest output files.
    Profiles {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::ProfilesCommand,
    },
    /// eSIM profile pools: whether their disposed profiles' IMSIs recycle.
    Pool {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::PoolCommand,
    },
    /// Audit: who held an IMSI when.
    Audit {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::AuditCommand,
    },
    /// An account's lifecycle: bundle change, eSIM swap, renewal, closure, auto-renewal.
    Account {
        #[command(flatten)]
        target: gyro::cli::Target,
        #[command(subcommand)]
        command: gyro::cli::AccountCommand,
    },
    /// Gy load generator (CCR-I, K CCR-U, CCR-T per session) with latency figures.
    Load(gyro::load::LoadArgs),
    /// Decode Diameter messages from hex text, a hex file or a binary file.
    Decode {
        /// Print JSON instead of the human tree.
        #[arg(long)]
        json: bool,
        /// Hex string, or a path to a file holding hex or raw bytes.
        input: String,
    },
}

fn decode_input(input: &str) -> anyhow::Result<Vec<u8>> {
    let raw = match std::fs::read(input) {
        Ok(b) => b,
        Err(_) => input.as_bytes().to_vec(),
    };
    let text: String = String::from_utf8_lossy(&raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !text.is_empty() && text.len() % 2 == 0 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).context("bad hex"))
            .collect();
    }
    if std::path::Path::new(input).exists() {
        return Ok(raw);
    }
    anyhow::bail!("'{input}' is neither hex nor a readable file")
}

fn decode(json: bool, input: &str) -> anyhow::Result<()> {
    let bytes = decode_input(input)?;
    let dict = gyro::diameter::Dictionary::builtin();
    let mut buf = BytesMut::from(&bytes[..]);
    let framer = Framer::default();
    let mut n = 0;
    while let Some(frame) = framer
        .next_frame(&mut buf)
        .context("cannot frame the input")?
    {
        let m = Message::new(&frame).context("cannot parse the header")?;
        if json {
            println!("{}", dump::to_json(&dict, &m));
        } else {
            print!("{}", dump::to_human(&dict, &m));
        }
        if let Err(v) = gyro::diameter::validate::validate(&dict, &m) {
            eprintln!("invalid: {} (Result-Code {})", v.message, v.result_code);
        }
        n += 1;
    }
    if !buf.is_empty() {
        anyhow::bail!("{} trailing octets do not form a whole message", buf.len());
    }
    if n == 0 {
        anyhow::bail!("no message in the input");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            listen,
            metrics_listen,
        } => {
            let mut cfg = Config::load(config.as_deref())?;
            if let Some(l) = listen {
                cfg.node.listen = Some(l);
            }
            if let Some(m) = metrics_listen {
                cfg.metrics.listen = Some(m);
            }
            gyro::server::init_logging(&cfg);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(gyro::server::serve(cfg))
        }
        Command::Decode { json, input } => decode(json, &input),
        Command::Inventory { target, command } => gyro::cli::inventory(&target, command),
        Command::Stock { target, by, json } => gyro::cli::stock(&target, &by, json),
        Command::Events { target, command } => gyro::cli::events(&target, command),
        Command::Clock { target, command } => gyro::cli::clock(&target, command),
        Command::Batch { target, command } => gyro::cli::batch(&target, command),
        Command::Profiles { target, command } => gyro::cli::profiles(&target, command),
        Command::Pool { target, command } => gyro::cli::pool(&target, command),
        Command::Audit { target, command } => gyro::cli::audit(&target, command),
        Command::Account { target, command } => gyro::cli::account(&target, command),
        Command::Load(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(gyro::load::run(args))
        }
    }
}
