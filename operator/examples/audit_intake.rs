//! Soak figure of the audit-event intake: N events through the in-process router (token check,
//! `EventList` parse, bounded queue) and the hourly aggregates, on one core (a current-thread
//! runtime). No network: the HTTP handler is called with tower's `oneshot`.
//!
//! `cargo run --profile bench -p soc2-operator --example audit_intake -- [events] [batch] [tls]`
//!
//! With `tls` the same batches go over a real HTTPS connection on loopback instead: the TLS
//! listener (certificates made with the `openssl` CLI), hyper, the token check and the
//! per-source rate limit (set high enough not to bite), with the client on the same
//! current-thread runtime, so one core carries both ends. One keep-alive connection sends the
//! batches back to back, as the API server's webhook backend does.
//!
//! Batches are generated once (64 distinct bodies, timestamps over 21 hours, 2,000 users of which
//! a tenth are humans, a mix of 401s, 403s, exec, Secret reads and RBAC writes, and one event in
//! fifty at `RequestResponse` level carrying a 2 KiB body that the parser skips) and replayed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use soc2_operator::audit_events::queue::AuditMetrics;
use soc2_operator::audit_events::{Aggregate, AggregateConfig, Aggregates, Intake, IntakeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt as _;

fn kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn event(i: u64) -> Value {
    let user = i % 2000;
    let human = user < 200;
    let username = if human {
        format!("oidc:user{user}")
    } else {
        format!("system:serviceaccount:ns{}:sa{user}", user % 50)
    };
    let (verb, object_ref, code) = match i % 50 {
        0 => (
            "create",
            json!({"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "api"}),
            101,
        ),
        1 => (
            "get",
            json!({"resource": "secrets", "namespace": "prod", "name": "db"}),
            200,
        ),
        2 => (
            "patch",
            json!({"resource": "rolebindings", "apiGroup": "rbac.authorization.k8s.io", "namespace": "prod", "name": "edit"}),
            200,
        ),
        3 | 4 => ("list", json!({"resource": "secrets"}), 401),
        5 => (
            "delete",
            json!({"resource": "pods", "namespace": "prod", "name": "api"}),
            403,
        ),
        _ => (
            "get",
            json!({"resource": "configmaps", "namespace": format!("ns{}", i % 50), "name": "cfg"}),
            200,
        ),
    };
    let user_info = if code == 401 {
        json!({})
    } else {
        json!({"username": username, "groups": ["system:authenticated"]})
    };
    let ts = jiff::Timestamp::from_second(1_796_083_200 + ((i * 3) % 86_400) as i64).unwrap();
    let mut e = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("{i:016x}-7c1e-4b6a-9d0e"), "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/prod/configmaps/cfg", "verb": verb, "user": user_info,
        "sourceIPs": [format!("10.0.{}.{}", (i / 256) % 256, i % 256)],
        "userAgent": "kube-controller-manager/v1.37.0 (linux/amd64) kubernetes/abc/system:serviceaccount",
        "objectRef": object_ref, "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": ts.to_string(), "stageTimestamp": ts.to_string(),
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC"}
    });
    if i % 50 == 7 {
        e["level"] = json!("RequestResponse");
        e["responseObject"] = json!({"kind": "ConfigMap", "data": {"blob": "x".repeat(2048)}});
    }
    e
}

fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let batch: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let tls = args.next().as_deref() == Some("tls");
    let bodies: Vec<String> = (0..64)
        .map(|b| {
            let items: Vec<Value> = (0..batch).map(|j| event(b * batch + j)).collect();
            json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
                .to_string()
        })
        .collect();
    let body_bytes: usize = bodies.iter().map(String::len).sum::<usize>() / bodies.len();
    if tls {
        return over_tls(total, batch, &bodies, body_bytes);
    }
    let registry = prometheus::Registry::new();
    let metrics = AuditMetrics::register(&registry).unwrap();
    let (router, mut rx) =
        Intake::channel(&IntakeConfig::with_token("bench-token"), metrics.clone());
    let cfg = AggregateConfig {
        oidc_prefix: Some("oidc:".into()),
        ..AggregateConfig::default()
    };
    let mut agg = Aggregates::default();
    let rss_before = kib("VmRSS:");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        let mut sent = 0;
        let mut k = 0;
        while sent < total {
            let req = Request::post("/audit/v1/events")
                .header("authorization", "Bearer bench-token")
                .body(Body::from(bodies[k % bodies.len()].clone()))
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            while let Some(b) = rx.try_recv() {
                agg.add_all(&cfg, &b.events);
            }
            sent += batch;
            k += 1;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let events = metrics.events.get();
    let privileged: usize = agg.hours.values().map(|h| h.privileged.len()).sum();
    let dropped: u64 = agg.hours.values().map(|h| h.privileged_dropped).sum();
    println!(
        "events: {events} in batches of {batch} (~{} KiB per EventList body)",
        body_bytes / 1024
    );
    println!(
        "time: {secs:.2} s, {:.0} events/s on one core",
        events as f64 / secs
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after, peak {:.1} MiB",
        rss_before as f64 / 1024.0,
        kib("VmRSS:") as f64 / 1024.0,
        kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "aggregates: {} hours, {} privileged actions listed, {} past the per-hour cap (counted)",
        agg.hours.len(),
        privileged,
        dropped
    );
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "openssl {args:?} failed");
}

