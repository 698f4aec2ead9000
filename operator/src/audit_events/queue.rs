//! The HTTP intake of audit events: `POST /audit/v1/events` (an `EventList`, the API server's
//! webhook backend) and `POST /audit/v1/lines` (JSON lines, a log shipper's `http` output).
//!
//! A batch is parsed in the handler (400 naming the problem), then queued whole on a bounded
//! channel with a memory budget. When the channel or the budget is full the answer is 429 and
//! the sender retries (the webhook backend does); every rejected batch is counted in
//! `soc2_audit_batches_rejected_total{reason}`, so nothing is dropped silently. This router is
//! separate from the metrics server and carries its own bearer-token check; TLS is not done
//! here yet.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use super::aggregate::{Aggregate, AggregateConfig, Aggregates};
use super::event::{AuditEvent, ParseError, parse_event_list, parse_json_lines};

/// Limits and credentials of the intake.
#[derive(Clone, Debug)]
pub struct IntakeConfig {
    /// The bearer token senders must present.
    pub token: String,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Batches waiting for the aggregator.
    pub max_queued_batches: usize,
    /// Estimated memory of the waiting batches.
    pub max_queued_bytes: usize,
}

impl IntakeConfig {
    /// Defaults (4 MiB bodies, 64 batches, 64 MiB) with the given token.
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            max_body_bytes: 4 << 20,
            max_queued_batches: 64,
            max_queued_bytes: 64 << 20,
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
    /// `malformed`, `queue_full`, `memory`, `closed`.
    pub batches_rejected: IntCounterVec,
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
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(batches_rejected.clone()))?;
        Ok(Self {
            events,
            batches_rejected,
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
    token_digest: [u8; 32],
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
            token_digest: digest(cfg.token.as_bytes()),
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
        self.metrics
            .batches_rejected
            .with_label_values(&[reason])
            .inc();
        let mut r = (status, message).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests: equal length, and no early exit on the first differing byte.
        let d = digest(presented.as_bytes());
        !presented.is_empty()
            && d.iter()
                .zip(&self.token_digest)
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn handle(
        &self,
        shape: Shape,
        headers: HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Response {
        if !self.authorized(&headers) {
            return self.reject(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token".into(),
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

async fn post_event_list(
    State(s): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    s.handle(Shape::EventList, headers, body)
}

async fn post_json_lines(
    State(s): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    s.handle(Shape::JsonLines, headers, body)
}

/// Everything `soc2-operator run --audit-listen` needs to start the intake.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// Address to listen on (plain HTTP for now: front it with a TLS-terminating proxy).
    pub listen: std::net::SocketAddr,
    /// Token and limits.
    pub intake: IntakeConfig,
    /// OIDC prefix, hashing, list caps.
    pub aggregate: AggregateConfig,
}

/// Serves the intake on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
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
    let (router, rx) = Intake::channel(&settings.intake, metrics);
    let aggregates = Arc::new(std::sync::Mutex::new(Aggregates::default()));
    tokio::spawn(rx.run(settings.aggregate, aggregates.clone()));
    tracing::info!(addr = %settings.listen, "serving /audit/v1/events and /audit/v1/lines");
    tokio::spawn(async move {
        // When the server stops, the router (the queue's sender) is dropped and the aggregator
        // drains what is queued, then ends.
        if let Err(e) = serve(listener, router, shutdown).await {
            tracing::error!(error = %e, "audit intake failed");
        }
    });
    Ok(aggregates)
}
