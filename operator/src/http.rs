//! The metrics and health server: `/metrics` (Prometheus text), `/healthz` (always 200 while
//! the process serves), `/readyz` (200 only while every watch cache has synced and none is
//! stale after a watch error).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct HttpState {
    metrics: Arc<Metrics>,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// The router, separate from the listener so tests can call it directly.
pub fn router(metrics: Arc<Metrics>, ready: impl Fn() -> bool + Send + Sync + 'static) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready_handler))
        .with_state(HttpState {
            metrics,
            ready: Arc::new(ready),
        })
}

async fn metrics_handler(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn ready_handler(State(s): State<HttpState>) -> impl IntoResponse {
    if (s.ready)() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "watch caches not synced or stale",
        )
    }
}

/// Serves until `shutdown` becomes true.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    ready: impl Fn() -> bool + Send + Sync + 'static,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, router(metrics, ready))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let code = buf[9..12].parse().unwrap();
        (code, buf)
    }

    #[tokio::test]
    async fn health_ready_and_metrics() {
        let metrics = Arc::new(Metrics::new());
        metrics
            .watch_cache_objects
            .with_label_values(&["Pod"])
            .set(7);
        let ready = Arc::new(AtomicBool::new(false));
        let r2 = ready.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(metrics, move || r2.load(Ordering::SeqCst));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        ready.store(true, Ordering::SeqCst);
        assert_eq!(get(addr, "/readyz").await.0, 200);
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains(r#"soc2_watch_cache_objects{kind="Pod"} 7"#),
            "{body}"
        );
    }
}
