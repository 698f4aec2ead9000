//! A deterministic synthetic cluster for benchmarks and scale tests.
//!
//! `generate(n, seed)` returns about `n` objects shaped like a real multi-tenant cluster:
//! namespaces with deployments, their ReplicaSets and pods, services, config maps, RBAC,
//! network policies and PDBs, plus nodes, cluster RBAC, storage and Velero objects. A few
//! percent of them violate the baseline controls, so the checks do real work. The same `n`
//! and `seed` always give the same objects.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::snapshot::{Objects, trim};

/// A small deterministic PRNG (xorshift64*), so the generator needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn typed<T: DeserializeOwned + kube::Resource + 'static>(v: Value) -> Arc<T> {
    let mut obj: T = serde_json::from_value(v).expect("synthetic object matches its schema");
    trim(&mut obj);
    Arc::new(obj)
}

/// Objects per namespace in the generated layout (used to size the cluster).
const PER_NAMESPACE: usize = 40;

/// Generates about `n` objects.
pub fn generate(n: usize, seed: u64) -> Objects {
    let mut rng = Rng(seed.max(1));
    let mut o = Objects::default();
    let namespaces = (n / PER_NAMESPACE).max(1);
    let nodes = (n / 500).clamp(3, 500);
    for i in 0..nodes {
        o.nodes.push(typed(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{i:04}"), "resourceVersion": format!("{}", 1000 + i)},
            "spec": {}
        })));
    }
    o.storage_classes.push(typed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "gp3-encrypted"},
        "provisioner": "ebs.csi.aws.com", "parameters": {"encrypted": "true", "type": "gp3"}
    })));
    o.storage_classes.push(typed(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path"},
        "provisioner": "rancher.io/local-path"
    })));
    o.cluster_roles.push(typed(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]
    })));
    o.cluster_role_bindings.push(typed(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
    })));
    o.velero_schedules = Some(Vec::new());
    o.velero_backups = Some(Vec::new());
    o.velero_restores = Some(Vec::new());
    for t in 0..(namespaces / 10).max(1) {
        o.cluster_roles.push(typed(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": format!("team-{t}-reader")},
            "rules": [{"apiGroups": ["", "apps"], "resources": ["pods", "deployments", "configmaps"], "verbs": ["get", "list", "watch"]}]
        })));
        let admin = rng.chance(10);
        o.cluster_role_bindings.push(typed(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("team-{t}-readers")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": if admin { "cluster-admin".to_string() } else { format!("team-{t}-reader") }},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("team-{t}")}]
        })));
    }
    let mut rv = 10_000u64;
    let mut next_rv = || {
        rv += 1;
        rv.to_string()
    };
    for i in 0..namespaces {
        let ns = format!("team-{}-app-{i:05}", i % 50);
        let labelled = !rng.chance(5);
        let mut labels = json!({"kubernetes.io/metadata.name": ns});
        if labelled {
            labels["pod-security.kubernetes.io/enforce"] = json!("baseline");
            labels["data.soc2.evidence.dev/classification"] = json!("internal");
        }
        o.namespaces.push(typed(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels, "resourceVersion": next_rv()}
        })));
        o.velero_schedules
            .get_or_insert_default()
            .push(typed(json!({
                "apiVersion": "velero.io/v1", "kind": "Schedule",
                "metadata": {"name": format!("daily-{ns}"), "namespace": "velero"},
                "spec": {"schedule": "0 2 * * *", "template": {"includedNamespaces": [ns]}}
            })));
        if !rng.chance(5) {
            o.network_policies.push(typed(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": ns, "resourceVersion": next_rv()},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
            })));
        }
        o.service_accounts.push(typed(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns, "resourceVersion": next_rv()},
            "automountServiceAccountToken": false
        })));
        o.roles.push(typed(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "app-config-reader", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
        })));
        for d in 0..4 {
            let app = format!("svc-{d}");
            let privileged = rng.chance(2);
            let image = if rng.chance(3) {
                "nginx:latest".to_string()
            } else {
                format!("registry.example.com/team/{app}:1.{d}.0")
            };
            let manager = if rng.chance(3) {
                "kubectl-edit"
            } else {
                "argocd-controller"
            };
            let container = json!({
                "name": app, "image": image,
                "env": [{"name": "LOG_LEVEL", "value": "info"}],
                "securityContext": {"privileged": privileged, "allowPrivilegeEscalation": false, "runAsNonRoot": true},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
            });
            let labels = json!({"app": app, "soc2.evidence.dev/critical": if d == 0 { "true" } else { "false" }});
            let template = json!({"metadata": {"labels": labels}, "spec": {"containers": [container], "automountServiceAccountToken": false}});
            o.service_accounts.push(typed(json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": app, "namespace": ns, "resourceVersion": next_rv()}
            })));
            o.deployments.push(typed(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": app, "namespace": ns, "labels": labels, "resourceVersion": next_rv(),
                             "managedFields": [{"manager": manager, "operation": "Update", "apiVersion": "apps/v1", "time": "2026-06-01T10:00:00Z"}]},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}}, "template": template}
            })));
            o.replicasets.push(typed(json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("{app}-7d4b9c"), "namespace": ns, "resourceVersion": next_rv(),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": format!("uid-{ns}-{app}"), "controller": true}]},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}}, "template": template}
            })));
            for p in 0..2 {
                o.pods.push(typed(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{app}-7d4b9c-{p}"), "namespace": ns, "labels": {"app": app}, "resourceVersion": next_rv(),
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d4b9c"), "uid": "x", "controller": true}]},
                    "spec": template["spec"].clone(),
                    "status": {"phase": "Running"}
                })));
            }
            let exposed = rng.chance(2);
            o.services.push(typed(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": app, "namespace": ns, "resourceVersion": next_rv()},
                "spec": {"type": if exposed { "LoadBalancer" } else { "ClusterIP" }, "selector": {"app": app}, "ports": [{"port": 80}]}
            })));
            o.config_maps.push(typed(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{app}-config"), "namespace": ns, "resourceVersion": next_rv()},
                "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": "a,b,c"}
            })));
            o.role_bindings.push(typed(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("{app}-config-reader"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-config-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": ns}]
            })));
        }
        o.pod_disruption_budgets.push(typed(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "svc-0", "namespace": ns},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "svc-0"}}}
        })));
        let tls = !rng.chance(5);
        let host = format!("{ns}.apps.example.com");
        let mut ingress = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "svc-0", "port": {"number": 80}}}}]}}]}
        });
        if tls {
            ingress["spec"]["tls"] = json!([{"hosts": [host], "secretName": "web-tls"}]);
        }
        o.ingresses.push(typed(ingress));
        o.persistent_volume_claims.push(typed(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {"storageClassName": "gp3-encrypted", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        })));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = generate(4_000, 7);
        let b = generate(4_000, 7);
        assert_eq!(a.inventory(), b.inventory());
        let n = a.len();
        assert!((3_000..=5_000).contains(&n), "{n} objects");
    }
}
