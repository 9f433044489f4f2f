//! `gyro events list|retry`: the outbox, on the store or through `--api`.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{mode, Mode, Target};
use crate::events::{EventState, Events};

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Events oldest first, with each webhook's delivery.
    List {
        /// pending, delivered or dead (default: all).
        #[arg(long)]
        state: Option<String>,
        /// Only events with a larger id (paging: the last id shown).
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Deliver a dead-lettered event again, at every hook that gave up on it.
    Retry { id: u64 },
}

pub fn events(t: &Target, cmd: EventsCommand) -> anyhow::Result<()> {
    match cmd {
        EventsCommand::List {
            state,
            after,
            limit,
            json: as_json,
        } => {
            let parsed = match state.as_deref() {
                None => None,
                Some(s) => match EventState::parse(s) {
                    Some(s) => Some(s),
                    None => bail!("--state: must be pending, delivered or dead"),
                },
            };
            if limit == 0 || limit > 1000 {
                bail!("--limit: must be 1 to 1000");
            }
            let page: Value = match mode(t)? {
                Mode::Direct(inv, cfg) => {
                    let ev = Events::offline(inv, cfg.events.clone());
                    let (rows, next) = ev.list(parsed, after, limit as usize)?;
                    json!({"events": rows, "next_after": next})
                }
                Mode::Api(api) => {
                    let mut path = format!("/api/v1/events?after={after}&limit={limit}");
                    if let Some(s) = &state {
                        path.push_str(&format!("&state={s}"));
                    }
                    api.get(&path, "events")?.json()?
                }
            };
            if as_json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", table(&page));
            }
        }
        EventsCommand::Retry { id } => {
            let hooks: Value = match mode(t)? {
                Mode::Direct(inv, cfg) => {
                    let ev = Events::offline(inv, cfg.events.clone());
                    json!(ev.retry(id)?)
                }
                Mode::Api(api) => {
                    let r: Value = api
                        .post(&format!("/api/v1/events/{id}/retry"), &json!({}), "retry")?
                        .json()?;
                    r["retried"].clone()
                }
            };
            println!("event {id}: delivery starts again at {hooks}");
        }
    }
    Ok(())
}

fn table(page: &Value) -> String {
    let mut out = format!(
        "{:>10}  {:<22} {:>8}  {:<20}  {:<9}  deliveries\n",
        "id", "type", "account", "created", "state"
    );
    for e in page["events"].as_array().into_iter().flatten() {
        let deliveries: Vec<String> = e["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let mut s = format!(
                    "{}:{}/{}",
                    d["hook"].as_str().unwrap_or(""),
                    d["state"].as_str().unwrap_or(""),
                    d["attempts"]
                );
                if let Some(st) = d["status"].as_u64() {
                    s.push_str(&format!(" ({st})"));
                }
                s
            })
            .collect();
        out.push_str(&format!(
            "{:>10}  {:<22} {:>8}  {:<20}  {:<9}  {}\n",
            e["event_id"],
            e["event_type"].as_str().unwrap_or(""),
            e["account"].as_u64().map_or("-".into(), |a| a.to_string()),
            e["created_at"].as_str().unwrap_or(""),
            e["state"].as_str().unwrap_or(""),
            deliveries.join(", ")
        ));
    }
    if let Some(n) = page["next_after"].as_u64() {
        out.push_str(&format!("more: --after {n}\n"));
    }
    out
}
