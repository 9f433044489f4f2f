//! `gyro clock show|set`: the node clock, and moving a test clock forward
//! (`node.test_clock = true`), which runs every transition that fell due.
//! On the store (no `--api`) the transitions run here, and the node picks
//! the clock up where it was left when it next starts.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{mode, Mode, Target};
use crate::model::rfc3339;

#[derive(Subcommand)]
pub enum ClockCommand {
    /// The node's time, and whether it is a test clock.
    Show,
    /// Move a test clock forward to TIME (RFC 3339) and run what fell due.
    Set { time: String },
}

pub fn clock(t: &Target, cmd: ClockCommand) -> anyhow::Result<()> {
    let reply: Value = match (mode(t)?, cmd) {
        (Mode::Api(api), ClockCommand::Show) => api.get("/api/v1/clock", "clock")?.json()?,
        (Mode::Api(api), ClockCommand::Set { time }) => api
            .post("/api/v1/clock", &json!({"now": time}), "clock set")?
            .json()?,
        (Mode::Direct(inv, cfg), cmd) => {
            if cfg.node.test_clock {
                inv.resume_test_clock()?;
            }
            match cmd {
                ClockCommand::Show => {
                    json!({"now": rfc3339(inv.now()), "test_clock": cfg.node.test_clock})
                }
                ClockCommand::Set { time } => {
                    if !cfg.node.test_clock {
                        bail!("clock set: the node clock is not a test clock (set node.test_clock = true)");
                    }
                    let at = crate::model::parse_rfc3339(&time)
                        .map_err(|e| anyhow::anyhow!("clock set: {e}"))?;
                    let now = inv
                        .clock()
                        .advance_to(at)
                        .map_err(|e| anyhow::anyhow!("clock set: {e}"))?;
                    inv.save_test_clock(now)?;
                    let (n, _) = inv.run_due(now)?;
                    json!({"now": rfc3339(now), "transitions": n})
                }
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}
