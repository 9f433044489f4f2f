//! The options of `gyro load`, and the check that they describe a run that
//! ends.

use std::net::SocketAddr;

use anyhow::bail;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// gyro (or any Gy server) to load.
    #[arg(long)]
    pub target: SocketAddr,
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Sessions in flight at once (each has one request outstanding).
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Sessions in all (0: until --duration).
    #[arg(long, default_value_t = 20_000)]
    pub sessions: u64,
    /// CCR-U per session.
    #[arg(long, default_value_t = 3)]
    pub updates: u32,
    /// Requests per second in all (0: as fast as answers come).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Stop starting sessions after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Octets reported per CCR-U/T.
    #[arg(long, default_value_t = 1000)]
    pub used_octets: u64,
    /// Server's Diameter identity (informational; Destination-Realm is its realm).
    #[arg(long, default_value = "test.local")]
    pub realm: String,
    /// Write the summary here as JSON.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

impl LoadArgs {
    /// Refuses options that start nothing or never stop.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.connections == 0 || self.concurrency == 0 {
            bail!("--connections and --concurrency must be at least 1");
        }
        if self.sessions == 0 && self.duration == 0 {
            bail!("give --sessions or --duration (or both)");
        }
        Ok(())
    }

    /// Whether session number `s` is past the end of the run.
    pub(super) fn done(&self, s: u64, elapsed: std::time::Duration) -> bool {
        (self.sessions > 0 && s >= self.sessions)
            || (self.duration > 0 && elapsed.as_secs() >= self.duration)
    }
}
