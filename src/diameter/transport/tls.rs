//! Diameter over TLS/TCP (RFC 6733 §13): TLS from the first byte on its own
//! port, no in-band Inband-Security negotiation. Loads the PEM files once at
//! start-up, naming the file and the fault when one is unusable, and runs
//! the handshake on accepted and dialled connections before the peer state
//! machine sees them. Key material is never logged or shown in errors.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, CommonState, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use super::metrics_names as mn;

/// A TLS set-up fault, naming the configuration key and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{field}: {file}: cannot read: {source}")]
    Read {
        field: String,
        file: String,
        source: std::io::Error,
    },
    #[error("{field}: {file}: {problem}")]
    File {
        field: String,
        file: String,
        problem: String,
    },
    /// rustls refused a configuration built from files that loaded fine.
    #[error("TLS set-up: {0}")]
    Setup(String),
}

fn file_error(field: &str, path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError::File {
        field: field.to_string(),
        file: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Every crypto object comes from ring: no process-wide default to install,
/// and nothing that needs cmake or nasm to build.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        field: field.to_string(),
        file: path.display().to_string(),
        source,
    })
}

/// What is wrong with a PEM file, in words that quote none of its content
/// (a key file's base64 is the key).
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "not a readable PEM file",
    }
}

/// Every certificate of a PEM file, in order (leaf first for a chain).
pub fn load_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(field, path, pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(file_error(
            field,
            path,
            "no certificate found (expected a PEM \"BEGIN CERTIFICATE\" section)",
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(field, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(
            field,
            path,
            "no private key found (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" section)",
        ),
        e => file_error(field, path, pem_problem(&e)),
    })
}

/// A CA bundle as trust anchors; every certificate in it must be usable, so
/// that a damaged bundle is not silently half-trusted.
pub fn load_roots(field: &str, path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in load_certs(field, path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            file_error(
                field,
                path,
                format!("certificate #{} is not a usable CA: {e}", i + 1),
            )
        })?;
    }
    Ok(Arc::new(roots))
}

/// gyro's own certificate chain and private key (`node.tls_cert`,
/// `node.tls_key`), checked to belong together.
pub struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certs", &self.certs.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Identity {
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let certs = load_certs("node.tls_cert", cert)?;
        let der = load_key("node.tls_key", key)?;
        // Parses the key and compares its public half with the leaf's, so a
        // mismatch is a start-up error and not a handshake failure later.
        match CertifiedKey::from_der(certs.clone(), der.clone_key(), &provider()) {
            Ok(_) => Ok(Identity { certs, key: der }),
            Err(rustls::Error::InconsistentKeys(_)) => Err(file_error(
                "node.tls_key",
                key,
                format!("does not match the certificate in {}", cert.display()),
            )),
            Err(e) => Err(file_error(
                "node.tls_key",
                key,
                format!("unusable private key: {e}"),
            )),
        }
    }
}

