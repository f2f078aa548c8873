//! HTTPS: the sandbox's own certificate authority, the serving certificate it
//! signs, and the TLS listener the HTTP server accepts connections through.
//!
//! One CA per data directory (`DIR/pki/`), kept across restarts so that a
//! kubeconfig written once keeps working; in memory when there is no data
//! directory. The serving certificate is signed afresh at every start: it
//! names 127.0.0.1, localhost and the in-cluster names of the API server.
//!
//! One crypto provider is used throughout (aws-lc-rs, which the rest of the
//! dependency graph already builds), chosen explicitly rather than left to the
//! process default.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The names the serving certificate is valid for, besides 127.0.0.1 and ::1.
pub const SERVING_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

const CA_COMMON_NAME: &str = "tether-sandbox-ca";

/// The crypto provider every TLS endpoint of the sandbox uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes aws-lc-rs the process default provider, for clients (kube-rs, reqwest)
/// that build their TLS configuration from the default. Harmless when a
/// provider is already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The sandbox's certificate authority.
pub struct Authority {
    /// The CA certificate, PEM: what kubeconfigs and `kube-root-ca.crt` carry.
    pub ca_pem: String,
    ca_key: KeyPair,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The CA's parameters. They are rebuilt identically at every start so that
/// the issuer of a new serving certificate matches the CA certificate kept on
/// disk (same subject, same key, hence the same key identifier).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    params
}

impl Authority {
    /// A new CA, kept in memory only.
    pub fn generate() -> Result<Authority, TlsError> {
        let ca_key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&ca_key)?;
        Ok(Authority {
            ca_pem: cert.pem(),
            ca_key,
        })
    }

    /// The CA of a data directory (`DIR/pki/ca.crt` and `ca.key`), created on first use.
    pub fn load_or_create(dir: &Path) -> Result<Authority, TlsError> {
        let pki = dir.join("pki");
        let (crt, key) = (pki.join("ca.crt"), pki.join("ca.key"));
        if crt.is_file() && key.is_file() {
            let ca_pem = std::fs::read_to_string(&crt)?;
            let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&key)?)?;
            return Ok(Authority { ca_pem, ca_key });
        }
        let ca = Authority::generate()?;
        std::fs::create_dir_all(&pki)?;
        write_private(&key, ca.ca_key.serialize_pem().as_bytes())?;
        std::fs::write(&crt, &ca.ca_pem)?;
        Ok(ca)
    }

    /// A serving certificate for the sandbox's names, signed by this CA, and its key.
    pub fn serving_certificate(
        &self,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(
            SERVING_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2124, 1, 1);
        let issuer = Issuer::new(ca_params(), &self.ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((cert.der().clone(), key_der))
    }

    /// The server side of TLS: HTTP/1.1 with the serving certificate.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let (cert, key) = self.serving_certificate()?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A client configuration that trusts only the given CA (PEM): for tests,
/// benchmarks and reqwest clients of the sandbox.
pub fn client_config(ca_pem: &str) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for der in pem_certificates(ca_pem) {
        roots.add(der)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The DER certificates in a PEM text.
fn pem_certificates(pem_text: &str) -> Vec<CertificateDer<'static>> {
    pem::parse_many(pem_text)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect()
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    // `mode` applies only to a file it creates: one written before (by an older
    // version, or by hand) keeps its permissions unless they are set again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(content)
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener that hands the HTTP server connections whose TLS handshake has
/// completed. Handshakes run in their own tasks, so a slow or silent client
/// never holds up the others.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
    closed: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// The listening socket, owned by the accept task, with a signal that fires
/// once the socket is closed. Fields drop in order: the socket, then the signal.
struct Listening {
    socket: TcpListener,
    _closed: tokio::sync::oneshot::Sender<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let (closed_tx, closed) = tokio::sync::oneshot::channel();
        let listening = Listening {
            socket: listener,
            _closed: closed_tx,
        };
        let accept_task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listening.socket.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum's own listener does.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            rx,
            addr,
            accept_task,
            closed: Some(closed),
        })
    }

    /// Resolves once the port is released. Dropping the listener only asks
    /// the accept task to stop; a restart on the same port must wait for this.
    pub fn port_released(&mut self) -> impl std::future::Future<Output = ()> + use<> {
        let closed = self.closed.take();
        async move {
            if let Some(closed) = closed {
                let _ = closed.await;
            }
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS handshake between a client trusting `ca_pem` and a server with `server`'s certificate.
    async fn handshake(ca_pem: &str, server: &Authority, name: &'static str) -> Result<(), String> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let acceptor = TlsAcceptor::from(Arc::new(server.server_config().unwrap()));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem).unwrap()));
        let accepted = tokio::spawn(async move { acceptor.accept(s).await.map(|_| ()) });
        let name = rustls::pki_types::ServerName::try_from(name).unwrap();
        let connected = connector.connect(name, c).await.map(|_| ());
        let _ = accepted.await;
        connected.map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn the_ca_is_kept_and_reused_in_a_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let first = Authority::load_or_create(dir.path()).unwrap();
        let again = Authority::load_or_create(dir.path()).unwrap();
        assert_eq!(first.ca_pem, again.ca_pem);
        // A serving certificate signed by the reloaded CA verifies against the CA written first.
        for name in ["localhost", "kubernetes.default.svc.cluster.local"] {
            handshake(&first.ca_pem, &again, name).await.unwrap();
        }
        let ip = handshake(&first.ca_pem, &again, "127.0.0.1").await;
        assert!(ip.is_ok(), "{ip:?}");
        // Another CA's clients refuse it, and it refuses names it was not issued for.
        let other = Authority::generate().unwrap();
        assert!(handshake(&other.ca_pem, &again, "localhost").await.is_err());
        assert!(
            handshake(&first.ca_pem, &again, "example.com")
                .await
                .is_err()
        );
    }

    #[test]
    fn pem_without_certificates_gives_no_roots() {
        assert!(pem_certificates("not pem").is_empty());
    }
}
