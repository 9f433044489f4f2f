//! Certificates for the TLS tests, made with the openssl CLI as
//! ../shared/peers/README.md (section TLS) shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::temp_dir;

/// A CA with certificates for gyro, pgw and ocs (CN and subjectAltName the
/// Diameter identity); an impostor CA of the same name with its own pgw
/// certificate; a self-signed pgw certificate.
pub struct Pki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("these tests need the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let pki = Pki {
            dir: temp_dir(&format!("{tag}-pki")),
        };
        for ca in ["ca", "impostor-ca"] {
            pki.req(ca, &["-x509", "-days", "2", "-subj", "/CN=test CA"]);
        }
        for n in ["gyro", "pgw", "ocs"] {
            pki.issue("ca", n, &format!("{n}.test.local"));
        }
        pki.issue("impostor-ca", "impostor-pgw", "pgw.test.local");
        let san = "subjectAltName=DNS:pgw.test.local";
        let subj = "/CN=pgw.test.local";
        pki.req(
            "self-pgw",
            &["-x509", "-days", "2", "-subj", subj, "-addext", san],
        );
        // GnuTLS wants its CA list in issuer order: the impostor's CA bears
        // the real CA's name, so the impostor pgw still trusts gyro.
        let bundle = [pki.read("impostor-ca.pem"), pki.read("ca.pem")].concat();
        std::fs::write(pki.dir.join("impostor-bundle.pem"), bundle).unwrap();
        pki
    }

    /// `openssl req` making `name.key` and `name.pem` (a certificate with
    /// -x509, else a request).
    fn req(&self, name: &str, args: &[&str]) {
        let (key, out) = (format!("{name}.key"), format!("{name}.pem"));
        let mut all = vec!["req", "-newkey", "rsa:2048", "-nodes"];
        all.extend(["-keyout", &key, "-out", &out]);
        all.extend(args);
        openssl(&self.dir, &all);
    }

    /// `name.key` and `name.pem` for `cn`, signed by `ca`.
    fn issue(&self, ca: &str, name: &str, cn: &str) {
        let csr = format!("{name}.csr");
        self.req(&csr, &["-subj", &format!("/CN={cn}")]);
        std::fs::rename(
            self.dir.join(format!("{csr}.key")),
            self.dir.join(format!("{name}.key")),
        )
        .unwrap();
        let ext = format!("{name}.ext");
        std::fs::write(self.dir.join(&ext), format!("subjectAltName=DNS:{cn}\n")).unwrap();
        let (csr, pem) = (format!("{csr}.pem"), format!("{name}.pem"));
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        #[rustfmt::skip]
        let args = [
            "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", &ext, "-out", &pem,
        ];
        openssl(&self.dir, &args);
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }
}
