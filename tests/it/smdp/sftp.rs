//! The sFTP transport to the SM-DP+ (`gyro::smdp::SftpClient`) against
//! Debian's OpenSSH sshd on loopback (tests/it/support/sshd.rs): the file
//! operations as they land on the server's disk, and the errors of a server
//! that is down, a host key that is not the known one, and keys that are
//! unreadable or not authorized, each naming its setting.

use std::path::Path;

use crate::support::sshd::{sshd_available, Sshd};
use gyro::smdp::SmdpSettings;
use gyro::smdp::{RemoteFile, SftpClient, SftpError};

fn s(p: &Path) -> String {
    p.display().to_string()
}

async fn connect_err(cfg: &SmdpSettings) -> String {
    match SftpClient::connect(cfg).await {
        Ok(_) => panic!("connected with {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn files_land_on_the_server_as_sent() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("sftp-files");
    let cfg = sshd.smdp_section();
    let c = SftpClient::connect(&cfg).await.unwrap();
    let input = sshd.root().join("in");

    // Bytes that are not text, over several sftp write packets.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.upload_atomic(&cfg.input_dir, "order-1.txt", &body)
        .await
        .unwrap();
    assert_eq!(std::fs::read(input.join("order-1.txt")).unwrap(), body);

    // A retry after an upload that died midway, and after one whose answer
    // was lost: the stale .part and the old file give way.
    std::fs::write(input.join("order-2.txt.part"), b"half of it").unwrap();
    std::fs::write(input.join("order-2.txt"), b"an older upload").unwrap();
    c.upload_atomic(&cfg.input_dir, "order-2.txt", b"*HEADER DESCRIPTION\n")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(input.join("order-2.txt")).unwrap(),
        b"*HEADER DESCRIPTION\n"
    );
    let mut names: Vec<String> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["order-1.txt", "order-2.txt"], "no .part is left");
    c.close().await;
}

#[tokio::test]
async fn list_read_rename_write_and_remove() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("sftp-output");
    let cfg = sshd.smdp_section();
    let out = sshd.root().join("out");
    std::fs::write(out.join("b.out"), b"second").unwrap();
    std::fs::write(out.join("a.out"), b"first!").unwrap();
    std::fs::write(out.join("c.out.part"), b"still coming").unwrap();
    std::fs::create_dir(out.join("folder")).unwrap();
    std::os::unix::fs::symlink(out.join("a.out"), out.join("link.out")).unwrap();
    let c = SftpClient::connect(&cfg).await.unwrap();
    let d = cfg.output_dir.as_str();

    let file = |name: &str, size: u64| RemoteFile {
        name: name.into(),
        size,
    };
    assert_eq!(
        c.list(d).await.unwrap(),
        [file("a.out", 6), file("b.out", 6)]
    );
    assert_eq!(c.read(d, "a.out").await.unwrap(), b"first!");

    // Into rejected/, made on the way; a second move to the same name
    // replaces the first.
    c.rename(d, "a.out", "rejected", "a.out").await.unwrap();
    assert!(!out.join("a.out").exists());
    assert_eq!(
        std::fs::read(out.join("rejected/a.out")).unwrap(),
        b"first!"
    );
    std::fs::write(out.join("a.out"), b"again").unwrap();
    c.rename(d, "a.out", "rejected", "a.out").await.unwrap();
    assert_eq!(std::fs::read(out.join("rejected/a.out")).unwrap(), b"again");
    let rejected = s(&out.join("rejected"));
    c.write(&rejected, "a.out.err", b"line 3: bad ICCID\n")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(out.join("rejected/a.out.err")).unwrap(),
        b"line 3: bad ICCID\n"
    );
    assert_eq!(
        c.list(d).await.unwrap(),
        [file("b.out", 6)],
        "rejected/ is a folder"
    );

    c.remove(d, "b.out").await.unwrap();
    assert!(!out.join("b.out").exists());

    // A remote fault names the remote path; a name cannot leave its folder.
    let e = c.read(d, "missing.out").await.unwrap_err().to_string();
    let path = s(&out.join("missing.out"));
    let at = format!("127.0.0.1:{}", sshd.port());
    assert_eq!(e, format!("sftp {at}: {path}: cannot read: No such file"));
    let e = c
        .rename(d, "missing.out", "rejected", "m")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("missing.out"), "{e}");
    assert!(matches!(
        c.read(d, "../in").await,
        Err(SftpError::BadName { .. })
    ));
    c.close().await;
}

