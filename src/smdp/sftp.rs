//! sFTP to the SM-DP+ over russh: the host key checked against
//! `smdp.known_hosts`, a public-key login with `smdp.sftp_key`, and the few
//! file operations the exchange needs. Every error names the setting (or the
//! remote path) to look at, because whoever reads it is fixing a config file
//! or a server, not gyro. Key material is never logged nor put in an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::error::Error as SftpProtoError;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::StatusCode;
use tokio::io::AsyncWriteExt;

use super::{SftpTarget, SmdpSettings};

/// From dialling to a ready sftp subsystem.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SftpError {
    #[error("smdp.sftp_url: {0}")]
    Url(String),
    #[error("smdp.sftp_url: cannot reach {host_port}: {reason}")]
    Connect { host_port: String, reason: String },
    #[error("smdp.known_hosts: cannot read {}: {reason}", path.display())]
    KnownHostsFile { path: PathBuf, reason: String },
    #[error(
        "smdp.known_hosts: {} lists no {algorithm} key for {host_port}; the server offered \
         {fingerprint} (add it only once you know it is the SM-DP+'s)",
        path.display()
    )]
    UnknownHostKey {
        path: PathBuf,
        host_port: String,
        algorithm: String,
        fingerprint: String,
    },
    #[error(
        "smdp.known_hosts: the host key of {host_port} is not the one on line {line} of {}: \
         the server offered {fingerprint}; the key changed, or this is not the SM-DP+",
        path.display()
    )]
    HostKeyChanged {
        path: PathBuf,
        line: usize,
        host_port: String,
        fingerprint: String,
    },
    #[error("smdp.sftp_key: cannot use {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error(
        "smdp.sftp_url / smdp.sftp_key: {user}@{host_port} refused the key {} ({fingerprint}); \
         is its public half in that user's authorized_keys?",
        path.display()
    )]
    LoginRefused {
        user: String,
        host_port: String,
        path: PathBuf,
        fingerprint: String,
    },
    #[error("smdp.sftp_url: the SSH session with {host_port} failed: {reason}")]
    Session { host_port: String, reason: String },
    #[error("sftp {host_port}: {path}: cannot {op}: {reason}")]
    Remote {
        host_port: String,
        path: String,
        op: &'static str,
        reason: String,
    },
    #[error("sftp: '{name}' is not a plain file name (empty, '.', '..' or with a '/')")]
    BadName { name: String },
}

/// A regular file in a remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub size: u64,
}

/// One logged-in sftp session. After a `Session` or `Remote` error caused
/// by the connection, the session may be dead: connect anew
/// (`is_closed` tells).
pub struct SftpClient {
    ssh: client::Handle<HostCheck>,
    sftp: SftpSession,
    host_port: String,
}

impl SftpClient {
    /// Loads the key, dials `sftp_url`, checks the host key, logs in and
    /// starts the sftp subsystem, all within 10 s.
    pub async fn connect(cfg: &SmdpSettings) -> Result<SftpClient, SftpError> {
        let target = cfg.target().map_err(SftpError::Url)?;
        // Local faults first: they need no server to be found.
        let key = load_key(&cfg.sftp_key)?;
        if let Err(e) = std::fs::File::open(&cfg.known_hosts) {
            return Err(SftpError::KnownHostsFile {
                path: cfg.known_hosts.clone(),
                reason: e.to_string(),
            });
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, open(cfg, &target, key)).await {
            Ok(r) => r,
            Err(_) => Err(SftpError::Connect {
                host_port: target.host_port(),
                reason: format!("no sftp session within {}s", CONNECT_TIMEOUT.as_secs()),
            }),
        }
    }

    /// The server, as errors name it.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// Whether the SSH connection is gone (the server went away).
    pub fn is_closed(&self) -> bool {
        self.ssh.is_closed()
    }

    /// Writes `dir/name.part`, then renames it to `dir/name`: the SM-DP+
    /// never picks up half a file. A stale `.part` or an existing `name`
    /// (from an attempt whose answer was lost) is removed first, so a
    /// retry succeeds.
    pub async fn upload_atomic(
        &self,
        dir: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), SftpError> {
        let path = join(dir, name)?;
        let part = format!("{path}.part");
        self.remove_if_present(&part).await?;
        self.put(&part, bytes).await?;
        // SFTP v3 rename refuses an existing target.
        self.remove_if_present(&path).await?;
        self.sftp
            .rename(part.as_str(), path.as_str())
            .await
            .map_err(|e| self.remote(&part, "rename", e))
    }

