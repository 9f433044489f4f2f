//! Where the third-party Diameter peers (Erlang/OTP, freeDiameter, tshark)
//! are installed, and whether a test may skip them.

use std::path::{Path, PathBuf};

/// The installed peers: $GYRO_PEERS_DIR, else target/peers. A missing
/// install fails the test; only GYRO_SKIP_PEERS=1 skips it.
pub fn peers_dir() -> Option<PathBuf> {
    if std::env::var("GYRO_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("GYRO_SKIP_PEERS=1: skipping a test that needs the third-party peers");
        return None;
    }
    let p = match std::env::var("GYRO_PEERS_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers"),
    };
    assert!(
        p.join("erlang/_build").is_dir(),
        "the third-party peers are not installed in {} (run .ci/run or target/peers/install.sh; \
         GYRO_SKIP_PEERS=1 skips these tests)",
        p.display()
    );
    Some(p)
}
