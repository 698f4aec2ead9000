//! The audit-event intake driven in-process (tower `oneshot`) with `audit.k8s.io/v1` payloads:
//! exact aggregates, back-pressure (429, counted), token auth and malformed input.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use soc2_operator::audit_events::aggregate::{Authenticator, PrivilegedKind, UNAUTHENTICATED};
use soc2_operator::audit_events::queue::AuditMetrics;
use soc2_operator::audit_events::{
    Aggregate, AggregateConfig, Aggregates, Intake, IntakeConfig, IntakeReceiver,
};
use tower::ServiceExt as _;

mod audit_support;
use audit_support::{HOUR, SECRET_VALUE, TOKEN, impersonation_lines, rejected, scenario};

fn intake(cfg: IntakeConfig) -> (Router, IntakeReceiver, AuditMetrics, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let metrics = AuditMetrics::register(&registry).unwrap();
    let (router, rx) = Intake::channel(&cfg, metrics.clone());
    (router, rx, metrics, registry)
}

async fn post(
    router: &Router,
    path: &str,
    token: Option<&str>,
    body: String,
) -> (StatusCode, String) {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn drain(rx: &mut IntakeReceiver, cfg: &AggregateConfig) -> Aggregates {
    let mut a = Aggregates::default();
    while let Some(batch) = rx.try_recv() {
        a.add_all(cfg, &batch.events);
    }
    a
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn event_list_and_json_lines_give_exact_hourly_aggregates() {
    let (router, mut rx, metrics, registry) = intake(IntakeConfig::with_token(TOKEN));
    let (s, body) = post(&router, "/audit/v1/events", Some(TOKEN), scenario()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, "accepted 9 events");
    let (s, body) = post(
        &router,
        "/audit/v1/lines",
        Some(TOKEN),
        impersonation_lines(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, "accepted 2 events");
    assert_eq!(metrics.events.get(), 11);

    let cfg = AggregateConfig {
        oidc_prefix: Some("oidc:".into()),
        ..AggregateConfig::default()
    };
    let agg = drain(&mut rx, &cfg);
    assert_eq!(agg.skipped_stages, 2, "the two RequestReceived events");
    assert_eq!(agg.hours.keys().copied().collect::<Vec<_>>(), vec![HOUR]);
    let b = &agg.hours[&HOUR];
    assert_eq!(b.requests, 9);
    assert_eq!(
        b.auth_failures_by_user.counts,
        counts(&[(UNAUTHENTICATED, 3)])
    );
    assert_eq!(
        b.auth_failures_by_source_ip.counts,
        counts(&[("203.0.113.7", 3)])
    );
    assert_eq!(
        b.auth_failures_by_source_ip.top(1),
        vec![("203.0.113.7", 3)]
    );
    assert_eq!(b.authz_denials_by_user.counts, counts(&[("dave", 1)]));
    let humans: BTreeMap<_, _> = b
        .humans_by_authenticator
        .iter()
        .map(|(a, c)| (*a, c.counts.clone()))
        .collect();
    assert_eq!(
        humans,
        BTreeMap::from([
            (Authenticator::Oidc, counts(&[("oidc:alice", 1)])),
            (Authenticator::ClientCertificate, counts(&[("bob", 1)])),
            (
                Authenticator::Token,
                counts(&[("carol", 1), ("dave", 1), ("erin", 1)])
            ),
        ])
    );
    // Requests by user (401s excluded), and per human the authenticators and non-system groups.
    assert_eq!(
        b.requests_by_user.counts,
        counts(&[
            ("bob", 1),
            ("carol", 1),
            ("dave", 1),
            ("erin", 1),
            ("oidc:alice", 1),
            ("system:serviceaccount:ci:deployer", 1),
        ])
    );
    let alice = &b.humans["oidc:alice"];
    assert_eq!(
        alice.authenticators.iter().collect::<Vec<_>>(),
        [&Authenticator::Oidc]
    );
    assert_eq!(
        alice.groups.iter().collect::<Vec<_>>(),
        ["oidc:platform-admins"]
    );
    assert!(
        b.humans["bob"].groups.is_empty(),
        "system:* groups are not kept"
    );
    assert_eq!(b.humans.len(), 5);
    assert_eq!(
        agg.last_event.map(|t| t.to_string()).as_deref(),
        Some("2026-12-01T06:40:07.123456Z")
    );
    let privileged: Vec<_> = b
        .privileged
        .iter()
        .map(|p| {
            (
                p.kind,
                p.user.as_str(),
                p.verb.as_str(),
                p.resource.as_str(),
                p.name.as_str(),
                p.code,
                p.audit_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        privileged,
        vec![
            (
                PrivilegedKind::PodExec,
                "oidc:alice",
                "create",
                "pods/exec",
                "api-7f9c",
                101,
                "a-1"
            ),
            (
                PrivilegedKind::SecretReadByHuman,
                "bob",
                "get",
                "secrets",
                "db-password",
                200,
                "a-3"
            ),
            (
                PrivilegedKind::RbacWrite,
                "carol",
                "create",
                "clusterrolebindings.rbac.authorization.k8s.io",
                "ops-admin",
                201,
                "a-4"
            ),
            (
                PrivilegedKind::RbacWrite,
                "dave",
                "patch",
                "rolebindings.rbac.authorization.k8s.io",
                "edit",
                403,
                "a-6"
            ),
            (
                PrivilegedKind::Impersonate,
                "erin",
                "get",
                "pods",
                "",
                200,
                "b-1"
            ),
        ]
    );
    assert_eq!(b.privileged[4].as_user.as_deref(), Some("admin"));
    assert_eq!(
        b.privileged[0].at,
        "2026-12-01T06:05:07.123456Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
    );
    assert_eq!(b.privileged_dropped, 0);

    // The bodies were skipped: the secret value is nowhere in the aggregates.
    let json = serde_json::to_string(&agg).unwrap();
    assert!(!json.contains(SECRET_VALUE));
    assert!(json.contains(r#""kind":"pods/exec""#), "{json}");

    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("soc2_audit_events_total 11"), "{text}");
}

#[tokio::test]
async fn full_queue_answers_429_and_counts_the_batch() {
    let (router, mut rx, metrics, _) = intake(IntakeConfig {
        max_queued_batches: 1,
        ..IntakeConfig::with_token(TOKEN)
    });
    assert_eq!(
        post(&router, "/audit/v1/events", Some(TOKEN), scenario())
            .await
            .0,
        StatusCode::OK
    );
    let (s, body) = post(&router, "/audit/v1/events", Some(TOKEN), scenario()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(rejected(&metrics, "queue_full"), 1);
    assert_eq!(
        metrics.events.get(),
        9,
        "the rejected batch is not counted as accepted"
    );
    // Once the aggregator takes the batch, the retry is accepted.
    assert_eq!(rx.try_recv().unwrap().events.len(), 9);
    assert_eq!(
        post(&router, "/audit/v1/events", Some(TOKEN), scenario())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(metrics.events.get(), 18);
}

#[tokio::test]
async fn memory_budget_answers_429_until_batches_are_consumed() {
    let body = scenario();
    let (router, mut rx, metrics, _) = intake(IntakeConfig {
        // Room for one batch, not two.
        max_queued_bytes: body.len() * 3 / 2
            + 10 * std::mem::size_of::<soc2_operator::audit_events::AuditEvent>(),
        ..IntakeConfig::with_token(TOKEN)
    });
    assert_eq!(
        post(&router, "/audit/v1/events", Some(TOKEN), body.clone())
            .await
            .0,
        StatusCode::OK
    );
    let (s, _) = post(&router, "/audit/v1/events", Some(TOKEN), body.clone()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rejected(&metrics, "memory"), 1);
    let batch = rx.try_recv().unwrap();
    assert!(batch.charged_bytes() > body.len());
    // Still held by the aggregator: still full.
    assert_eq!(
        post(&router, "/audit/v1/events", Some(TOKEN), body.clone())
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(batch);
    assert_eq!(
        post(&router, "/audit/v1/events", Some(TOKEN), body).await.0,
        StatusCode::OK
    );
    assert_eq!(rejected(&metrics, "memory"), 2);
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_and_nothing_is_queued() {
    let (router, mut rx, metrics, _) = intake(IntakeConfig::with_token(TOKEN));
    assert_eq!(
        post(&router, "/audit/v1/events", None, scenario()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(
            &router,
            "/audit/v1/lines",
            Some("s3cret-intake-tokeN"),
            impersonation_lines()
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&router, "/audit/v1/events", Some(""), scenario())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rejected(&metrics, "unauthorized"), 3);
    assert_eq!(metrics.events.get(), 0);
    assert!(rx.try_recv().is_none());
}

#[tokio::test]
async fn malformed_payloads_are_400_naming_the_problem() {
    let (router, mut rx, metrics, _) = intake(IntakeConfig::with_token(TOKEN));
    let mut missing_verb = serde_json::from_str::<Value>(&scenario()).unwrap();
    missing_verb["items"][2]
        .as_object_mut()
        .unwrap()
        .remove("verb");
    let cases = [
        (
            "/audit/v1/events",
            "{\"items\": [".to_string(),
            "EventList: EOF while parsing",
        ),
        (
            "/audit/v1/events",
            missing_verb.to_string(),
            "missing field `verb`",
        ),
        (
            "/audit/v1/events",
            r#"{"kind":"PodList","items":[]}"#.to_string(),
            r#"EventList.kind: expected "EventList", got "PodList""#,
        ),
        (
            "/audit/v1/events",
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}"#.to_string(),
            "EventList.apiVersion",
        ),
        (
            "/audit/v1/events",
            scenario().replace("06:10:07.123456Z", "yesterday"),
            "EventList: ",
        ),
        (
            "/audit/v1/lines",
            format!(
                "{}\nnot json\n",
                impersonation_lines().lines().next().unwrap()
            ),
            "line 2: ",
        ),
    ];
    for (path, body, expected) in cases {
        let (s, msg) = post(&router, path, Some(TOKEN), body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{msg}");
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
    assert_eq!(rejected(&metrics, "malformed"), 6);
    assert!(rx.try_recv().is_none(), "a bad batch is rejected whole");
}

#[tokio::test]
async fn oversized_body_is_413_and_counted() {
    let (router, _rx, metrics, _) = intake(IntakeConfig {
        max_body_bytes: 1024,
        ..IntakeConfig::with_token(TOKEN)
    });
    let (s, _) = post(&router, "/audit/v1/events", Some(TOKEN), scenario()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(rejected(&metrics, "too_large"), 1);
}

#[tokio::test]
async fn batch_larger_than_the_whole_memory_budget_is_413_not_429() {
    // A 429 would be retried forever: the batch can never fit.
    let (router, mut rx, metrics, _) = intake(IntakeConfig {
        max_queued_bytes: 4096,
        ..IntakeConfig::with_token(TOKEN)
    });
    let (s, msg) = post(&router, "/audit/v1/events", Some(TOKEN), scenario()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{msg}");
    assert!(msg.contains("send smaller batches"), "{msg}");
    assert_eq!(rejected(&metrics, "too_large"), 1);
    assert_eq!(rejected(&metrics, "memory"), 0);
    assert!(rx.try_recv().is_none());
}

#[tokio::test]
async fn served_over_tcp_and_drained_into_the_aggregates_on_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (router, rx, metrics, _) = intake(IntakeConfig::with_token(TOKEN));
    let cfg = AggregateConfig::default();
    let aggregates = std::sync::Arc::new(std::sync::Mutex::new(Aggregates::default()));
    let aggregator = tokio::spawn(rx.run(cfg, aggregates.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(soc2_operator::audit_events::queue::serve(
        listener, router, shutdown,
    ));

    let body = scenario();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /audit/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
    // The server dropped the queue's sender: the aggregator drains and ends.
    aggregator.await.unwrap();
    assert_eq!(metrics.events.get(), 9);
    let a = aggregates.lock().unwrap();
    assert_eq!(a.hours[&HOUR].requests, 8);
    assert_eq!(a.skipped_stages, 1);
}
