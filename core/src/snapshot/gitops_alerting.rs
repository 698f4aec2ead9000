//! The trim of the GitOps (Argo CD, Flux) and alerting (prometheus-operator) kinds of the
//! [`super::dynamic`] table: each object keeps only the fields `change.gitops-reconciled`,
//! `monitoring.alerting` and the evidence's `gitops.json` read.
//!
//! Dropped, for example: Argo CD `status.resources`, `status.history`, `status.summary` and the
//! Helm values of a source; Flux inventories and HelmRelease `spec.values` (which may hold
//! credentials); rule annotations. Called only by [`super::dynamic::trim_data`], part of the
//! one trim.

use serde_json::Value;

use super::dynamic::DynKind;

const APPLICATION: &[&str] = &[
    "spec.project",
    "spec.source.repoURL",
    "spec.source.targetRevision",
    "spec.source.path",
    "spec.source.chart",
    "spec.source.ref",
    "spec.sources.repoURL",
    "spec.sources.targetRevision",
    "spec.sources.path",
    "spec.sources.chart",
    "spec.sources.ref",
    "spec.destination.server",
    "spec.destination.name",
    "spec.destination.namespace",
    "spec.syncPolicy.automated",
    "status.sync.status",
    "status.sync.revision",
    "status.sync.revisions",
    "status.health.status",
    "status.reconciledAt",
    "status.operationState.phase",
    "status.operationState.startedAt",
    "status.operationState.finishedAt",
];

const CONDITIONS: [&str; 4] = [
    "status.conditions.type",
    "status.conditions.status",
    "status.conditions.reason",
    "status.conditions.lastTransitionTime",
];

const KUSTOMIZATION: &[&str] = &[
    "spec.sourceRef",
    "spec.path",
    "spec.prune",
    "spec.suspend",
    "spec.targetNamespace",
    "status.lastAppliedRevision",
    "status.lastAttemptedRevision",
];

const HELM_RELEASE: &[&str] = &[
    "spec.chart.spec.chart",
    "spec.chart.spec.version",
    "spec.chart.spec.sourceRef",
    "spec.chartRef",
    "spec.suspend",
    "spec.driftDetection.mode",
    "spec.releaseName",
    "spec.targetNamespace",
    "status.lastAppliedRevision",
    "status.lastAttemptedRevision",
];

const GIT_REPOSITORY: &[&str] = &[
    "spec.url",
    "spec.ref",
    "spec.suspend",
    "status.artifact.revision",
    "status.artifact.lastUpdateTime",
];

const PROMETHEUS_RULE: &[&str] = &[
    "spec.groups.name",
    "spec.groups.rules.alert",
    "spec.groups.rules.expr",
    "spec.groups.rules.for",
];

const ALERTMANAGER: &[&str] = &[
    "spec.replicas",
    "spec.paused",
    "status.replicas",
    "status.availableReplicas",
];

/// Trims `data` (everything but `apiVersion`, `kind` and `metadata`) of a GitOps or alerting
/// object to the fields its readers use. Returns `false` for the other table kinds.
pub(super) fn trim(kind: DynKind, data: &mut Value) -> bool {
    let (keep, conditions): (&[&str], bool) = match kind {
        DynKind::ArgoApplication => (APPLICATION, false),
        DynKind::FluxKustomization => (KUSTOMIZATION, true),
        DynKind::FluxHelmRelease => (HELM_RELEASE, true),
        DynKind::FluxGitRepository => (GIT_REPOSITORY, true),
        DynKind::PrometheusRule => (PROMETHEUS_RULE, false),
        DynKind::Alertmanager => (ALERTMANAGER, false),
        _ => return false,
    };
    let mut paths: Vec<Vec<&str>> = keep.iter().map(|p| p.split('.').collect()).collect();
    if conditions {
        paths.extend(CONDITIONS.iter().map(|p| p.split('.').collect()));
    }
    if let Value::Object(map) = data {
        // `DynamicObject::data` holds the object without its type and metadata.
        map.retain(|k, _| k == "spec" || k == "status");
    }
    retain_paths(data, &paths);
    true
}

/// Keeps only the fields on `paths` (dot-separated keys; arrays are transparent, so
/// `spec.groups.name` keeps the `name` of every group). A path that ends keeps its whole value.
fn retain_paths(value: &mut Value, paths: &[Vec<&str>]) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| paths.iter().any(|p| p.first() == Some(&k.as_str())));
            for (k, child) in map.iter_mut() {
                let sub: Vec<Vec<&str>> = paths
                    .iter()
                    .filter(|p| p.first() == Some(&k.as_str()))
                    .map(|p| p[1..].to_vec())
                    .collect();
                if sub.iter().any(Vec::is_empty) {
                    continue;
                }
                retain_paths(child, &sub);
            }
        }
        Value::Array(items) => {
            for item in items {
                retain_paths(item, paths);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_what_is_read() {
        let mut app = json!({
            "spec": {"project": "default",
                     "source": {"repoURL": "https://g/r.git", "targetRevision": "main",
                                "helm": {"values": "password: hunter2"}},
                     "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["X"]}},
            "status": {"sync": {"status": "Synced", "comparedTo": {}},
                       "resources": [{"kind": "Deployment"}], "history": [{"id": 1}],
                       "operationState": {"phase": "Succeeded", "finishedAt": "t",
                                          "syncResult": {"resources": []}}}
        });
        assert!(trim(DynKind::ArgoApplication, &mut app));
        assert_eq!(
            app,
            json!({
                "spec": {"project": "default",
                         "source": {"repoURL": "https://g/r.git", "targetRevision": "main"},
                         "syncPolicy": {"automated": {"prune": true}}},
                "status": {"sync": {"status": "Synced"},
                           "operationState": {"phase": "Succeeded", "finishedAt": "t"}}
            })
        );
        let mut hr = json!({
            "spec": {"values": {"auth": {"password": "x"}}, "driftDetection": {"mode": "enabled", "ignore": []}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "message": "long"}],
                       "history": [{"digest": "sha256:x"}]}
        });
        assert!(trim(DynKind::FluxHelmRelease, &mut hr));
        assert_eq!(
            hr,
            json!({"spec": {"driftDetection": {"mode": "enabled"}},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        );
        let mut rule = json!({"spec": {"groups": [{"name": "g", "interval": "30s", "rules": [
            {"alert": "A", "expr": "up == 0", "for": "5m", "annotations": {"summary": "s"}}]}]}});
        assert!(trim(DynKind::PrometheusRule, &mut rule));
        assert_eq!(
            rule,
            json!({"spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}]}]}})
        );
        let mut cnp = json!({"spec": {}});
        assert!(!trim(DynKind::CiliumNetworkPolicy, &mut cnp));
    }
}
