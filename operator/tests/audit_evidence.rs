//! Audit events end to end: real `audit.k8s.io/v1` EventList payloads through the intake
//! router, the aggregates into the operator's evaluation and evidence step (`policy::tick`) over
//! a cluster whose bindings change, a signed chain in the local-directory store, and the period
//! report in every format showing failed logins, MFA adoption, privileged actions and
//! post-termination use, each traced to the snapshot (manifest key and digest) it comes from.

mod evidence_support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use evidence_support::{config, live, t};
use serde_json::{Value, json};
use soc2_core::activity::Activity;
use soc2_core::engine::{self, Evaluation, Status};
use soc2_core::snapshot::{ClusterSnapshot, manifests};
use soc2_evidence::report::{self, ReportOptions, html, markdown, oscal};
use soc2_evidence::writer::Written;
use soc2_evidence::{SigningKey, Store, Writer, canonical};
use soc2_operator::audit_events::queue::AuditMetrics;
use soc2_operator::audit_events::{
    Aggregate, AggregateConfig, Intake, IntakeConfig, IntakeReceiver,
};
use soc2_operator::controller::{activity, policy, status};
use tower::ServiceExt as _;

const TOKEN: &str = "end-to-end-token";

/// RBAC of the cluster: bob and the OIDC admin group hold cluster-admin; mallory and a CI
/// ServiceAccount can edit `shop` (until mallory's binding is removed).
fn rbac(with_mallory: bool) -> String {
    let mallory = if with_mallory {
        "\n  - {kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}"
    } else {
        ""
    };
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: shop, resourceVersion: "1"}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: admins, resourceVersion: "2"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects:
  - {{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}}
  - {{kind: Group, name: "oidc:platform-admins", apiGroup: rbac.authorization.k8s.io}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: shop-editors, namespace: shop, resourceVersion: "3"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects:
  - {{kind: ServiceAccount, name: deployer, namespace: shop}}{mallory}
"#
    )
}

fn snapshot(dir: &std::path::Path, yaml: &str) -> ClusterSnapshot {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), yaml).unwrap();
    ClusterSnapshot::new(manifests::load(dir).expect("fixture loads").objects)
}

/// One `audit.k8s.io/v1` Event as the API server writes it.
fn event(
    id: &str,
    verb: &str,
    user: Value,
    ip: &str,
    object_ref: Value,
    code: u16,
    at: &str,
) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": id, "stage": "ResponseComplete", "requestURI": "/api/v1/x", "verb": verb,
        "user": user, "sourceIPs": [ip], "userAgent": "kubectl/v1.37.0",
        "objectRef": object_ref, "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": at, "stageTimestamp": at,
    })
}

fn event_list(items: Vec<Value>) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}

