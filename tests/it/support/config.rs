//! The node's configuration for a test: the embedded `config/gyro.toml` with
//! the test's own ports, data directory and debug logs, plus what the test
//! adds to its sections; and rating files derived from the embedded one.

use std::path::{Path, PathBuf};

use super::temp_dir;

/// The embedded config rewritten for a test: its own ports and data dir, debug
/// logs, and `diameter_extra` appended to the [diameter] section.
pub fn config_text(dir: &Path, port: u16, metrics: u16, api: u16, diameter_extra: &str) -> String {
    let mut base =
        without_diameter_defaults(include_str!("../../../config/gyro.toml"), diameter_extra);
    let data = dir.join("data");
    let pairs = [
        (
            "listen = \"0.0.0.0:3868\"",
            format!("listen = \"127.0.0.1:{port}\""),
        ),
        (
            "listen = \"127.0.0.1:9464\"",
            format!("listen = \"127.0.0.1:{metrics}\""),
        ),
        (
            "listen = \"127.0.0.1:8080\"",
            format!("listen = \"127.0.0.1:{api}\""),
        ),
        (
            "data_dir = \"./data\"",
            format!("data_dir = \"{}\"", data.display()),
        ),
        ("level = \"info\"", "level = \"debug\"".to_string()),
        (
            "accept_unknown_peers = \"loopback\"",
            format!("accept_unknown_peers = \"loopback\"\n{diameter_extra}"),
        ),
    ];
    for (from, to) in pairs {
        assert!(base.contains(from), "config/gyro.toml no longer has {from}");
        base = base.replace(from, &to);
    }
    base
}

/// `config` with `node_extra` lines at the end of its [node] section.
pub fn with_node_extra(config: &str, node_extra: &str) -> String {
    assert!(
        config.contains("\n[diameter]\n"),
        "config/gyro.toml has no [diameter] after [node]"
    );
    config.replacen(
        "\n[diameter]\n",
        &format!("\n{node_extra}\n[diameter]\n"),
        1,
    )
}

/// The embedded config without the `[diameter]` lines of the keys that
/// `diameter_extra` sets (before any table of its own): the test's value
/// replaces the default instead of repeating the key, which TOML refuses.
fn without_diameter_defaults(base: &str, diameter_extra: &str) -> String {
    let keys: Vec<String> = diameter_extra
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, _)| format!("{} = ", k.trim()))
        .collect();
    let mut section = "";
    let mut out = String::with_capacity(base.len());
    for line in base.lines() {
        if line.starts_with('[') {
            section = line;
        }
        if section == "[diameter]" && keys.iter().any(|k| line.starts_with(k.as_str())) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Config text beyond [diameter] and [charging]: lines at the end of
/// [node], and whole sections at the end of the file.
#[derive(Default, Clone, Copy)]
pub struct Sections<'a> {
    pub node: &'a str,
    pub tail: &'a str,
    /// Whole lines of the embedded config replaced by others.
    pub replace: &'a [(&'a str, &'a str)],
}

/// The whole config file of a test node listening on `listen` (Diameter,
/// metrics, API): `diameter_extra` in [diameter], `charging_extra` in
/// [charging] (a key it sets replaces the default's line), `origin_host` as
/// the node's identity, and `more`'s node lines, replaced lines and tail.
pub fn node_config(
    dir: &Path,
    listen: (u16, u16, u16),
    origin_host: &str,
    diameter_extra: &str,
    charging_extra: &str,
    more: Sections<'_>,
) -> String {
    let (port, metrics, api_port) = listen;
    let mut base = with_node_extra(
        &config_text(dir, port, metrics, api_port, diameter_extra),
        more.node,
    );
    // A key the test sets replaces the embedded default's line.
    for key in charging_extra.lines().filter_map(|l| l.split_once(" = ")) {
        let line = base
            .lines()
            .find(|l| l.starts_with(&format!("{} = ", key.0)))
            .map(str::to_string);
        if let Some(line) = line {
            base = base.replace(&format!("{line}\n"), "");
        }
    }
    assert!(
        base.contains("\n[charging]\n"),
        "config/gyro.toml has no [charging]"
    );
    let base = base.replace(
        "\n[charging]\n",
        &format!("\n[charging]\n{charging_extra}\n"),
    );
    let mut base = base.replace(
        "origin_host = \"gyro.test.local\"",
        &format!("origin_host = \"{origin_host}\""),
    );
    for (from, to) in more.replace {
        assert!(base.contains(from), "config/gyro.toml no longer has {from}");
        base = base.replace(from, to);
    }
    format!("{base}\n{}", more.tail)
}

/// A rating file with a 1 MB bundle, a 600 kB fair-usage threshold and
/// 400 kB grants, written under `tag`'s temp dir; its path.
pub fn small_bundle_rating(tag: &str) -> PathBuf {
    let rating = gyro::rating::EMBEDDED
        .replace("data_octets = 10000000\n", "data_octets = 400000\n")
        .replace(
            "data_octets = 100000000000\nfup_octets = 50000000000",
            "data_octets = 1000000\nfup_octets = 600000",
        );
    let path = temp_dir(tag).join("rating.toml");
    std::fs::write(&path, rating).unwrap();
    path
}
