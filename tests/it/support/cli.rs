//! The `gyro` binary's command line, run as a test's child process.

use std::process::Command;

/// What a `gyro` command printed.
pub struct Cli {
    pub ok: bool,
    pub out: String,
    pub err: String,
}

/// Runs the `gyro` binary with `args`.
pub fn cli<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Cli {
    let out = Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .output()
        .unwrap();
    Cli {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
