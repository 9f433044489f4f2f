//! gyro under the nemesis: one `gyro serve` on one data directory and one
//! Diameter port (the harness's proxy dials it), with the store fault hook
//! armed on a trigger file of its own. The nemesis kills it with SIGKILL and
//! starts it again where it was; each start logs to its own file.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use gyro::inventory::store::FAULT_FILE_ENV;

/// How gyro is configured: its identity and what is added to the embedded
/// configuration's [diameter] and [charging] sections and at its end.
#[derive(Clone, Default)]
pub struct Setup {
    pub origin_host: String,
    pub diameter_extra: String,
    pub charging_extra: String,
    pub tail: String,
}

pub struct Target {
    /// The running process (after a kill, until the next start: the dead one).
    pub gyro: Gyro,
    pub trigger: PathBuf,
    setup: Setup,
    starts: u32,
}

impl Target {
    /// gyro on a fresh data directory under `tag`.
    pub fn start(tag: &str, setup: Setup) -> Result<Target, String> {
        let dir = temp_dir(tag);
        let trigger = dir.join("store-fault");
        let gyro = spawn(&dir, free_port(), &setup, &trigger, 0)?;
        Ok(Target {
            gyro,
            trigger,
            setup,
            starts: 1,
        })
    }

    pub fn dir(&self) -> PathBuf {
        self.gyro.dir.clone()
    }

    /// Whether the process ended without the nemesis killing it.
    pub fn exited(&mut self) -> bool {
        self.gyro.child.try_wait().ok().flatten().is_some()
    }

    /// SIGKILL, and the process reaped.
    pub fn kill9(&mut self) {
        let _ = self.gyro.child.kill();
        let _ = self.gyro.child.wait();
    }

    /// Starts gyro again on the same data directory and Diameter port; a
    /// port still held a moment after the kill is tried again.
    pub fn restart(&mut self) -> Result<(), String> {
        let (dir, port) = (self.gyro.dir.clone(), self.gyro.port);
        let mut last = String::new();
        for _ in 0..5 {
            match spawn(&dir, port, &self.setup, &self.trigger, self.starts) {
                Ok(g) => {
                    self.starts += 1;
                    // The dead process's handle goes; its log stays.
                    self.gyro = g;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(last)
    }

    /// Store writes fail, before anything is applied, while the trigger
    /// file says `apply` (the hook in `gyro::inventory::store::faults`).
    pub fn fail_store(&self, on: bool) {
        if on {
            std::fs::write(&self.trigger, b"apply").unwrap();
        } else {
            let _ = std::fs::remove_file(&self.trigger);
        }
    }
}

/// `gyro serve` on `dir` with Diameter on `port`, the hook armed on
/// `trigger`, logging to `gyro-<n>.log`; once its ports accept.
fn spawn(
    dir: &std::path::Path,
    port: u16,
    setup: &Setup,
    trigger: &std::path::Path,
    n: u32,
) -> Result<Gyro, String> {
    let (metrics, api) = (free_port(), free_port());
    let more = Sections {
        tail: &setup.tail,
        ..Sections::default()
    };
    let text = node_config(
        dir,
        (port, metrics, api),
        &setup.origin_host,
        &setup.diameter_extra,
        &setup.charging_extra,
        more,
    );
    let cfg = dir.join("gyro.toml");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.join(format!("gyro-{n:03}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(FAULT_FILE_ENV, trigger)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut g = Gyro {
        child,
        port,
        api_port: api,
        metrics_port: metrics,
        log,
        dir: dir.to_path_buf(),
    };
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if g.child.try_wait().unwrap().is_some() {
            return Err(format!("gyro exited at start:\n{}", g.log_text()));
        }
        let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        if up(port) && up(api) {
            return Ok(g);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "gyro did not listen within 60 s:\n{}",
        g.log_text()
    ))
}
