//! The HTTP intake of audit events: `POST /audit/v1/events` (an `EventList`, the API server's
//! webhook backend) and `POST /audit/v1/lines` (JSON lines, a log shipper's `http` output).
//!
//! A batch is parsed in the handler (400 naming the problem), then queued whole on a bounded
//! channel with a memory budget. When the channel or the budget is full the answer is 429 and
//! the sender retries (the webhook backend does); every rejected batch is counted in
//! `soc2_audit_batches_rejected_total{reason}`, so nothing is dropped silently. This router is
//! separate from the metrics server and carries its own client authentication: a bearer token,
//! a client certificate verified during the TLS handshake ([`super::tls`]), or either. Each
//! source (certificate subject, else source IP) has its own rate limit
//! ([`super::ratelimit`]), answered with 429 and `Retry-After` too.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use super::aggregate::{Aggregate, AggregateConfig, Aggregates};
use super::event::{AuditEvent, ParseError, parse_event_list, parse_json_lines};
use super::ratelimit::{RateLimitConfig, RateLimiter};
use super::tls::{Peer, ReloadingConfig, TlsListener, TlsSettings};

/// Limits and credentials of the intake. At least one of `token` and
/// `accept_client_certificates` must be set, or every request is refused.
#[derive(Clone)]
pub struct IntakeConfig {
    /// The bearer token senders may present (never logged: `Debug` shows `<redacted>`).
    pub token: Option<String>,
    /// Accept a request on a connection whose client certificate the TLS handshake verified,
    /// without a token.
    pub accept_client_certificates: bool,
    /// Events per second per source; `None`: no per-source limit.
    pub rate_limit: Option<RateLimitConfig>,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Batches waiting for the aggregator.
    pub max_queued_batches: usize,
    /// Estimated memory of the waiting batches.
    pub max_queued_bytes: usize,
}

impl std::fmt::Debug for IntakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "accept_client_certificates",
                &self.accept_client_certificates,
            )
            .field("rate_limit", &self.rate_limit)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_queued_batches", &self.max_queued_batches)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .finish()
    }
}

impl Default for IntakeConfig {
    /// 4 MiB bodies, 64 batches, 64 MiB, no per-source limit, and no credentials (every
    /// request refused until `token` or `accept_client_certificates` is set).
    fn default() -> Self {
        Self {
            token: None,
            accept_client_certificates: false,
            rate_limit: None,
            max_body_bytes: 4 << 20,
            max_queued_batches: 64,
            max_queued_bytes: 64 << 20,
        }
    }
}

impl IntakeConfig {
    /// The defaults with the given token and no client certificates.
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::default()
        }
    }
}

/// Reads the bearer token from a file (trailing whitespace trimmed); empty is an error.
pub fn read_token(path: &Path) -> crate::Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|source| crate::Error::Io {
        context: format!("audit token file {}", path.display()),
        source,
    })?;
    let token = raw.trim().to_owned();
    if token.is_empty() {
        return Err(crate::Error::Invalid(format!(
            "audit token file {}: empty",
            path.display()
        )));
    }
    Ok(token)
}

/// The intake's metrics, registered in the operator's registry.
#[derive(Clone)]
pub struct AuditMetrics {
    /// `soc2_audit_events_total`: events accepted into the queue.
    pub events: IntCounter,
    /// `soc2_audit_batches_rejected_total{reason}`: `unauthorized`, `too_large`, `body`,
    /// `malformed`, `rate_limited`, `queue_full`, `memory`, `closed`.
    pub batches_rejected: IntCounterVec,
    /// `soc2_audit_tls_handshake_failures_total`: connections refused or failed before HTTP
    /// (a client certificate from another CA, none when one is required, a plain-HTTP client).
    pub tls_handshake_failures: IntCounter,
}

impl AuditMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let events = IntCounter::new(
            "soc2_audit_events_total",
            "Audit events accepted by the intake",
        )?;
        let batches_rejected = IntCounterVec::new(
            Opts::new(
                "soc2_audit_batches_rejected_total",
                "Audit event batches rejected by the intake, by reason",
            ),
            &["reason"],
        )?;
        let tls_handshake_failures = IntCounter::new(
            "soc2_audit_tls_handshake_failures_total",
            "Connections to the audit intake whose TLS handshake was refused or failed",
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(batches_rejected.clone()))?;
        registry.register(Box::new(tls_handshake_failures.clone()))?;
        Ok(Self {
            events,
            batches_rejected,
            tls_handshake_failures,
        })
    }
}

/// A parsed batch waiting for the aggregator; dropping it returns its memory to the budget.
pub struct Batch {
    /// The events.
    pub events: Vec<AuditEvent>,
    charge: Charge,
}