fn alice() -> Value {
    json!({"username": "oidc:alice", "groups": ["oidc:platform-admins", "system:authenticated"]})
}
fn bob() -> Value {
    json!({"username": "bob", "groups": ["system:authenticated"],
        "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}})
}
fn user(name: &str) -> Value {
    json!({"username": name, "groups": ["system:authenticated"]})
}
fn pods(sub: &str) -> Value {
    json!({"resource": "pods", "subresource": sub, "namespace": "shop", "name": "web-1", "apiVersion": "v1"})
}

/// Day one, 09:xx: an OIDC admin's exec, a certificate admin reading a Secret, mallory reading
/// pods, and 25 failed logins from one address.
fn day_one() -> String {
    let mut items = vec![
        event(
            "e-1",
            "create",
            alice(),
            "10.0.0.4",
            pods("exec"),
            101,
            "2026-06-14T09:05:00.100000Z",
        ),
        event(
            "e-2",
            "get",
            bob(),
            "10.0.0.5",
            json!({"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"}),
            200,
            "2026-06-14T09:12:00.200000Z",
        ),
        event(
            "e-3",
            "list",
            user("mallory"),
            "10.0.0.9",
            pods(""),
            200,
            "2026-06-14T09:20:00Z",
        ),
    ];
    for i in 0..25 {
        items.push(event(
            &format!("f-{i}"),
            "list",
            json!({}),
            "203.0.113.7",
            json!({"resource": "secrets", "apiVersion": "v1"}),
            401,
            &format!("2026-06-14T09:30:{i:02}Z"),
        ));
    }
    event_list(items)
}

/// Day two, 12:xx: mallory is back a day after losing her binding; carol writes RBAC.
fn day_two() -> String {
    event_list(vec![
        event(
            "e-4",
            "list",
            user("mallory"),
            "10.0.0.9",
            pods(""),
            200,
            "2026-06-15T12:10:00Z",
        ),
        event(
            "e-5",
            "create",
            user("carol"),
            "10.0.0.6",
            json!({"resource": "clusterrolebindings", "name": "ops", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}),
            201,
            "2026-06-15T12:20:00Z",
        ),
    ])
}

async fn post(router: &Router, body: String) {
    let req = Request::post("/audit/v1/events")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Feeds the queued batches to the shared aggregates as received at `at` (the aggregator task
/// does the same with the wall clock).
fn drain(rx: &mut IntakeReceiver, cfg: &AggregateConfig, shared: &Mutex<Activity>, at: &str) {
    while let Some(batch) = rx.try_recv() {
        shared.lock().unwrap().add_batch(cfg, &batch.events, t(at));
    }
}

fn check<'a>(e: &'a Evaluation, id: &str) -> &'a engine::CheckResult {
    e.controls
        .iter()
        .flat_map(|c| &c.checks)
        .find(|c| c.check == id)
        .unwrap_or_else(|| panic!("{id} is in the baseline"))
}

/// The operator's evidence step at `at`: the activity view (ledger updated from `cluster`),
/// evaluation and `policy::tick`, which writes `activity.json` with the other documents.
async fn snap(
    writer: &mut Writer,
    shared: &Mutex<Activity>,
    controls: &[soc2_core::crd::Soc2Control],
    cluster: &ClusterSnapshot,
    at: &str,
) -> (Evaluation, Written) {
    let view = activity::view(shared, cluster, t(at));
    let e = engine::evaluate_with_activity(controls, cluster, Some(&view), t(at));
    let w = policy::tick(writer, controls, cluster, Some(&view), t(at))
        .await
        .unwrap();
    (e, w)
}

#[tokio::test]
async fn audit_events_reach_checks_signed_evidence_and_the_period_report() {
    let tmp = tempfile::tempdir().unwrap();
    let with = snapshot(&tmp.path().join("before"), &rbac(true));
    let without = snapshot(&tmp.path().join("after"), &rbac(false));
    let controls = soc2_operator::cli::baseline_controls().unwrap();
    let registry = prometheus::Registry::new();
    let (router, mut rx) = Intake::channel(
        &IntakeConfig::with_token(TOKEN),
        AuditMetrics::register(&registry).unwrap(),
    );
    let cfg = AggregateConfig {
        oidc_prefix: Some("oidc:".into()),
        ..AggregateConfig::default()
    };
    let shared = Arc::new(Mutex::new(Activity::default()));
    let store = Store::from_url(&format!("file://{}", tmp.path().join("store").display())).unwrap();
    let key = SigningKey::generate().unwrap();
    let mut writer = Writer::open(store.clone(), config("prod", "hourly", Some(key.clone())))
        .await
        .unwrap();
    writer.set_provenance(live());

    // Before any event: the activity checks are NotApplicable, and say why.
    let now = t("2026-06-14T08:00:00Z");
    let view = activity::view(&shared, &with, now);
    let e = engine::evaluate_with_activity(&controls, &with, Some(&view), now);
    assert_eq!(check(&e, "access.mfa").status, Status::NotApplicable);
    assert!(
        check(&e, "access.mfa")
            .reason
            .contains("no audit events have been received")
    );

    post(&router, day_one()).await;
    drain(&mut rx, &cfg, &shared, "2026-06-14T09:59:00Z");
    let (e1, _w1) = snap(
        &mut writer,
        &shared,
        &controls,
        &with,
        "2026-06-14T10:00:05Z",
    )
    .await;
    assert_eq!(
        check(&e1, "access.failed-logins").status,
        Status::NonCompliant
    );
    assert!(
        check(&e1, "access.failed-logins").findings[0]
            .message
            .starts_with("25 failed logins (401) from source IP 203.0.113.7")
    );
    let mfa = check(&e1, "access.mfa");
    assert_eq!(mfa.status, Status::NonCompliant);
    assert_eq!(
        mfa.findings.len(),
        1,
        "alice uses OIDC; only bob's certificate fails"
    );
    assert_eq!(mfa.findings[0].resource.name, "bob");
    assert_eq!(
        check(&e1, "access.terminated-identities").status,
        Status::Compliant
    );

    // Mallory's binding is removed; the ledger dates it at this snapshot.
    let (_, w2) = snap(
        &mut writer,
        &shared,
        &controls,
        &without,
        "2026-06-14T11:00:05Z",
    )
    .await;

    post(&router, day_two()).await;
    drain(&mut rx, &cfg, &shared, "2026-06-15T12:30:00Z");
    let (e3, w3) = snap(
        &mut writer,
        &shared,
        &controls,
        &without,
        "2026-06-15T13:00:05Z",
    )
    .await;
    let term = check(&e3, "access.terminated-identities");
    assert_eq!(term.status, Status::NonCompliant);
    assert_eq!(term.findings[0].resource.to_string(), "User/mallory");
    assert!(
        term.findings[0]
            .message
            .contains("1 requests by User/mallory between 2026-06-15T12:00:00Z")
    );
    // Day one's failures and bob's certificate have left the 24-hour windows.
    assert_eq!(check(&e3, "access.failed-logins").status, Status::Compliant);
    assert_eq!(check(&e3, "access.mfa").status, Status::Compliant);

    // Nothing received for three hours: the control is not operating, and status says so.
    let late = t("2026-06-15T15:40:00Z");
    let view = activity::view(&shared, &without, late);
    let stale = engine::evaluate_with_activity(&controls, &without, Some(&view), late);
    let cc72 = stale
        .controls
        .iter()
        .find(|c| c.control_id == "CC7.2")
        .unwrap();
    let stopped = check(&stale, "access.failed-logins");
    assert!(
        stopped.findings[0].message.starts_with(
            "no audit events since 2026-06-15T12:30:00Z: the control is not operating"
        )
    );
    let mut desired = status::desired(cc72, None, &Default::default(), late);
    status::add_audit_events_condition(&mut desired, cc72, None, late);
    let cond = desired
        .conditions
        .iter()
        .find(|c| c.type_ == status::AUDIT_EVENTS)
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "EventsStopped")
    );

    // The binding ledger survives a restart through the chain head.
    let ledger = soc2_evidence::activity::read_head_ledger(&store, &w3.snapshot.key)
        .await
        .unwrap()
        .expect("activity.json in the head");
    assert_eq!(ledger.removed["User/mallory"], t("2026-06-14T11:00:05Z"));

    // The report, from the verified store only.
    let options = ReportOptions {
        from: t("2026-06-14T00:00:00Z"),
        to: t("2026-06-16T00:00:00Z"),
        cluster: None,
        policy: None,
        public_key: Some(key.public()),
        keyring: None,
        limits: Default::default(),
        now: t("2026-06-16T00:00:00Z"),
        expected_schedule: None,
        checkpoints: None,
        timestamps: Default::default(),
        object_lock: Default::default(),
    };
    let r = report::build(&store, &options).await.unwrap();
    let c = &r.clusters[0];
    assert!(c.integrity.verified, "{:?}", c.integrity);
    let a = c.activity.as_ref().expect("activity section");
    assert_eq!(a.snapshots, 3);
    // Failed logins: hour 09 of day one, taken from the newest snapshot holding it (the second).
    assert_eq!(a.failed_logins.total, 25);
    assert_eq!(a.failed_logins.top_source_ips[0].key, "203.0.113.7");
    assert_eq!(a.failed_logins.top_source_ips[0].count, 25);
    assert_eq!(a.failed_logins.evidence.len(), 1);
    assert_eq!(a.failed_logins.evidence[0].key, w2.snapshot.key);
    assert_eq!(a.failed_logins.evidence[0].digest, w2.snapshot.digest);
    // MFA adoption: alice, bob, mallory (twice), carol.
    assert_eq!((a.mfa.human_requests_oidc, a.mfa.human_requests), (1, 5));
    assert_eq!((a.mfa.humans_oidc_only, a.mfa.humans), (1, 4));
    let refs: Vec<&str> = a.mfa.evidence.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(refs, [w2.snapshot.key.as_str(), w3.snapshot.key.as_str()]);
    // Privileged actions: who, what, when, and where each is recorded.
    let p: Vec<(&str, &str, &str)> = a
        .privileged
        .actions
        .iter()
        .map(|r| {
            (
                r.action.kind.as_str(),
                r.action.user.as_str(),
                r.evidence.key.as_str(),
            )
        })
        .collect();
    assert_eq!(
        p,
        [
            ("pods/exec", "oidc:alice", w2.snapshot.key.as_str()),
            ("secret-read", "bob", w2.snapshot.key.as_str()),
            ("rbac-write", "carol", w3.snapshot.key.as_str()),
        ]
    );
    assert_eq!(
        a.privileged.actions[0].action.at,
        t("2026-06-14T09:05:00.1Z")
    );
    // Post-termination use.
    assert_eq!(a.post_termination.len(), 1);
    let m = &a.post_termination[0];
    assert_eq!((m.subject.as_str(), m.requests), ("User/mallory", 1));
    assert_eq!(m.evidence[0].key, w3.snapshot.key);

    // Every format carries the figures and the references.
    let md = markdown::render(&r);
    let html = html::render(&r);
    let json = String::from_utf8(canonical::to_vec(&r, "report").unwrap()).unwrap();
    let oscal = oscal::render(&r).to_string();
    for (name, text) in [
        ("markdown", &md),
        ("html", &html),
        ("json", &json),
        ("oscal", &oscal),
    ] {
        assert!(
            text.contains(&w2.snapshot.key),
            "{name} lacks the second snapshot's key"
        );
        assert!(
            text.contains(&w3.snapshot.digest),
            "{name} lacks the third snapshot's digest"
        );
    }
    assert!(md.contains("- Failed logins (401): 25 (top users: <unauthenticated> 25; top source IPs: 203.0.113.7 25)"), "{md}");
    assert!(md.contains("- MFA adoption: 1 of 5 human request(s) through the OIDC issuer (20.0%); 1 of 4 human(s) only through OIDC (25.0%)"), "{md}");
    assert!(md.contains("- Privileged actions: 3 listed"), "{md}");
    assert!(
        md.contains("  - User/mallory: 1 request(s) from 2026-06-15T12:00:00Z"),
        "{md}"
    );
    assert!(html.contains("Security events from the audit stream"));
    assert!(json.contains("\"postTermination\":[{"), "{json}");
    assert!(oscal.contains("\"name\":\"failed-logins\""), "{oscal}");
}
