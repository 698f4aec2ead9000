//! Finding ages and remediation SLAs through whole reconciles: ages survive a restart and a
//! failover (they live in status), and a finding past its SLA raises the condition, the Event
//! and the metric.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use kube::core::DeserializeGuard;
use serde_json::{Value, json};

use super::control;
use super::fixtures::{ApiServerVerifier, Expect, control_json, event_response, mock_client};
use super::{Context, status};
use soc2_core::crd::Soc2Control;
use soc2_core::snapshot::manifests::{add_object, parse_documents};
use soc2_core::snapshot::{ClusterSnapshot, Objects};

const STATUS_PATH: &str = "/apis/soc2.evidence.dev/v1alpha1/soc2controls/cc6-1/status?&force=true&fieldManager=soc2-operator";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/default/events?";

/// cluster-admin bound to a user: one Critical finding of `rbac.cluster-admin`.
const CLUSTER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-admin
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
- {nonResourceURLs: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
"#;

fn snapshot() -> ClusterSnapshot {
    let docs = parse_documents(std::path::Path::new("inline.yaml"), CLUSTER).unwrap();
    let mut objects = Objects::default();
    let mut ignored = Default::default();
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap().to_string();
        let kind = doc["kind"].as_str().unwrap().to_string();
        add_object(&mut objects, &mut ignored, &api_version, &kind, doc).unwrap();
    }
    ClusterSnapshot::new(objects)
}

fn checks() -> Value {
    json!([{"check": "rbac.cluster-admin"}])
}

fn ctx(client: kube::Client, leader: bool) -> Arc<Context> {
    Arc::new(Context::for_tests(client, snapshot(), leader, false))
}

fn guard(v: Value) -> Arc<DeserializeGuard<Soc2Control>> {
    Arc::new(serde_json::from_value(v).expect("guard"))
}

/// The status a previous process wrote when it first saw the finding `days_ago` days ago.
fn status_written(days_ago: i64) -> Value {
    let (client, _server) = mock_client();
    let first = ctx(client, true);
    let control: Soc2Control =
        serde_json::from_value(control_json("cc6-1", checks(), "Audit", None)).unwrap();
    let result = control::evaluate(&first, &control, &first.snapshot());
    assert_eq!(result.failing, 1, "the fixture has one finding");
    let then = Timestamp::now() - SignedDuration::from_hours(24 * days_ago);
    serde_json::to_value(status::desired(&result, None, &Default::default(), then)).unwrap()
}

fn gauge(ctx: &Context, needle: &str) -> i64 {
    let text = ctx.metrics.render();
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
}

#[tokio::test]
async fn finding_age_survives_a_restart_and_a_failover() {
    let written = status_written(3);
    let first_seen = written["findingAges"][0]["firstSeen"].clone();
    assert!(first_seen.is_string());
    let obj = control_json("cc6-1", checks(), "Audit", Some(written));

    // Failover: a standby (another process) only has the object; its metrics show the age.
    let (client, server) = mock_client();
    let task = server.run(vec![]);
    let standby = ctx(client, false);
    control::reconcile(guard(obj.clone()), standby.clone())
        .await
        .expect("reconcile");
    ApiServerVerifier::finish(task, None).await;
    let age = gauge(
        &standby,
        r#"soc2_finding_oldest_age_seconds{control="cc6-1"}"#,
    );
    assert!((3 * 86_400..3 * 86_400 + 60).contains(&age), "{age}");

    // Restart: a fresh leader continues the ages (only the age in days changed).
    let (client, server) = mock_client();
    let task = server.run(vec![Expect::new("PATCH", STATUS_PATH, obj.clone()).check(
        move |body| {
            let s = &body["status"];
            assert_eq!(s["findingAges"][0]["firstSeen"], first_seen);
            assert_eq!(s["findings"][0]["firstSeen"], first_seen);
            assert_eq!(s["oldestFindingAgeDays"], 3);
            assert_eq!(s["overdue"], 0);
        },
    )]);
    let restarted = ctx(client, true);
    control::reconcile(guard(obj), restarted.clone())
        .await
        .expect("reconcile");
    ApiServerVerifier::finish(task, None).await;
    let age = gauge(
        &restarted,
        r#"soc2_finding_oldest_age_seconds{control="cc6-1"}"#,
    );
    assert!(age >= 3 * 86_400, "{age}");
    assert_eq!(
        gauge(
            &restarted,
            r#"soc2_findings_overdue{control="cc6-1",severity="Critical"}"#
        ),
        0
    );
}

#[tokio::test]
async fn a_finding_past_its_sla_raises_the_condition_event_and_metric() {
    let written = status_written(31);
    let first_seen = written["findingAges"][0]["firstSeen"].clone();
    let obj = control_json("cc6-1", checks(), "Audit", Some(written));
    let (client, server) = mock_client();
    let task = server.run(vec![
        Expect::new("PATCH", STATUS_PATH, obj.clone()).check(move |body| {
            let s = &body["status"];
            assert_eq!(s["overdue"], 1);
            assert_eq!(s["overdueBySeverity"]["Critical"], 1);
            assert_eq!(s["oldestFindingAgeDays"], 31);
            assert_eq!(s["findings"][0]["overdue"], true);
            assert_eq!(s["findings"][0]["severity"], "Critical");
            assert_eq!(s["findings"][0]["firstSeen"], first_seen, "age kept");
            assert_eq!(s["findingAges"][0]["overdue"], true);
            let c = s["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "WithinSla")
                .expect("WithinSla condition");
            assert_eq!(c["status"], "False");
            assert_eq!(c["reason"], "SlaBreached");
        }),
        Expect::new("POST", EVENTS_PATH, event_response()).check(|body| {
            assert_eq!(body["type"], "Warning");
            assert_eq!(body["reason"], "RemediationOverdue");
            let note = body["note"].as_str().unwrap();
            assert!(
                note.contains("rbac.cluster-admin on ClusterRoleBinding/alice-admin (Critical"),
                "{note}"
            );
        }),
    ]);
    let c = ctx(client, true);
    control::reconcile(guard(obj), c.clone())
        .await
        .expect("reconcile");
    ApiServerVerifier::finish(task, None).await;
    assert_eq!(
        gauge(
            &c,
            r#"soc2_findings_overdue{control="cc6-1",severity="Critical"}"#
        ),
        1
    );
}

#[tokio::test]
async fn a_longer_sla_in_the_spec_keeps_the_finding_within_it() {
    let written = status_written(31);
    let mut obj = control_json("cc6-1", checks(), "Audit", Some(written));
    obj["spec"]["remediationSla"] = json!({"critical": "45d"});
    let (client, server) = mock_client();
    // The status moves (age in days) but no Event: nothing crossed its SLA.
    let task = server.run(vec![Expect::new("PATCH", STATUS_PATH, obj.clone()).check(
        |body| {
            let s = &body["status"];
            assert_eq!(s["overdue"], 0);
            assert_eq!(s["findings"][0]["due"].as_str().map(str::len), Some(20));
        },
    )]);
    let c = ctx(client, true);
    control::reconcile(guard(obj), c.clone())
        .await
        .expect("reconcile");
    ApiServerVerifier::finish(task, None).await;
    assert_eq!(
        gauge(
            &c,
            r#"soc2_findings_overdue{control="cc6-1",severity="Critical"}"#
        ),
        0
    );
}