struct Charge {
    budget: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl Batch {
    /// The memory charged for this batch.
    pub fn charged_bytes(&self) -> usize {
        self.charge.bytes
    }
}

/// The receiving end: the aggregator reads batches from it.
pub struct IntakeReceiver {
    rx: mpsc::Receiver<Batch>,
}

impl IntakeReceiver {
    /// The next batch; `None` once every router is dropped.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }

    /// A batch if one is waiting.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// Aggregates batches until the intake closes.
    pub async fn run(
        mut self,
        cfg: AggregateConfig,
        aggregates: Arc<std::sync::Mutex<Aggregates>>,
    ) {
        while let Some(batch) = self.recv().await {
            let mut a = aggregates.lock().unwrap_or_else(|p| p.into_inner());
            a.add_batch(&cfg, &batch.events, jiff::Timestamp::now());
        }
    }
}

/// The intake: its router's shared state.
#[derive(Clone)]
pub struct Intake {
    token_digest: Option<[u8; 32]>,
    accept_client_certificates: bool,
    rate_limit: Option<Arc<RateLimiter>>,
    max_queued_bytes: usize,
    queued_bytes: Arc<AtomicUsize>,
    tx: mpsc::Sender<Batch>,
    metrics: AuditMetrics,
}

#[derive(Clone, Copy)]
enum Shape {
    EventList,
    JsonLines,
}

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl Intake {
    /// The router (the sending end) and the receiving end of its queue, like `mpsc::channel`.
    pub fn channel(cfg: &IntakeConfig, metrics: AuditMetrics) -> (Router, IntakeReceiver) {
        let (tx, rx) = mpsc::channel(cfg.max_queued_batches.max(1));
        let intake = Intake {
            token_digest: cfg.token.as_deref().map(|t| digest(t.as_bytes())),
            accept_client_certificates: cfg.accept_client_certificates,
            rate_limit: cfg
                .rate_limit
                .clone()
                .map(|c| Arc::new(RateLimiter::new(c))),
            max_queued_bytes: cfg.max_queued_bytes,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            tx,
            metrics,
        };
        let router = Router::new()
            .route("/audit/v1/events", post(post_event_list))
            .route("/audit/v1/lines", post(post_json_lines))
            .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
            .with_state(intake);
        (router, IntakeReceiver { rx })
    }

    fn reject(&self, status: StatusCode, reason: &str, message: String) -> Response {
        self.reject_after(status, reason, message, Duration::from_secs(1))
    }

    /// Counts the rejection; a 429 carries `Retry-After` (whole seconds, at least 1).
    fn reject_after(
        &self,
        status: StatusCode,
        reason: &str,
        message: String,
        retry_after: Duration,
    ) -> Response {
        self.metrics
            .batches_rejected
            .with_label_values(&[reason])
            .inc();
        let mut r = (status, message).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        r
    }

    /// A verified client certificate (when accepted) or the right bearer token.
    fn authorized(&self, headers: &HeaderMap, peer: &Peer) -> bool {
        if self.accept_client_certificates && peer.client_cert_subject.is_some() {
            return true;
        }
        let Some(token_digest) = &self.token_digest else {
            return false;
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests: equal length, and no early exit on the first differing byte.
        let d = digest(presented.as_bytes());
        !presented.is_empty()
            && d.iter()
                .zip(token_digest)
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn handle(
        &self,
        shape: Shape,
        peer: &Peer,
        headers: HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Response {
        if !self.authorized(&headers, peer) {
            return self.reject(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token, and no verified client certificate".into(),
            );
        }
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                let status = e.status();
                let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "body"
                };
                return self.reject(status, reason, e.body_text());
            }
        };
        let parsed: Result<Vec<AuditEvent>, ParseError> = match shape {
            Shape::EventList => parse_event_list(&body),
            Shape::JsonLines => parse_json_lines(&body),
        };
        let events = match parsed {
            Ok(e) => e,
            Err(e) => return self.reject(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
        };
        let n = events.len() as u64;
        if let Some(limiter) = &self.rate_limit
            && let Err(wait) = limiter.check(&peer.source(), n, Instant::now())
        {
            return self.reject_after(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "over this source's rate limit ({} events/s, burst {}), retry later",
                    limiter.config().events_per_second,
                    limiter.config().burst
                ),
                wait,
            );
        }
        let bytes = body.len() + events.len() * std::mem::size_of::<AuditEvent>();
        if bytes > self.max_queued_bytes {
            // Would never fit: a 429 would make the sender retry forever.
            return self.reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "batch of {n} events needs {bytes} bytes, more than the intake's memory budget ({}): send smaller batches",
                    self.max_queued_bytes
                ),
            );
        }
        let before = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        // Charged from here: dropping `charge` (with the batch, or on rejection) gives it back.
        let charge = Charge {
            budget: self.queued_bytes.clone(),
            bytes,
        };
        if before + bytes > self.max_queued_bytes {
            drop(charge);
            return self.reject(
                StatusCode::TOO_MANY_REQUESTS,
                "memory",
                "audit intake memory budget full, retry later".into(),
            );
        }
        match self.tx.try_send(Batch { events, charge }) {
            Ok(()) => {
                self.metrics.events.inc_by(n);
                (StatusCode::OK, format!("accepted {n} events")).into_response()
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.reject(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                "audit intake queue full, retry later".into(),
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => self.reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "closed",
                "audit aggregator stopped".into(),
            ),
        }
    }
}

