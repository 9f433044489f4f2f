//! A real `gyro serve` process for a test: its own free ports and data
//! directory, started on the embedded config with the test's additions,
//! stopped by SIGTERM (killed when the test drops it).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, node_config, temp_dir, Sections};

pub struct Gyro {
    pub child: Child,
    pub port: u16,
    pub api_port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    pub dir: PathBuf,
}

impl Gyro {
    /// Starts gyro with the embedded defaults plus `extra` TOML appended to the
    /// [diameter] section.
    pub fn start(tag: &str, diameter_extra: &str) -> Gyro {
        Self::start_inner(tag, "gyro.test.local", diameter_extra, "", None, "")
    }

    /// Starts gyro as another Diameter identity (two gyros talking), with
    /// `diameter_extra` after [diameter] (whole sections such as [proxy]
    /// may follow it) and `charging_extra` in [charging].
    pub fn start_as(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
    ) -> Gyro {
        Self::start_inner(tag, origin_host, diameter_extra, charging_extra, None, "")
    }

    /// As `start_as`, with `node_extra` added to the [node] section.
    pub fn start_with_node(
        tag: &str,
        origin_host: &str,
        node_extra: &str,
        diameter_extra: &str,
        charging_extra: &str,
    ) -> Gyro {
        let (d, c) = (diameter_extra, charging_extra);
        Self::start_inner(tag, origin_host, d, c, None, node_extra)
    }

    /// Starts gyro again on the data directory of an earlier run.
    pub fn restart(tag: &str, dir: &Path) -> Gyro {
        Self::start_inner(tag, "gyro.test.local", "", "", Some(dir.to_path_buf()), "")
    }

    fn start_inner(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        reuse: Option<PathBuf>,
        node_extra: &str,
    ) -> Gyro {
        Self::start_full(
            tag,
            origin_host,
            diameter_extra,
            charging_extra,
            reuse,
            None,
            Sections {
                node: node_extra,
                ..Sections::default()
            },
        )
    }

    /// Starts gyro again on an earlier run's data directory, as `start_as`
    /// would, on the Diameter port `port` (peers dial it).
    pub fn restart_as(
        tag: &str,
        dir: &Path,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        port: u16,
    ) -> Gyro {
        let dir = Some(dir.to_path_buf());
        Self::start_full(
            tag,
            origin_host,
            diameter_extra,
            charging_extra,
            dir,
            Some(port),
            Sections::default(),
        )
    }

    /// Starts gyro with `charging_extra` in [charging] and whole sections
    /// (`[events]`, `[[events.webhook]]`, …) in `tail` at the end.
    pub fn start_with_tail(tag: &str, charging_extra: &str, tail: &str) -> Gyro {
        let host = "gyro.test.local";
        let more = Sections {
            tail,
            ..Sections::default()
        };
        Self::start_full(tag, host, "", charging_extra, None, None, more)
    }

    /// Starts gyro with lines of the embedded config replaced, and `tail`.
    pub fn start_replacing(tag: &str, replace: &[(&str, &str)], tail: &str) -> Gyro {
        let more = Sections {
            tail,
            replace,
            ..Sections::default()
        };
        Self::start_full(tag, "gyro.test.local", "", "", None, None, more)
    }

    /// `start_replacing` again on an earlier run's data directory.
    pub fn restart_replacing(tag: &str, dir: &Path, replace: &[(&str, &str)], tail: &str) -> Gyro {
        let more = Sections {
            tail,
            replace,
            ..Sections::default()
        };
        let reuse = Some(dir.to_path_buf());
        Self::start_full(tag, "gyro.test.local", "", "", reuse, None, more)
    }

    /// `start_with_tail` again on an earlier run's data directory.
    pub fn restart_with_tail(tag: &str, dir: &Path, charging_extra: &str, tail: &str) -> Gyro {
        let (host, reuse) = ("gyro.test.local", Some(dir.to_path_buf()));
        let more = Sections {
            tail,
            ..Sections::default()
        };
        Self::start_full(tag, host, "", charging_extra, reuse, None, more)
    }

    fn start_full(
        tag: &str,
        origin_host: &str,
        diameter_extra: &str,
        charging_extra: &str,
        reuse: Option<PathBuf>,
        fixed_port: Option<u16>,
        more: Sections<'_>,
    ) -> Gyro {
        let dir = reuse.unwrap_or_else(|| temp_dir(tag));
        // A port free a moment ago can be taken by another test's outbound
        // connection before gyro binds it: then try other ports.
        let mut last_log = String::new();
        for _attempt in 0..4 {
            let port = fixed_port.unwrap_or_else(free_port);
            let metrics = free_port();
            let api_port = free_port();
            let listen = (port, metrics, api_port);
            let text = node_config(
                &dir,
                listen,
                origin_host,
                diameter_extra,
                charging_extra,
                more,
            );
            let cfg = dir.join("gyro.toml");
            std::fs::write(&cfg, text).unwrap();
            let log = dir.join(format!("gyro-{tag}.log"));
            let mut child = spawn_serve(&cfg, &log);
            if serving(&mut child, port, api_port) {
                return Gyro {
                    child,
                    port,
                    api_port,
                    metrics_port: metrics,
                    log,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("gyro did not start; last log:\n{last_log}");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (SIGKILL after 20 s).
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The file beside a node's config whose content makes its store writes
/// fail (`apply` or `flush`; absent or empty: none), the store's test hook.
pub const STORE_FAULTS: &str = "store-faults";

/// `gyro serve --config cfg` from the repository root, stderr to `log`.
fn spawn_serve(cfg: &Path, log: &Path) -> Child {
    let faults = cfg.with_file_name(STORE_FAULTS);
    Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(["serve", "--config"])
        .arg(cfg)
        .env("GYRO_TEST_STORE_FAULTS", faults)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits up to 30 s for the Diameter and API ports to accept; false when
/// the process exited first or the time ran out.
fn serving(child: &mut Child, port: u16, api_port: u16) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && TcpStream::connect(("127.0.0.1", api_port)).is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Gyro {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gyro {
    /// Starts gyro with extra TOML appended to its [charging] section.
    pub fn start_with_charging(tag: &str, diameter_extra: &str, charging_extra: &str) -> Gyro {
        Self::start_inner(
            tag,
            "gyro.test.local",
            diameter_extra,
            charging_extra,
            None,
            "",
        )
    }
}

impl Gyro {
    /// Starts gyro granting with a Validity-Time of 1 s, so Tcc (2 s) passes
    /// within a test.
    pub fn start_with_short_validity(tag: &str) -> Gyro {
        let dir = temp_dir(&format!("{tag}-rating"));
        let rating =
            gyro::rating::EMBEDDED.replace("validity_time = \"10m\"", "validity_time = \"1s\"");
        let path = dir.join("rating.toml");
        std::fs::write(&path, rating).unwrap();
        Self::start_with_charging(tag, "", &format!("rating = \"{}\"", path.display()))
    }
}
