//! `gyro audit imsi IMSI [--at T]`: who held an IMSI at an instant, or its
//! whole holding history, on the store or through `--api`.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{mode, Mode, Target};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Who held an IMSI at --at (RFC 3339), or its whole history without it.
    Imsi {
        imsi: String,
        /// The instant, e.g. 2026-04-01T12:00:00Z.
        #[arg(long)]
        at: Option<String>,
    },
}

pub fn audit(t: &Target, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Imsi { imsi, at } = cmd;
    let v: Value = match (mode(t)?, at) {
        (Mode::Direct(inv, _), None) => json!(inv.audit_imsi(&imsi)?),
        (Mode::Direct(inv, _), Some(at)) => {
            let t = crate::model::parse_rfc3339(&at).map_err(|e| anyhow::anyhow!("--at: {e}"))?;
            match inv.audit_imsi_at(&imsi, t)? {
                Ok(v) => v,
                Err(n) => bail!("{}", n.message),
            }
        }
        (Mode::Api(api), None) => api
            .get(&format!("/api/v1/audit/imsi/{imsi}"), &imsi)?
            .json()?,
        (Mode::Api(api), Some(at)) => {
            let at = super::batch::segment(&at);
            let path = format!("/api/v1/audit/imsi/{imsi}?at={at}");
            api.get(&path, &imsi)?.json()?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