/// The TLS listener's configuration: gyro's identity, and when `client_ca`
/// is set, client certificates required and verified against it.
pub fn acceptor(identity: &Identity, client_ca: Option<&Path>) -> Result<TlsAcceptor, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let field = "node.tls_client_ca";
            let verifier =
                WebPkiClientVerifier::builder_with_provider(load_roots(field, ca)?, provider())
                    .build()
                    .map_err(|e| file_error(field, ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(identity.certs.clone(), identity.key.clone_key())
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    // Diameter connections live for days: resumption buys nothing, and
    // tickets would only be data the peer reads right after the handshake.
    cfg.send_tls13_tickets = 0;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// How gyro dials one peer over TLS: the peer's certificate must chain to
/// the CA bundle and name the peer's Origin-Host; gyro's own identity, when
/// configured, is its client certificate. Built once at start-up; every
/// redial reuses it. Meant for any connection gyro dials (`[[diameter.peers]]`
/// now, the proxy's upstreams later).
#[derive(Clone)]
pub struct TlsDial {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl fmt::Debug for TlsDial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsDial")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsDial {
    /// `ca_field` names the CA key in errors (`diameter.peers[0].ca`).
    pub fn new(
        ca_field: &str,
        origin_host: &str,
        ca: &Path,
        identity: Option<&Identity>,
    ) -> Result<TlsDial, TlsError> {
        let server_name = ServerName::try_from(origin_host.to_string())
            .map_err(|_| TlsError::Setup(format!("{origin_host}: not a DNS name to verify")))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(load_roots(ca_field, ca)?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(|e| TlsError::Setup(e.to_string()))?,
        };
        Ok(TlsDial {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// A TLS client's certificate, kept to check the Origin-Host its CER
/// claims: the handshake proved the peer holds the key of a certificate
/// the CA issued, and only the names in it say whom the CA issued it to.
pub struct PeerCertificate(CertificateDer<'static>);

impl PeerCertificate {
    /// Whether a subjectAltName dNSName of the certificate matches `host`,
    /// as RFC 6125 compares them (case-insensitive; the CN is not read).
    pub fn names(&self, host: &str) -> bool {
        let Ok(name) = ServerName::try_from(host) else {
            return false;
        };
        webpki::EndEntityCert::try_from(&self.0)
            .is_ok_and(|c| c.verify_is_valid_for_subject_name(&name).is_ok())
    }
}

fn log_up(direction: &'static str, addr: SocketAddr, s: &CommonState) {
    let version = s.protocol_version().and_then(|v| v.as_str()).unwrap_or("?");
    let cipher = s.negotiated_cipher_suite().and_then(|c| c.suite().as_str());
    let cipher = cipher.unwrap_or("?");
    tracing::debug!(%addr, direction, version, cipher, "TLS established");
}

fn handshake_failed(direction: &'static str, addr: SocketAddr, error: &dyn fmt::Display) {
    metrics::counter!(mn::TLS_HANDSHAKE_FAILURES, "direction" => direction).increment(1);
    tracing::warn!(%addr, direction, error = %error, "TLS handshake failed");
}

/// Makes the failure counter visible (at 0) once TLS is in use.
pub(super) fn register_metrics(direction: &'static str) {
    metrics::counter!(mn::TLS_HANDSHAKE_FAILURES, "direction" => direction).increment(0);
}

/// The server side of the handshake, bounded by `timeout` so that a client
/// that never finishes it does not hold the connection; the stream, and
/// the client's certificate when it showed one.
pub(super) async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
) -> Option<(TlsStream<TcpStream>, Option<PeerCertificate>)> {
    let handshake = async {
        // A port probe (connect, then close) is not a failed handshake:
        // neither warned about nor counted.
        if matches!(stream.peek(&mut [0u8; 1]).await, Ok(0) | Err(_)) {
            return Err(None);
        }
        acceptor.accept(stream).await.map_err(Some)
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(s)) => {
            let state = s.get_ref().1;
            log_up("in", addr, state);
            let leaf = state.peer_certificates().and_then(|c| c.first());
            let certificate = leaf.map(|c| PeerCertificate(c.clone().into_owned()));
            Some((s.into(), certificate))
        }
        Ok(Err(None)) => {
            tracing::debug!(%addr, "closed before any TLS handshake");
            None
        }
        Ok(Err(Some(e))) => {
            handshake_failed("in", addr, &e);
            None
        }
        Err(_) => {
            handshake_failed("in", addr, &"no handshake within handshake_timeout");
            None
        }
    }
}

/// The client side of the handshake (see `accept`).
pub(super) async fn connect(
    dial: &TlsDial,
    stream: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(dial.config.clone());
    let handshake = connector.connect(dial.server_name.clone(), stream);
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(s)) => {
            log_up("out", addr, s.get_ref().1);
            Some(s.into())
        }
        Ok(Err(e)) => {
            handshake_failed("out", addr, &e);
            None
        }
        Err(_) => {
            handshake_failed("out", addr, &"no handshake within handshake_timeout");
            None
        }
    }
}
