//! The audit intake over real TLS on loopback, with certificates made by the `openssl` CLI:
//! an `audit.k8s.io/v1` `EventList` and JSON lines posted over HTTPS with a bearer token or a
//! client certificate (mTLS), refusals (no token, another CA's certificate, none), the
//! certificate rotated on disk the way a Secret volume does it and picked up without a restart,
//! and the per-source rate limit answering 429 and counting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use soc2_operator::audit_events::queue::{self, AuditMetrics, AuditSettings};
use soc2_operator::audit_events::ratelimit::RateLimitConfig;
use soc2_operator::audit_events::tls::TlsSettings;
use soc2_operator::audit_events::{AggregateConfig, Aggregates, IntakeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

mod audit_support;
use audit_support::{HOUR, TOKEN, impersonation_lines, rejected, scenario};

// --- certificates --------------------------------------------------------------------------------

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Certificates in a temporary directory: `<name>.crt` and `<name>.key`.
struct Pki {
    dir: tempfile::TempDir,
    serial: std::cell::Cell<u32>,
}

impl Pki {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            serial: std::cell::Cell::new(1000),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A self-signed P-256 CA.
    fn ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// A leaf signed by `ca`: a server certificate for 127.0.0.1 (`server`) or a client one.
    fn leaf(&self, name: &str, ca: &str, subject: &str, server: bool) {
        let ext = if server {
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        } else {
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
        };
        std::fs::write(self.path(&format!("{name}.ext")), ext).unwrap();
        openssl(
            self.dir.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        self.serial.set(self.serial.get() + 1);
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-set_serial",
                &self.serial.get().to_string(),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }

    fn der(&self, name: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(self.path(&format!("{name}.crt")))
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

/// `ca` (trusted CA), `server` (its server certificate), `client-a`/`client-b` (client
/// certificates from `ca`), `other-ca` and `intruder` (a client certificate from `other-ca`).
fn pki() -> Pki {
    let p = Pki::new();
    p.ca("ca");
    p.ca("other-ca");
    p.leaf("server", "ca", "/CN=soc2-audit.soc2-system.svc", true);
    p.leaf(
        "client-a",
        "ca",
        "/O=system:masters/CN=kube-apiserver-a",
        false,
    );
    p.leaf("client-b", "ca", "/CN=kube-apiserver-b", false);
    p.leaf("intruder", "other-ca", "/CN=kube-apiserver-a", false);
    p
}

// --- server and client ---------------------------------------------------------------------------

struct Server {
    addr: SocketAddr,
    metrics: AuditMetrics,
    aggregates: Arc<std::sync::Mutex<Aggregates>>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn tls(pki: &Pki, cert: &Path, key: &Path, client_ca: bool, required: bool) -> TlsSettings {
    TlsSettings {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        client_ca: client_ca.then(|| pki.path("ca.crt")),
        client_cert_required: required,
        reload_interval: Duration::from_millis(50),
    }
}

async fn start(tls: TlsSettings, intake: IntakeConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = prometheus::Registry::new();
    let metrics = AuditMetrics::register(&registry).unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let settings = AuditSettings {
        listen: addr,
        tls: Some(tls),
        intake,
        aggregate: AggregateConfig::default(),
    };
    let aggregates = queue::spawn(listener, settings, metrics.clone(), shutdown).unwrap();
    Server {
        addr,
        metrics,
        aggregates,
        _stop: stop,
    }
}

/// A client that trusts `ca.crt`, with the client certificate `client` if given.
fn client(pki: &Pki, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.path("ca.crt")).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        Some(name) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(pki.path(&format!("{name}.crt"))).unwrap()],
                PrivateKeyDer::from_pem_file(pki.path(&format!("{name}.key"))).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: String,
    /// The certificate the server presented.
    server_cert: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// POSTs `body` over HTTPS; `Err` when the connection is refused during or right after the
/// handshake (no HTTP response).
async fn post(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<Response, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(cfg)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let server_cert = tls.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: soc2-audit\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {raw:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    Ok(Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        server_cert,
    })
}

/// Polls `f` every 20 ms for up to 10 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn requests(a: &std::sync::Mutex<Aggregates>) -> u64 {
    a.lock()
        .unwrap()
        .hours
        .get(&HOUR)
        .map(|b| b.requests)
        .unwrap_or(0)
}

// --- tests ---------------------------------------------------------------------------------------

#[tokio::test]
async fn event_list_and_json_lines_over_https_with_the_token() {
    let pki = pki();
    let s = start(
        tls(
            &pki,
            &pki.path("server.crt"),
            &pki.path("server.key"),
            false,
            false,
        ),
        IntakeConfig::with_token(TOKEN),
    )
    .await;
    let c = client(&pki, None);

    let r = post(
        s.addr,
        c.clone(),
        "/audit/v1/events",
        Some(TOKEN),
        &scenario(),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "accepted 9 events"));
    assert_eq!(r.server_cert, pki.der("server"));

    let r = post(s.addr, c.clone(), "/audit/v1/events", None, &scenario())
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post(
        s.addr,
        c.clone(),
        "/audit/v1/lines",
        Some("wrong"),
        &impersonation_lines(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(rejected(&s.metrics, "unauthorized"), 2);

    let r = post(
        s.addr,
        c.clone(),
        "/audit/v1/lines",
        Some(TOKEN),
        &impersonation_lines(),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "accepted 2 events"));
    assert_eq!(s.metrics.events.get(), 11);
    // 8 final-stage events of the EventList, 1 of the lines: aggregated from the HTTPS intake.
    eventually("the aggregator", || requests(&s.aggregates) == 9).await;

    // Plain HTTP to the TLS port is refused at the handshake and counted.
    let mut plain = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    plain
        .write_all(b"POST /audit/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out).await;
    assert!(!String::from_utf8_lossy(&out).contains("HTTP/1.1 200"));
    eventually("the handshake failure count", || {
        s.metrics.tls_handshake_failures.get() == 1
    })
    .await;
    assert_eq!(s.metrics.events.get(), 11);
}

#[tokio::test]
async fn mtls_only_accepts_client_certificates_from_the_ca_and_nothing_else() {
    let pki = pki();
    let s = start(
        tls(
            &pki,
            &pki.path("server.crt"),
            &pki.path("server.key"),
            true,
            true,
        ),
        IntakeConfig {
            accept_client_certificates: true,
            ..IntakeConfig::default()
        },
    )
    .await;

    let r = post(
        s.addr,
        client(&pki, Some("client-a")),
        "/audit/v1/events",
        None,
        &scenario(),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "accepted 9 events"));

    // Same subject, another CA: refused at the handshake.
    let e = post(
        s.addr,
        client(&pki, Some("intruder")),
        "/audit/v1/events",
        None,
        &scenario(),
    )
    .await
    .unwrap_err();
    // No certificate at all, even with a token (no token is configured): refused.
    let e2 = post(
        s.addr,
        client(&pki, None),
        "/audit/v1/events",
        Some(TOKEN),
        &scenario(),
    )
    .await
    .unwrap_err();
    eventually("two handshake failures", || {
        s.metrics.tls_handshake_failures.get() == 2
    })
    .await;
    assert_eq!(s.metrics.events.get(), 9, "{e}; {e2}");
}

#[tokio::test]
async fn token_or_client_certificate_when_both_are_configured() {
    let pki = pki();
    let s = start(
        tls(
            &pki,
            &pki.path("server.crt"),
            &pki.path("server.key"),
            true,
            false,
        ),
        IntakeConfig {
            accept_client_certificates: true,
            ..IntakeConfig::with_token(TOKEN)
        },
    )
    .await;
    let lines = impersonation_lines();
    let cert = post(
        s.addr,
        client(&pki, Some("client-b")),
        "/audit/v1/lines",
        None,
        &lines,
    )
    .await
    .unwrap();
    assert_eq!(cert.status, 200, "{}", cert.body);
    let token = post(
        s.addr,
        client(&pki, None),
        "/audit/v1/lines",
        Some(TOKEN),
        &lines,
    )
    .await
    .unwrap();
    assert_eq!(token.status, 200, "{}", token.body);
    let neither = post(s.addr, client(&pki, None), "/audit/v1/lines", None, &lines)
        .await
        .unwrap();
    assert_eq!(neither.status, 401);
    assert_eq!(rejected(&s.metrics, "unauthorized"), 1);
    // A certificate from another CA is refused even with the right token.
    assert!(
        post(
            s.addr,
            client(&pki, Some("intruder")),
            "/audit/v1/lines",
            Some(TOKEN),
            &lines
        )
        .await
        .is_err()
    );
    assert_eq!(s.metrics.events.get(), 4);
}

/// Writes the Secret volume layout the kubelet uses: `tls.crt` and `tls.key` are symlinks into
/// `..data`, itself a symlink to a timestamped directory that an update replaces atomically.
fn project_secret(volume: &Path, version: &str, pki: &Pki, name: &str) {
    let dir = volume.join(version);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(pki.path(&format!("{name}.crt")), dir.join("tls.crt")).unwrap();
    std::fs::copy(pki.path(&format!("{name}.key")), dir.join("tls.key")).unwrap();
    let tmp = volume.join("..data_tmp");
    std::os::unix::fs::symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, volume.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        let link = volume.join(f);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let pki = pki();
    pki.leaf("server-2", "ca", "/CN=soc2-audit-rotated", true);
    pki.leaf("server-3", "ca", "/CN=soc2-audit-broken", true);
    let volume = pki.path("secret");
    project_secret(&volume, "..2026_12_01_09_00_00.1", &pki, "server");
    let s = start(
        tls(
            &pki,
            &volume.join("tls.crt"),
            &volume.join("tls.key"),
            false,
            false,
        ),
        IntakeConfig::with_token(TOKEN),
    )
    .await;
    let c = client(&pki, None);
    let first = post(
        s.addr,
        c.clone(),
        "/audit/v1/events",
        Some(TOKEN),
        &scenario(),
    )
    .await
    .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.server_cert, pki.der("server"));

    // cert-manager renews: the kubelet swaps ..data to a new directory.
    project_secret(&volume, "..2026_12_01_10_00_00.2", &pki, "server-2");
    let mut served = Vec::new();
    for _ in 0..250 {
        let r = post(
            s.addr,
            c.clone(),
            "/audit/v1/events",
            Some(TOKEN),
            &scenario(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        served = r.server_cert;
        if served == pki.der("server-2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        served,
        pki.der("server-2"),
        "the rotated certificate is served"
    );

    // A broken update (the new certificate with the old key) does not load: the previous
    // certificate stays in service, and requests keep working.
    let broken = volume.join("..2026_12_01_11_00_00.3");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(pki.path("server-3.crt"), broken.join("tls.crt")).unwrap();
    std::fs::copy(pki.path("server-2.key"), broken.join("tls.key")).unwrap();
    std::os::unix::fs::symlink("..2026_12_01_11_00_00.3", volume.join("..data_tmp")).unwrap();
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post(
        s.addr,
        c.clone(),
        "/audit/v1/events",
        Some(TOKEN),
        &scenario(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.server_cert, pki.der("server-2"));
}

#[tokio::test]
async fn the_rate_limit_is_per_client_certificate_answers_429_and_counts() {
    let pki = pki();
    let s = start(
        tls(
            &pki,
            &pki.path("server.crt"),
            &pki.path("server.key"),
            true,
            true,
        ),
        IntakeConfig {
            accept_client_certificates: true,
            // 1 event/s, 10 at once: the 9-event scenario fits once, then must wait ~8 s.
            rate_limit: Some(RateLimitConfig::new(1, 10)),
            ..IntakeConfig::default()
        },
    )
    .await;
    let a = client(&pki, Some("client-a"));
    let ok = post(s.addr, a.clone(), "/audit/v1/events", None, &scenario())
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let limited = post(s.addr, a.clone(), "/audit/v1/events", None, &scenario())
        .await
        .unwrap();
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((7..=9).contains(&retry), "Retry-After: {retry}");
    assert!(limited.body.contains("rate limit"), "{}", limited.body);
    assert_eq!(rejected(&s.metrics, "rate_limited"), 1);

    // Another API server (another certificate subject) has its own bucket.
    let b = post(
        s.addr,
        client(&pki, Some("client-b")),
        "/audit/v1/events",
        None,
        &scenario(),
    )
    .await
    .unwrap();
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(
        s.metrics.events.get(),
        18,
        "the limited batch is not counted as accepted"
    );
}
