//! Scale test of the workload, data, availability, change and backup checks: 100k objects.
//! Ignored by default; run with
//! `cargo test --release -p soc2-operator --lib scale_tests -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::checks::testing::now;
use crate::checks::{Ctx, Outcome, ScopeFilter, catalog};
use crate::snapshot::{ClusterSnapshot, Objects};

/// Every check of these domains, with non-default parameters where they change the work done.
fn runs() -> Vec<(&'static str, Option<serde_json::Value>)> {
    vec![
        ("workload.privileged", None),
        ("workload.pod-security-admission", None),
        (
            "workload.trusted-images",
            Some(json!({"allowedRegistries": ["ghcr.io/acme"]})),
        ),
        ("data.credentials-in-plain-config", None),
        ("data.classification", None),
        ("availability.redundancy", None),
        ("availability.resources", None),
        ("change.gitops-managed", None),
        ("backup.schedule-coverage", None),
        ("backup.recent-success", None),
        ("backup.recent-success", Some(json!({"perSchedule": true}))),
        ("backup.restore-tested", None),
    ]
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("valid object"))
}

fn big_snapshot() -> ClusterSnapshot {
    let mut o = Objects::default();
    for n in 0..1_000 {
        o.namespaces.push(from(json!({
            "metadata": {"name": format!("ns-{n}"), "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}
        })));
    }
    for i in 0..40_000 {
        let ns = format!("ns-{}", i % 1_000);
        o.deployments.push(from(json!({
            "metadata": {"name": format!("d-{i}"), "namespace": ns,
                "labels": {"soc2.evidence.dev/critical": "true"},
                "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "time": "2026-06-01T00:00:00Z"}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("d-{i}")}},
                "template": {"metadata": {"labels": {"app": format!("d-{i}")}},
                "spec": {"containers": [
                    {"name": "app", "image": "ghcr.io/acme/app:1", "env": [{"name": "DB_PASSWORD", "value": "x1"}, {"name": "A", "value": "b"}]},
                    {"name": "side", "image": "nginx", "securityContext": {"privileged": true}}
                ]}}}
        })));
        o.config_maps.push(from(json!({
            "metadata": {"name": format!("cm-{i}"), "namespace": ns},
            "data": {"a": "b", "api_key": "k", "blob": "x".repeat(2_000)}
        })));
    }
    for i in 0..5_000 {
        o.pod_disruption_budgets.push(from(json!({
            "metadata": {"name": format!("pdb-{i}"), "namespace": format!("ns-{}", i % 1_000)},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": [format!("d-{i}")]}]}}
        })));
    }
    let mut backups = Vec::new();
    for i in 0..14_000 {
        backups.push(from(json!({
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": format!("b-{i}"), "namespace": "velero", "labels": {"velero.io/schedule-name": format!("s-{}", i % 100)}},
            "status": {"phase": "Completed", "completionTimestamp": "2026-06-15T10:00:00Z"}
        })));
    }
    let schedules = (0..100)
        .map(|i| {
            from(json!({
                "apiVersion": "velero.io/v1", "kind": "Schedule",
                "metadata": {"name": format!("s-{i}"), "namespace": "velero"},
                "spec": {"template": {"includedNamespaces": [format!("ns-{i}*")]}}
            }))
        })
        .collect();
    o.velero_backups = Some(backups);
    o.velero_schedules = Some(schedules);
    o.velero_restores = Some(Vec::new());
    ClusterSnapshot::new(o)
}

#[test]
#[ignore = "scale test; run in release"]
fn checks_scale_to_100k_objects() {
    let snap = big_snapshot();
    assert!(snap.len() >= 100_000, "{}", snap.len());
    let selector: crate::crd::Scope = serde_json::from_value(json!({
        "namespaceSelector": {"matchLabels": {"pod-security.kubernetes.io/enforce": "baseline"}},
        "excludedNamespaces": ["ns-1"]
    }))
    .expect("scope");
    for scope in [
        ScopeFilter::all(),
        ScopeFilter::from_spec(&selector).expect("scope"),
    ] {
        let ctx = Ctx {
            snapshot: &snap,
            scope: &scope,
            now: now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        for (id, params) in runs() {
            let start = Instant::now();
            let out = catalog()
                .get(id)
                .expect("registered")
                .run(&ctx, params.as_ref())
                .expect("params");
            let summary = match &out {
                Outcome::Evaluated { checked, findings } => {
                    format!("{checked} checked, {} findings", findings.len())
                }
                Outcome::NotApplicable { reason } => reason.clone(),
            };
            println!("{id:40} {:>8.1?}  {summary}", start.elapsed());
        }
    }
}
