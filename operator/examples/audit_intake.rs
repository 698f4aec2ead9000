//! Soak figure of the audit-event intake: N events through the in-process router (token check,
//! `EventList` parse, bounded queue) and the hourly aggregates, on one core (a current-thread
//! runtime). No network: the HTTP handler is called with tower's `oneshot`.
//!
//! `cargo run --profile bench -p soc2-operator --example audit_intake -- [events] [batch]`
//!
//! Batches are generated once (64 distinct bodies, timestamps over 21 hours, 2,000 users of which
//! a tenth are humans, a mix of 401s, 403s, exec, Secret reads and RBAC writes, and one event in
//! fifty at `RequestResponse` level carrying a 2 KiB body that the parser skips) and replayed.

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use soc2_operator::audit_events::queue::AuditMetrics;
use soc2_operator::audit_events::{Aggregate, AggregateConfig, Aggregates, Intake, IntakeConfig};
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
    let bodies: Vec<String> = (0..64)
        .map(|b| {
            let items: Vec<Value> = (0..batch).map(|j| event(b * batch + j)).collect();
            json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
                .to_string()
        })
        .collect();
    let body_bytes: usize = bodies.iter().map(String::len).sum::<usize>() / bodies.len();
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