/// A CA and a P-256 server certificate for 127.0.0.1 in `dir`: `ca.crt`, `tls.crt`, `tls.key`.
fn certificates(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "1",
        "-subj",
        "/CN=bench-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=bench",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "1",
            "-extfile",
            "ext",
            "-out",
            "tls.crt",
        ],
    );
}

/// Reads one HTTP/1.1 response with a `content-length` body; returns its status.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed mid-response");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head[9..12].parse().unwrap();
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn over_tls(total: u64, batch: u64, bodies: &[String], body_bytes: usize) {
    use rustls::pki_types::pem::PemObject;
    use soc2_operator::audit_events::queue::{AuditSettings, spawn};
    use soc2_operator::audit_events::ratelimit::RateLimitConfig;
    use soc2_operator::audit_events::tls::TlsSettings;

    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let registry = prometheus::Registry::new();
    let metrics = AuditMetrics::register(&registry).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rss_before = kib("VmRSS:");
    let (secs, aggregates) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let settings = AuditSettings {
            listen: addr,
            tls: Some(TlsSettings {
                cert: dir.path().join("tls.crt"),
                key: dir.path().join("tls.key"),
                client_ca: None,
                client_cert_required: false,
                reload_interval: Duration::from_secs(10),
            }),
            intake: IntakeConfig {
                rate_limit: Some(RateLimitConfig::new(u32::MAX, u32::MAX)),
                ..IntakeConfig::with_token("bench-token")
            },
            aggregate: AggregateConfig {
                oidc_prefix: Some("oidc:".into()),
                ..AggregateConfig::default()
            },
        };
        let aggregates = spawn(listener, settings, metrics.clone(), shutdown).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_file(dir.path().join("ca.crt")).unwrap())
            .unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut conn = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let requests: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| {
                format!(
                    "POST /audit/v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .into_bytes()
            })
            .collect();
        let mut buf = Vec::new();
        let start = Instant::now();
        let mut sent = 0;
        let mut k = 0;
        while sent < total {
            conn.write_all(&requests[k % requests.len()]).await.unwrap();
            let status = read_response(&mut conn, &mut buf).await;
            assert_eq!(status, 200);
            sent += batch;
            k += 1;
        }
        // Let the aggregator take the last batches.
        while metrics.events.get() < sent {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        (start.elapsed().as_secs_f64(), aggregates)
    });
    let events = metrics.events.get();
    let a = aggregates.lock().unwrap();
    let requests: u64 = a.hours.values().map(|h| h.requests).sum();
    println!(
        "HTTPS (TLS 1.3, one keep-alive connection, client and server on one core): {events} events in batches of {batch} (~{} KiB per EventList body)",
        body_bytes / 1024
    );
    println!(
        "time: {secs:.2} s, {:.0} events/s on one core",
        events as f64 / secs
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after, peak {:.1} MiB",
        rss_before as f64 / 1024.0,
        kib("VmRSS:") as f64 / 1024.0,
        kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "aggregates: {} hours, {requests} requests counted, {} batches rejected",
        a.hours.len(),
        metrics
            .batches_rejected
            .with_label_values(&["rate_limited"])
            .get()
    );
}
