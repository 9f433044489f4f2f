//! Debian's OpenSSH `sshd` as the SM-DP+'s sFTP server: a private instance
//! on a free loopback port, with its own host key, one authorized ed25519
//! client key and `internal-sftp`. It runs on this machine, so the remote
//! paths gyro uses are absolute local paths: `root()` is the folder tests
//! point `input_dir` / `output_dir` into and then look at directly.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SSHD: &str = "/usr/sbin/sshd";

/// Whether sshd can be used. Missing, it fails the test; only
/// GYRO_SKIP_PEERS=1 skips it (false).
pub fn sshd_available() -> bool {
    let found = Path::new(SSHD).is_file();
    if !found && std::env::var("GYRO_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("GYRO_SKIP_PEERS=1: skipping a test that needs Debian's OpenSSH sshd");
        return false;
    }
    assert!(
        found,
        "{SSHD} is missing: Debian's openssh-server is not installed (apt-get install \
         openssh-server openssh-client; .ci/run installs them); GYRO_SKIP_PEERS=1 skips"
    );
    true
}

pub struct Sshd {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    user: String,
}

impl Sshd {
    /// Starts sshd on a free loopback port with fresh keys under a temp dir
    /// named after `tag`; panics with its log if it is not up within 10 s.
    pub fn start(tag: &str) -> Sshd {
        assert!(
            sshd_available(),
            "Sshd::start needs sshd (check sshd_available() first)"
        );
        // sshd refuses to start without its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let dir = super::temp_dir(&format!("{tag}-sshd"));
        std::fs::create_dir_all(dir.join("root")).unwrap();
        keygen_at(&dir.join("host_ed25519"), "ed25519");
        keygen_at(&dir.join("id_ed25519"), "ed25519");
        std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
        let whoami = Command::new("whoami").output().unwrap();
        let user = String::from_utf8(whoami.stdout).unwrap().trim().to_string();
        let mut s = Sshd {
            child: None,
            port: 0,
            dir,
            user,
        };
        // A port free a moment ago can be taken before sshd binds it: then
        // try another.
        for _attempt in 0..5 {
            let port = super::free_port();
            s.write_config(port);
            if s.spawn(port) {
                std::fs::write(
                    s.known_hosts(),
                    s.known_hosts_line(&s.dir.join("host_ed25519.pub")),
                )
                .unwrap();
                return s;
            }
        }
        panic!("sshd did not start; log:\n{}", s.log_text());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login user: whoever runs the tests (root on CI).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// sftp://USER@127.0.0.1:PORT
    pub fn sftp_url(&self) -> String {
        format!("sftp://{}@127.0.0.1:{}", self.user, self.port)
    }

    /// The authorized client key (OpenSSH format, no passphrase).
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// A known_hosts file that lists exactly this server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The folder on the local disk tests use as the remote side.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where the keys, sshd_config and sshd.log live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// sshd's log over every start.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// A new ed25519 key pair `name` / `name.pub` in `dir()`, not authorized.
    pub fn keygen(&self, name: &str) -> PathBuf {
        self.keygen_kind(name, "ed25519")
    }

    /// A new key pair of ssh-keygen's type `kind` (`rsa`, `ecdsa`), not
    /// authorized.
    pub fn keygen_kind(&self, name: &str, kind: &str) -> PathBuf {
        let path = self.dir.join(name);
        keygen_at(&path, kind);
        path
    }

    /// Lets the key pair at `key` (and `key.pub`) log in too.
    pub fn authorize(&self, key: &Path) {
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .unwrap();
        std::io::Write::write_all(&mut f, public.as_bytes()).unwrap();
    }

    /// A known_hosts line giving this server the public key in `pub_file`.
    pub fn known_hosts_line(&self, pub_file: &Path) -> String {
        let text = std::fs::read_to_string(pub_file).unwrap();
        let mut fields = text.split_whitespace();
        let (kind, b64) = (fields.next().unwrap(), fields.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {b64}\n", self.port)
    }

    /// An `[smdp]` section for this server: `root()/in` and `root()/out`
    /// (created) as the folders.
    pub fn smdp_section(&self) -> gyro::smdp::SmdpSettings {
        let (input, output) = (self.root().join("in"), self.root().join("out"));
        std::fs::create_dir_all(&input).unwrap();
        std::fs::create_dir_all(&output).unwrap();
        let toml = format!(
            "sftp_url = \"{}\"\nsftp_key = \"{}\"\nknown_hosts = \"{}\"\n\
             input_dir = \"{}\"\noutput_dir = \"{}\"\n",
            self.sftp_url(),
            self.key().display(),
            self.known_hosts().display(),
            input.display(),
            output.display()
        );
        toml::from_str(&toml).unwrap()
    }

    /// Kills sshd with every session it forked (each is a process of its
    /// own session, and would keep a client's connection open), and waits
    /// for it; a no-op when it is not running.
    pub fn stop(&mut self) {
        if let Some(c) = &self.child {
            for pid in descendants(c.id()) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        super::daemon::kill(&mut self.child);
    }

    /// Starts sshd again on the same port with the same keys; retries a few
    /// times while the port is still taken.
    pub fn start_again(&mut self) {
        self.stop();
        let log = self.dir.join("sshd.log");
        super::daemon::respawn("sshd", self.port, &log, |port| self.spawn(port));
    }

    fn write_config(&self, port: u16) {
        let d = self.dir.display();
        // StrictModes no: the temp dir is not owned the way sshd insists on
        // for a home. PermitRootLogin: the tests run as root.
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_ed25519\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PidFile {d}/sshd.pid\nSubsystem sftp internal-sftp\n\
             PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
        );
        std::fs::write(self.dir.join("sshd_config"), config).unwrap();
    }

    /// One try at running sshd on `port`: true once it accepts there, false
    /// when it exited (port taken); panics after 10 s.
    fn spawn(&mut self, port: u16) -> bool {
        let mut cmd = Command::new(SSHD);
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"));
        let listening = format!("Server listening on 127.0.0.1 port {port}.");
        let log = self.dir.join("sshd.log");
        match super::daemon::spawn_logged("sshd", &mut cmd, &log, &listening, port) {
            Some(child) => {
                self.child = Some(child);
                self.port = port;
                true
            }
            None => false,
        }
    }
}

/// Every process below `pid`, children before grandchildren (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // The command name is in parentheses and may hold spaces: the parent
        // pid is the second field after its closing one.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent_of.push((p, ppid));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parent_of {
            if pp == parent {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// A key pair of type `kind` at `path` and `path.pub`, without a passphrase.
fn keygen_at(path: &Path, kind: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "gyro-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen (Debian's openssh-client) runs");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