/// The connection's [`Peer`], from `ConnectInfo` (the default, an unknown peer, when the router
/// is driven without a server).
struct Source(Peer);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<Peer>>()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        ))
    }
}

async fn post_event_list(
    State(s): State<Intake>,
    Source(peer): Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    s.handle(Shape::EventList, &peer, headers, body)
}

async fn post_json_lines(
    State(s): State<Intake>,
    Source(peer): Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    s.handle(Shape::JsonLines, &peer, headers, body)
}

/// Everything `soc2-operator run --audit-listen` needs to start the intake.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// Address to listen on.
    pub listen: std::net::SocketAddr,
    /// Certificate, key and client CA; `None` serves plain HTTP (`--audit-insecure-http`).
    pub tls: Option<TlsSettings>,
    /// Credentials and limits.
    pub intake: IntakeConfig,
    /// OIDC prefix, hashing, list caps.
    pub aggregate: AggregateConfig,
}

async fn until(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Serves the intake on `listener` (plain TCP, or the [`TlsListener`]) until `shutdown` becomes
/// true.
pub async fn serve<L>(
    listener: L,
    router: Router,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    Peer: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(until(shutdown))
    .await
}

/// Starts the intake and its aggregator: binds `settings.listen`, registers the metrics and
/// returns the shared aggregates. Both tasks stop on `shutdown`.
pub async fn start(
    settings: AuditSettings,
    registry: &Registry,
    shutdown: watch::Receiver<bool>,
) -> crate::Result<Arc<std::sync::Mutex<Aggregates>>> {
    let metrics = AuditMetrics::register(registry)
        .map_err(|e| crate::Error::Invalid(format!("audit metrics: {e}")))?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| crate::Error::Io {
            context: format!("audit intake: bind {}", settings.listen),
            source,
        })?;
    spawn(listener, settings, metrics, shutdown)
}

/// Serves the intake on an already bound `listener` (HTTPS, or plain HTTP when `settings.tls`
/// is `None`) and aggregates what it accepts. Fails when the TLS files do not load. Must be
/// called inside a Tokio runtime.
pub fn spawn(
    listener: tokio::net::TcpListener,
    settings: AuditSettings,
    metrics: AuditMetrics,
    shutdown: watch::Receiver<bool>,
) -> crate::Result<Arc<std::sync::Mutex<Aggregates>>> {
    let tls = match &settings.tls {
        Some(t) => Some(Arc::new(ReloadingConfig::load(t.clone())?)),
        None => None,
    };
    let addr = listener.local_addr().ok();
    let handshake_failures = metrics.tls_handshake_failures.clone();
    let (router, rx) = Intake::channel(&settings.intake, metrics);
    let aggregates = Arc::new(std::sync::Mutex::new(Aggregates::default()));
    tokio::spawn(rx.run(settings.aggregate, aggregates.clone()));
    // When the server stops, the router (the queue's sender) is dropped and the aggregator
    // drains what is queued, then ends.
    match tls {
        Some(config) => {
            let listener = TlsListener::new(listener, config, move || handshake_failures.inc())
                .map_err(|source| crate::Error::Io {
                    context: "audit intake: listener address".into(),
                    source,
                })?;
            tracing::info!(addr = ?addr, mtls = settings.intake.accept_client_certificates, token = settings.intake.token.is_some(),
                "serving /audit/v1/events and /audit/v1/lines over HTTPS");
            tokio::spawn(async move {
                if let Err(e) = serve(listener, router, shutdown).await {
                    tracing::error!(error = %e, "audit intake failed");
                }
            });
        }
        None => {
            tracing::warn!(addr = ?addr, "serving /audit/v1/events and /audit/v1/lines over plain HTTP (--audit-insecure-http): only for a sender on the same host");
            tokio::spawn(async move {
                if let Err(e) = serve(listener, router, shutdown).await {
                    tracing::error!(error = %e, "audit intake failed");
                }
            });
        }
    }
    Ok(aggregates)
}