    /// The regular files in `dir`, sorted by name; `.part` files (uploads
    /// in progress), folders and links are left out.
    pub async fn list(&self, dir: &str) -> Result<Vec<RemoteFile>, SftpError> {
        let entries = self
            .sftp
            .read_dir(dir)
            .await
            .map_err(|e| self.remote(dir, "list", e))?;
        let mut files: Vec<RemoteFile> = entries
            .filter(|e| e.file_type().is_file() && !e.file_name().ends_with(".part"))
            .map(|e| RemoteFile {
                size: e.metadata().size.unwrap_or(0),
                name: e.file_name(),
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// The whole of `dir/name`.
    pub async fn read(&self, dir: &str, name: &str) -> Result<Vec<u8>, SftpError> {
        let path = join(dir, name)?;
        self.sftp
            .read(path.as_str())
            .await
            .map_err(|e| self.remote(&path, "read", e))
    }

    /// Moves `dir/from` to `dir/to_dir/to` (`to_dir` "" is `dir` itself),
    /// creating `to_dir` when missing. A file already at the target is
    /// replaced: it is the same file moved by an earlier attempt.
    pub async fn rename(
        &self,
        dir: &str,
        from: &str,
        to_dir: &str,
        to: &str,
    ) -> Result<(), SftpError> {
        let src = join(dir, from)?;
        let folder = if to_dir.is_empty() {
            dir.to_string()
        } else {
            join(dir, to_dir)?
        };
        let dst = join(&folder, to)?;
        self.ensure_dir(&folder).await?;
        let Err(first) = self.sftp.rename(src.as_str(), dst.as_str()).await else {
            return Ok(());
        };
        // Replace the target only when it is what stood in the way, so a
        // missing source never costs the file at the target.
        let exists = self.sftp.try_exists(dst.as_str()).await;
        if !matches!(exists, Ok(true)) {
            return Err(self.remote(&src, "rename", first));
        }
        self.remove_if_present(&dst).await?;
        self.sftp
            .rename(src.as_str(), dst.as_str())
            .await
            .map_err(|e| self.remote(&src, "rename", e))
    }

    /// Creates or truncates `dir/name` with `bytes` (not atomic: for the
    /// `.err` notes beside rejected files).
    pub async fn write(&self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), SftpError> {
        self.put(&join(dir, name)?, bytes).await
    }

    pub async fn remove(&self, dir: &str, name: &str) -> Result<(), SftpError> {
        let path = join(dir, name)?;
        self.sftp
            .remove_file(path.as_str())
            .await
            .map_err(|e| self.remote(&path, "remove", e))
    }

    /// Ends the sftp session and the SSH connection politely.
    pub async fn close(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    async fn put(&self, path: &str, bytes: &[u8]) -> Result<(), SftpError> {
        let io = |e: std::io::Error| self.remote(path, "write", SftpProtoError::from(e));
        let mut f = self
            .sftp
            .create(path)
            .await
            .map_err(|e| self.remote(path, "create", e))?;
        f.write_all(bytes).await.map_err(io)?;
        // fsync where the server offers it: a rename must not publish a
        // file the server could still lose.
        f.sync_all()
            .await
            .map_err(|e| self.remote(path, "sync", e))?;
        f.shutdown().await.map_err(io)
    }

    async fn remove_if_present(&self, path: &str) -> Result<(), SftpError> {
        match self.sftp.remove_file(path).await {
            Err(e) if !is_missing(&e) => Err(self.remote(path, "remove", e)),
            _ => Ok(()),
        }
    }

    async fn ensure_dir(&self, path: &str) -> Result<(), SftpError> {
        match self.sftp.metadata(path).await {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                let e = SftpProtoError::UnexpectedBehavior("exists and is not a folder".into());
                return Err(self.remote(path, "use as a folder", e));
            }
            Err(e) if !is_missing(&e) => return Err(self.remote(path, "stat", e)),
            Err(_) => {}
        }
        match self.sftp.create_dir(path).await {
            Ok(()) => Ok(()),
            // Another client may have made it meanwhile.
            Err(_) if matches!(self.sftp.metadata(path).await, Ok(m) if m.is_dir()) => Ok(()),
            Err(e) => Err(self.remote(path, "create folder", e)),
        }
    }

    fn remote(&self, path: &str, op: &'static str, e: SftpProtoError) -> SftpError {
        // OpenSSH's status messages repeat the code's name: say it once.
        let reason = match &e {
            SftpProtoError::Status(st)
                if st.error_message.is_empty()
                    || st.error_message == st.status_code.to_string() =>
            {
                st.status_code.to_string()
            }
            e => e.to_string(),
        };
        SftpError::Remote {
            host_port: self.host_port.clone(),
            path: path.to_string(),
            op,
            reason,
        }
    }
}

/// The SSH conversation up to a ready sftp subsystem.
async fn open(
    cfg: &SmdpSettings,
    target: &SftpTarget,
    key: PrivateKey,
) -> Result<SftpClient, SftpError> {
    let host_port = target.host_port();
    let ssh_err = |e: russh::Error| SftpError::Session {
        host_port: host_port.clone(),
        reason: e.to_string(),
    };
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| SftpError::Connect {
            host_port: host_port.clone(),
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let config = client::Config {
        // A server that vanished between polls is noticed within a minute.
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        ..Default::default()
    };
    let check = HostCheck {
        known_hosts: cfg.known_hosts.clone(),
        target: target.clone(),
    };
    let mut ssh = client::connect_stream(Arc::new(config), tcp, check)
        .await
        .map_err(|e| match e {
            HandlerError::HostKey(e) => e,
            HandlerError::Ssh(e) => ssh_err(e),
        })?;
    login(&mut ssh, cfg, target, key).await?;
    let channel = ssh.channel_open_session().await.map_err(ssh_err)?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(ssh_err)?;
    let sftp = SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| SftpError::Session {
            host_port: host_port.clone(),
            reason: format!("the sftp subsystem did not start: {e}"),
        })?;
    tracing::debug!(server = %host_port, user = %target.user, "sftp session open");
    Ok(SftpClient {
        ssh,
        sftp,
        host_port,
    })
}

async fn login(
    ssh: &mut client::Handle<HostCheck>,
    cfg: &SmdpSettings,
    target: &SftpTarget,
    key: PrivateKey,
) -> Result<(), SftpError> {
    let ssh_err = |e: russh::Error| SftpError::Session {
        host_port: target.host_port(),
        reason: e.to_string(),
    };
    let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
    // An RSA key signs with the SHA-2 hash the server announces: OpenSSH
    // refuses SHA-1 ssh-rsa signatures.
    let hash = if key.algorithm().is_rsa() {
        ssh.best_supported_rsa_hash()
            .await
            .map_err(ssh_err)?
            .flatten()
    } else {
        None
    };
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    let answer = ssh
        .authenticate_publickey(target.user.as_str(), key)
        .await
        .map_err(ssh_err)?;
    if answer.success() {
        return Ok(());
    }
    Err(SftpError::LoginRefused {
        user: target.user.clone(),
        host_port: target.host_port(),
        path: cfg.sftp_key.clone(),
        fingerprint,
    })
}

/// The private key at `path`; the error never quotes the file.
fn load_key(path: &Path) -> Result<PrivateKey, SftpError> {
    let bad = |reason: String| SftpError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    russh::keys::decode_secret_key(&text, None).map_err(|e| {
        bad(match e {
            russh::keys::Error::KeyIsEncrypted => {
                "it has a passphrase; gyro needs a key without one".into()
            }
            e => format!("not an OpenSSH private key gyro can use ({e})"),
        })
    })
}

/// `dir/name`, refusing names that would leave `dir`.
fn join(dir: &str, name: &str) -> Result<String, SftpError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(SftpError::BadName { name: name.into() });
    }
    Ok(if dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    })
}

