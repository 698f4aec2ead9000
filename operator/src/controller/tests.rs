//! Single reconcile steps against a scripted API server.

use std::sync::Arc;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::control::{self, FINALIZER};
use super::fixtures::{ApiServerVerifier, Expect, control_json, event_response, mock_client};
use super::{Context, status};
use soc2_core::crd::Soc2Control;
use soc2_core::snapshot::ClusterSnapshot;

const STATUS_PATH: &str = "/apis/soc2.evidence.dev/v1alpha1/soc2controls/cc6-1/status?&force=true&fieldManager=soc2-operator";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/default/events?";

fn guard(v: Value) -> Arc<DeserializeGuard<Soc2Control>> {
    Arc::new(serde_json::from_value(v).expect("guard"))
}

fn ctx(client: kube::Client, leader: bool, enforcement: bool) -> Arc<Context> {
    Arc::new(Context::for_tests(
        client,
        ClusterSnapshot::default(),
        leader,
        enforcement,
    ))
}

fn unknown_check() -> Value {
    json!([{"check": "network.default-deny"}, {"check": "foo.bar"}])
}

#[tokio::test]
async fn invalid_spec_writes_ready_false_naming_the_field_and_warns_once() {
    let (client, server) = mock_client();
    let obj = control_json("cc6-1", unknown_check(), "Audit", None);
    let task = server.run(vec![
        Expect::new(
            "PATCH",
            STATUS_PATH,
            control_json("cc6-1", unknown_check(), "Audit", None),
        )
        .check(|body| {
            assert_eq!(body["apiVersion"], "soc2.evidence.dev/v1alpha1");
            assert_eq!(body["kind"], "Soc2Control");
            let ready = body["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .unwrap();
            assert_eq!(ready["status"], "False");
            assert_eq!(ready["reason"], "InvalidSpec");
            let msg = ready["message"].as_str().unwrap();
            assert!(
                msg.contains(r#"spec.checks[1].check: unknown check id "foo.bar""#),
                "{msg}"
            );
            assert_eq!(body["status"]["observedGeneration"], 2);
            assert_eq!(body["status"]["result"], "Error");
        }),
        Expect::new("POST", EVENTS_PATH, event_response()).check(|body| {
            assert_eq!(body["type"], "Warning");
            assert_eq!(body["reason"], "InvalidSpec");
            assert_eq!(body["regarding"]["kind"], "Soc2Control");
            assert_eq!(body["regarding"]["name"], "cc6-1");
        }),
    ]);
    let action = control::reconcile(guard(obj), ctx(client, true, false))
        .await
        .expect("reconcile");
    assert_eq!(
        action,
        Action::await_change(),
        "no requeue for an invalid spec"
    );
    ApiServerVerifier::finish(task, None).await;
}

#[tokio::test]
async fn unchanged_status_is_not_written_again() {
    // First reconcile computes the status the object will carry.
    let (client, server) = mock_client();
    let ctx0 = ctx(client, true, false);
    let control: Soc2Control =
        serde_json::from_value(control_json("cc6-1", unknown_check(), "Audit", None)).unwrap();
    let result = control::evaluate(&ctx0, &control, &ctx0.snapshot());
    let current = status::desired(&result, None, &Default::default(), jiff::Timestamp::now());
    drop(server);

    let (client, server) = mock_client();
    let obj = control_json(
        "cc6-1",
        unknown_check(),
        "Audit",
        Some(serde_json::to_value(&current).unwrap()),
    );
    let task = server.run(vec![]);
    let action = control::reconcile(guard(obj), ctx(client, true, false))
        .await
        .expect("reconcile");
    assert_eq!(action, Action::await_change());
    ApiServerVerifier::finish(task, None).await;
}

#[tokio::test]
async fn standby_writes_nothing() {
    let (client, server) = mock_client();
    let obj = control_json("cc6-1", unknown_check(), "Enforce", None);
    let task = server.run(vec![]);
    let c = ctx(client, false, true);
    let action = control::reconcile(guard(obj), c.clone())
        .await
        .expect("reconcile");
    assert_eq!(action, Action::await_change());
    ApiServerVerifier::finish(task, None).await;
    // It still evaluated: the compliance gauge exists.
    assert!(
        c.metrics
            .render()
            .contains("soc2_evaluation_duration_seconds_count 1")
    );
}

#[tokio::test]
async fn enforcement_adds_the_finalizer_first() {
    let (client, server) = mock_client();
    let obj = control_json("cc6-1", unknown_check(), "Enforce", None);
    let mut with_finalizer = obj.clone();
    with_finalizer["metadata"]["finalizers"] = json!([FINALIZER]);
    let task = server.run(vec![
        Expect::new(
            "PATCH",
            "/apis/soc2.evidence.dev/v1alpha1/soc2controls/cc6-1?",
            with_finalizer,
        )
        .check(|body| {
            let ops = body.as_array().expect("JSON patch");
            assert!(
                ops.iter().any(|op| op["op"] == "add"
                    && op["path"] == "/metadata/finalizers"
                    && op["value"] == json!([FINALIZER])),
                "{body}"
            );
        }),
    ]);
    let action = control::reconcile(guard(obj), ctx(client, true, true))
        .await
        .expect("reconcile");
    // The finalizer patch triggers a new watch event; nothing else happens now.
    assert_eq!(action, Action::await_change());
    ApiServerVerifier::finish(task, None).await;
}

#[tokio::test]
async fn enforce_without_the_flag_says_so_in_status() {
    let (client, server) = mock_client();
    let obj = control_json("cc6-1", unknown_check(), "Enforce", None);
    let task = server.run(vec![
        Expect::new(
            "PATCH",
            STATUS_PATH,
            control_json("cc6-1", unknown_check(), "Audit", None),
        )
        .check(|body| {
            let enforced = body["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Enforced")
                .expect("Enforced condition");
            assert_eq!(enforced["status"], "False");
            assert_eq!(enforced["reason"], "EnforcementDisabled");
        }),
        Expect::new("POST", EVENTS_PATH, event_response()),
    ]);
    control::reconcile(guard(obj), ctx(client, true, false))
        .await
        .expect("reconcile");
    ApiServerVerifier::finish(task, None).await;
}

#[tokio::test]
async fn undecodable_object_waits_for_a_change() {
    let (client, server) = mock_client();
    let obj = json!({
        "apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "Soc2Control",
        "metadata": {"name": "broken", "uid": "u"},
        "spec": {"controlId": 7},
    });
    let g = guard(obj);
    assert!(g.0.is_err());
    let task = server.run(vec![
        Expect::new("POST", EVENTS_PATH, event_response()).check(|body| {
            assert_eq!(body["reason"], "InvalidObject");
            assert_eq!(body["regarding"]["name"], "broken");
        }),
    ]);
    let c = ctx(client, true, false);
    let action = control::reconcile(g, c.clone()).await.expect("reconcile");
    assert_eq!(action, Action::await_change());
    ApiServerVerifier::finish(task, None).await;
    assert!(
        c.metrics
            .render()
            .contains(r#"soc2_reconcile_errors_total{reason="invalid",step="decode"} 1"#)
    );
}

#[tokio::test]
async fn status_step_writes_by_server_side_apply() {
    let (client, server) = mock_client();
    let c = ctx(client, true, false);
    let control: Soc2Control =
        serde_json::from_value(control_json("cc6-1", unknown_check(), "Audit", None)).unwrap();
    let result = control::evaluate(&c, &control, &c.snapshot());
    let desired = status::desired(&result, None, &Default::default(), jiff::Timestamp::now());
    let task = server.run(vec![
        Expect::new(
            "PATCH",
            STATUS_PATH,
            control_json("cc6-1", unknown_check(), "Audit", None),
        )
        .check(|b| {
            assert!(b["status"]["lastEvaluated"].is_string());
        }),
    ]);
    assert!(control::write_status(&c, &control, &desired).await.unwrap());
    ApiServerVerifier::finish(task, None).await;
    // Same status again: no call.
    let mut current = control.clone();
    current.status = Some(desired.clone());
    assert!(!control::write_status(&c, &current, &desired).await.unwrap());
}

#[tokio::test]
async fn backoff_doubles_and_resets() {
    let (client, _server) = mock_client();
    let c = Context::for_tests(client, ClusterSnapshot::default(), true, false);
    let delays: Vec<u64> = (0..8).map(|_| c.next_backoff("x").as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
    c.reset_backoff("x");
    assert_eq!(c.next_backoff("x").as_secs(), 5);
}