#[tokio::test]
async fn a_server_that_is_down_names_the_url_and_is_found_again() {
    if !sshd_available() {
        return;
    }
    let mut sshd = Sshd::start("sftp-down");
    let cfg = sshd.smdp_section();
    SftpClient::connect(&cfg).await.unwrap().close().await;
    sshd.stop();
    let e = connect_err(&cfg).await;
    let at = format!("127.0.0.1:{}", sshd.port());
    assert!(
        e.starts_with("smdp.sftp_url: cannot reach") && e.contains(&at),
        "{e}"
    );
    sshd.start_again();
    let c = SftpClient::connect(&cfg).await.unwrap();
    assert!(c.list(&cfg.output_dir).await.unwrap().is_empty());
}

#[tokio::test]
async fn only_the_known_host_key_is_accepted() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("sftp-hostkey");
    let mut cfg = sshd.smdp_section();
    let at = format!("127.0.0.1:{}", sshd.port());

    // Another key recorded for this host and port: refused as changed.
    let other = sshd.keygen("other_host");
    let changed = sshd.dir().join("changed_known_hosts");
    std::fs::write(
        &changed,
        sshd.known_hosts_line(&other.with_extension("pub")),
    )
    .unwrap();
    cfg.known_hosts = changed;
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.known_hosts: ") && e.contains(&at),
        "{e}"
    );
    assert!(e.contains("SHA256:") && e.contains("line 1"), "{e}");

    // No line for this host at all: unknown, refused too.
    let empty = sshd.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    cfg.known_hosts = empty;
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.known_hosts: ") && e.contains("lists no"),
        "{e}"
    );

    cfg.known_hosts = sshd.dir().join("nowhere");
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.known_hosts: cannot read") && e.contains("nowhere"),
        "{e}"
    );
}

#[tokio::test]
async fn a_bad_or_unauthorized_key_names_the_setting() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("sftp-key");
    let mut cfg = sshd.smdp_section();

    let garbage = sshd.dir().join("garbage_key");
    std::fs::write(&garbage, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n").unwrap();
    cfg.sftp_key = garbage.clone();
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.sftp_key: ") && e.contains(&s(&garbage)),
        "{e}"
    );
    cfg.sftp_key = sshd.dir().join("no_such_key");
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.sftp_key: ") && e.contains("no_such_key"),
        "{e}"
    );

    // A good key that authorized_keys does not list.
    cfg.sftp_key = sshd.keygen("stranger");
    let e = connect_err(&cfg).await;
    let who = format!("{}@127.0.0.1:{}", sshd.user(), sshd.port());
    assert!(
        e.contains("smdp.sftp_url") && e.contains("smdp.sftp_key") && e.contains(&who),
        "{e}"
    );
    assert!(e.contains("stranger") && e.contains("refused"), "{e}");
}

#[tokio::test]
async fn rsa_and_ecdsa_keys_log_in_too() {
    if !sshd_available() {
        return;
    }
    let sshd = Sshd::start("sftp-kinds");
    let mut cfg = sshd.smdp_section();
    for kind in ["rsa", "ecdsa"] {
        let key = sshd.keygen_kind(&format!("id_{kind}"), kind);
        sshd.authorize(&key);
        cfg.sftp_key = key;
        let c = SftpClient::connect(&cfg).await.unwrap();
        c.upload_atomic(&cfg.input_dir, kind, kind.as_bytes())
            .await
            .unwrap();
        c.close().await;
        assert_eq!(
            std::fs::read(sshd.root().join("in").join(kind)).unwrap(),
            kind.as_bytes()
        );
    }
}

/// A server that accepts the connection and never says a word.
#[tokio::test]
async fn a_silent_server_times_out_naming_the_url() {
    // Not sshd, but its ssh-keygen comes with it.
    if !sshd_available() {
        return;
    }
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cfg: SmdpSettings = toml::from_str(&format!(
        "sftp_url = \"sftp://gyro@127.0.0.1:{port}\"\n\
         sftp_key = \"{}\"\nknown_hosts = \"/dev/null\"\n\
         input_dir = \"/in\"\noutput_dir = \"/out\"\n",
        key_for_timeout().display()
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let e = connect_err(&cfg).await;
    assert!(
        e.starts_with("smdp.sftp_url: cannot reach") && e.contains("within 10s"),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    drop(silent);
}

/// A valid key, made without sshd (the silent server needs none).
fn key_for_timeout() -> std::path::PathBuf {
    let path = crate::support::temp_dir("sftp-silent").join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen (Debian's openssh-client) runs");
    assert!(out.status.success());
    path
}