fn is_missing(e: &SftpProtoError) -> bool {
    matches!(e, SftpProtoError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// The client side's russh handler: accepts a host key only when
/// `known_hosts` lists exactly it for the host and port.
struct HostCheck {
    known_hosts: PathBuf,
    target: SftpTarget,
}

/// What the handler's callbacks fail with: russh's own errors, or the
/// verdict on the host key, which connect hands on as it is.
#[derive(Debug)]
enum HandlerError {
    Ssh(russh::Error),
    HostKey(SftpError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl client::Handler for HostCheck {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, HandlerError> {
        // A host certificate is pinned by the key it certifies.
        let key = offered.public_key();
        let (host, port) = (self.target.host.as_str(), self.target.port);
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let path = self.known_hosts.clone();
        let verdict = match russh::keys::check_known_hosts_path(host, port, &key, &path) {
            Ok(true) => return Ok(true),
            Ok(false) => SftpError::UnknownHostKey {
                path,
                host_port: self.target.host_port(),
                algorithm: key.algorithm().to_string(),
                fingerprint,
            },
            Err(russh::keys::Error::KeyChanged { line }) => SftpError::HostKeyChanged {
                path,
                line,
                host_port: self.target.host_port(),
                fingerprint,
            },
            Err(e) => SftpError::KnownHostsFile {
                path,
                reason: e.to_string(),
            },
        };
        Err(HandlerError::HostKey(verdict))
    }
}
