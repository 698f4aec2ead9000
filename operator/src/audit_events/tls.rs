//! TLS for the audit intake: the server certificate and key from files (a mounted
//! `kubernetes.io/tls` Secret's `tls.crt` and `tls.key`, as cert-manager writes them), reloaded
//! when the files change, and optional client certificates (mTLS) checked against a CA file.
//!
//! [`ReloadingConfig`] holds the current rustls `ServerConfig` and rebuilds it when the
//! modification time, size or inode of the certificate, key or client CA file changes (a
//! Secret volume update swaps a symlink, so all of them change). A rebuild that fails (a key
//! that does not match the certificate, half-written files) keeps the previous configuration
//! and is retried on the next change. [`TlsListener`] accepts TCP connections, runs the
//! handshakes concurrently (bounded, with a timeout) with the configuration current at accept
//! time, and hands finished connections to `axum::serve` together with the [`Peer`]: its
//! address and the subject of its verified client certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use x509_cert::der::Decode;

/// Handshakes in progress at once; further connections wait in the kernel's accept queue.
const MAX_HANDSHAKES: usize = 256;
/// A client that has not finished its handshake by then is disconnected.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate, key and client CA come from.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first (`tls.crt`).
    pub cert: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 or SEC1 (`tls.key`).
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to; `None`: no mTLS.
    pub client_ca: Option<PathBuf>,
    /// With a client CA: refuse clients without a certificate at the handshake (true when no
    /// bearer token is configured, so a certificate is the only way in).
    pub client_cert_required: bool,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

impl TlsSettings {
    fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.cert.as_path(), self.key.as_path()];
        files.extend(self.client_ca.as_deref());
        files
    }
}

fn invalid(what: &str, path: &Path, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Invalid(format!("audit TLS {what} {}: {e}", path.display()))
}

/// Reads the files and builds a server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub fn load_server_config(s: &TlsSettings) -> crate::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_file_iter(&s.cert)
        .map_err(|e| invalid("certificate", &s.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate", &s.cert, e))?;
    if certs.is_empty() {
        return Err(invalid(
            "certificate",
            &s.cert,
            "no CERTIFICATE in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&s.key).map_err(|e| invalid("key", &s.key, e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::Invalid(format!("audit TLS: {e}")))?;
    let builder = match &s.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .map_err(|e| invalid("client CA", ca, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("client CA", ca, e))?;
            for c in cas {
                roots.add(c).map_err(|e| invalid("client CA", ca, e))?;
            }
            if roots.is_empty() {
                return Err(invalid("client CA", ca, "no CERTIFICATE in the file"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if s.client_cert_required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| invalid("client CA", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate and key", &s.cert, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What identifies a version of a file: modification time, size and inode.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// The current server configuration, rebuilt when its files change.
pub struct ReloadingConfig {
    settings: TlsSettings,
    current: RwLock<(Vec<Stamp>, Arc<ServerConfig>)>,
}

impl ReloadingConfig {
    /// Loads the files; an error names the file and the problem.
    pub fn load(settings: TlsSettings) -> crate::Result<Self> {
        let stamps = settings.files().into_iter().map(stamp).collect();
        let config = load_server_config(&settings)?;
        Ok(Self {
            settings,
            current: RwLock::new((stamps, config)),
        })
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<ServerConfig> {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        c.1.clone()
    }

    /// Rebuilds the configuration if a file changed since the last look. `Ok(true)`: reloaded;
    /// `Err`: a file changed but the new set does not load, the previous configuration stays.
    pub fn refresh(&self) -> crate::Result<bool> {
        let stamps: Vec<Stamp> = self.settings.files().into_iter().map(stamp).collect();
        {
            let c = self.current.read().unwrap_or_else(|p| p.into_inner());
            if c.0 == stamps {
                return Ok(false);
            }
        }
        let loaded = load_server_config(&self.settings);
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        // Remember the stamps either way: a broken set is retried when it changes again.
        c.0 = stamps;
        c.1 = loaded?;
        Ok(true)
    }

    /// The check interval.
    pub fn reload_interval(&self) -> Duration {
        self.settings.reload_interval
    }
}

/// The other end of an intake connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// Its address (`None` when the router is driven without a connection, as in tests).
    pub addr: Option<SocketAddr>,
    /// Subject (RFC 4514) of the client certificate it presented, verified against the client
    /// CA during the handshake; `None` without mTLS or without a certificate.
    pub client_cert_subject: Option<String>,
}

impl Peer {
    /// The identity a rate limit applies to: the certificate subject when there is one, else
    /// the source IP (one bearer token is shared by every sender, so it identifies none).
    pub fn source(&self) -> String {
        match (&self.client_cert_subject, self.addr) {
            (Some(subject), _) => format!("cert:{subject}"),
            (None, Some(addr)) => format!("ip:{}", addr.ip()),
            (None, None) => "unknown".to_owned(),
        }
    }

    fn of_tls(addr: SocketAddr, tls: &TlsStream<TcpStream>) -> Self {
        let subject = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(
                |leaf| match x509_cert::Certificate::from_der(leaf.as_ref()) {
                    Ok(c) => c.tbs_certificate.subject.to_string(),
                    // Verified by webpki, so well-formed; if our parser disagrees, still a stable id.
                    Err(_) => {
                        use sha2::Digest as _;
                        let d: [u8; 32] = sha2::Sha256::digest(leaf.as_ref()).into();
                        format!("sha256:{}", hex::encode(d))
                    }
                },
            );
        Self {
            addr: Some(addr),
            client_cert_subject: subject,
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self {
            addr: Some(*stream.remote_addr()),
            client_cert_subject: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TLS listener for `axum::serve`: handshakes run in their own tasks, finished connections
/// are handed over with their [`Peer`]. The files are checked every `reload_interval`.
pub struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`; `on_handshake_failure` is called for every
    /// refused or failed handshake (a client certificate from another CA, a plain-HTTP client).
    pub fn new(
        tcp: TcpListener,
        config: Arc<ReloadingConfig>,
        on_handshake_failure: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(tcp, config, tx, Arc::new(on_handshake_failure)));
        Ok(Self { local, rx, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop ended (it only does when this listener is dropped): wait forever,
            // as a listener with no more connections does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: Some(self.local),
            client_cert_subject: None,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    config: Arc<ReloadingConfig>,
    tx: mpsc::Sender<(TlsStream<TcpStream>, Peer)>,
    on_failure: Arc<dyn Fn() + Send + Sync>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut reload = tokio::time::interval(config.reload_interval());
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let permit = tokio::select! {
            _ = tx.closed() => return,
            p = handshakes.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, addr) = loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = reload.tick() => match config.refresh() {
                    Ok(true) => tracing::info!("audit intake: TLS certificate files changed, reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "audit intake: TLS files changed but do not load; still serving the previous certificate"),
                },
                r = tcp.accept() => match r {
                    Ok(conn) => break conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "audit intake: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        };
        let acceptor = TlsAcceptor::from(config.current());
        let tx = tx.clone();
        let on_failure = on_failure.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let peer = Peer::of_tls(addr, &tls);
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    on_failure();
                    tracing::debug!(peer = %addr, error = %e, "audit intake: TLS handshake failed");
                }
                Err(_) => {
                    on_failure();
                    tracing::debug!(peer = %addr, "audit intake: TLS handshake timed out");
                }
            }
        });
    }
}
