//! A deterministic synthetic cluster for benchmarks and scale tests.
//!
//! `generate(n, seed)` returns about `n` objects shaped like a real multi-tenant cluster:
//! namespaces with deployments, their ReplicaSets and pods, services, config maps, RBAC,
//! network policies and PDBs, plus nodes, cluster RBAC, storage and Velero objects. A few
//! percent of them violate the baseline controls, so the checks do real work. The same `n`
//! and `seed` always give the same objects.
//!
//! [`add_ecosystem`] adds, on request, the objects of the optional tools (Trivy Operator
//! VulnerabilityReports, cert-manager Certificates), so that `generate` alone keeps its counts.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::snapshot::{DynKind, Objects, trim};

pub mod served;

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

fn dynamic(v: Value) -> Arc<kube::core::DynamicObject> {
    typed::<kube::core::DynamicObject>(v)
}

/// Adds `reports` Trivy VulnerabilityReports (one per Deployment ReplicaSet container, in
/// order, then more of the same images under other names) with about twenty vulnerabilities
/// each, a few percent of them overdue or stale, and a cert-manager Certificate for every
/// Ingress TLS Secret (a few expired), and per namespace an Argo CD Application deploying into
/// it (a few out of sync or pinned to a commit) and a PrometheusRule with an availability alert,
/// plus one Alertmanager. Marks these APIs served. Deterministic for a `seed`.
pub fn add_ecosystem(o: &mut Objects, reports: usize, seed: u64) {
    let mut rng = Rng(seed.max(1) ^ 0x9E37_79B9_7F4A_7C15);
    let severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
    let targets: Vec<(String, String, String)> = o
        .replicasets
        .iter()
        .filter_map(|rs| {
            let ns = rs.metadata.namespace.clone()?;
            let name = rs.metadata.name.clone()?;
            let container = name
                .rsplit_once('-')
                .map_or(name.clone(), |(a, _)| a.to_string());
            Some((ns, name, container))
        })
        .collect();
    o.dynamic.mark_served(DynKind::TrivyVulnerabilityReport);
    o.dynamic.mark_served(DynKind::CertManagerCertificate);
    if !targets.is_empty() {
        for i in 0..reports {
            let (ns, rs, container) = &targets[i % targets.len()];
            let round = i / targets.len();
            let name = if round == 0 {
                format!("replicaset-{rs}-{container}")
            } else {
                format!("replicaset-{rs}-{container}-{round}")
            };
            let stale = rng.chance(3);
            let vulns: Vec<Value> = (0..20)
                .map(|v| {
                    let overdue = rng.chance(1);
                    json!({
                        "vulnerabilityID": format!("CVE-2026-{:05}", (i * 20 + v) % 100_000),
                        "severity": severities[v % severities.len()],
                        "resource": format!("lib{v}"),
                        "installedVersion": "1.0.0",
                        "fixedVersion": if v % 3 == 0 { "" } else { "1.0.1" },
                        "publishedDate": if overdue { "2025-12-01T00:00:00Z" } else { "2026-06-01T00:00:00Z" },
                        "lastModifiedDate": "2026-06-02T00:00:00Z",
                        "title": "synthetic vulnerability",
                        "description": "A synthetic vulnerability with a description long enough to be worth trimming away.",
                        "primaryLink": format!("https://avd.aquasec.com/nvd/cve-2026-{v:05}"),
                        "score": 7.5
                    })
                })
                .collect();
            o.dynamic
                .get_mut(DynKind::TrivyVulnerabilityReport)
                .get_or_insert_default()
                .push(dynamic(json!({
                    "apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport",
                    "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-01-10T00:00:00Z",
                                 "labels": {"trivy-operator.resource.kind": "ReplicaSet",
                                            "trivy-operator.resource.name": rs,
                                            "trivy-operator.resource.namespace": ns,
                                            "trivy-operator.container.name": container}},
                    "report": {
                        "updateTimestamp": if stale { "2026-05-01T00:00:00Z" } else { "2026-06-14T00:00:00Z" },
                        "registry": {"server": "registry.example.com"},
                        "artifact": {"repository": format!("team/{container}"), "tag": "1.0.0"},
                        "os": {"family": "debian", "name": "12"},
                        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.57.1"},
                        "summary": {"criticalCount": 4, "highCount": 4, "mediumCount": 4, "lowCount": 4, "unknownCount": 4},
                        "vulnerabilities": vulns
                    }
                })));
        }
    }
    let tls: Vec<(String, String)> = o
        .ingresses
        .iter()
        .flat_map(|ing| {
            let ns = ing.metadata.namespace.clone().unwrap_or_default();
            ing.spec
                .iter()
                .flat_map(|s| s.tls.iter().flatten())
                .filter_map(|t| t.secret_name.clone())
                .map(move |secret| (ns.clone(), secret))
                .collect::<Vec<_>>()
        })
        .collect();
    add_gitops_alerting(o, &mut rng);
    for (ns, secret) in tls {
        let expired = rng.chance(3);
        o.dynamic
            .get_mut(DynKind::CertManagerCertificate)
            .get_or_insert_default()
            .push(dynamic(json!({
                "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                "metadata": {"name": secret, "namespace": ns},
                "spec": {"secretName": secret, "dnsNames": [format!("{ns}.apps.example.com")],
                         "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
                "status": {
                    "conditions": [{"type": "Ready", "status": if expired { "False" } else { "True" },
                                    "reason": if expired { "Expired" } else { "Ready" },
                                    "message": "synthetic", "lastTransitionTime": "2026-05-01T00:00:00Z"}],
                    "notAfter": if expired { "2026-06-01T00:00:00Z" } else { "2026-08-30T00:00:00Z" },
                    "revision": 3
                }
            })));
    }
}

/// Argo CD Applications and PrometheusRules, one per namespace, and an Alertmanager.
fn add_gitops_alerting(o: &mut Objects, rng: &mut Rng) {
    o.dynamic.mark_served(DynKind::ArgoApplication);
    o.dynamic.mark_served(DynKind::PrometheusRule);
    o.dynamic.mark_served(DynKind::Alertmanager);
    let namespaces: Vec<String> = o
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    for ns in namespaces {
        let drifted = rng.chance(3);
        o.dynamic
            .get_mut(DynKind::ArgoApplication)
            .get_or_insert_default()
            .push(dynamic(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": ns, "namespace": "argocd"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/platform.git",
                               "targetRevision": if drifted { "0123456789abcdef0123456789abcdef01234567" } else { "main" },
                               "path": format!("apps/{ns}")},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
                },
                "status": {
                    "sync": {"status": if drifted { "OutOfSync" } else { "Synced" },
                             "revision": "89abcdef0123456789abcdef0123456789abcdef"},
                    "health": {"status": "Healthy"},
                    "reconciledAt": "2026-06-14T00:00:00Z",
                    "operationState": {"phase": "Succeeded", "finishedAt": "2026-06-14T00:00:00Z"}
                }
            })));
        o.dynamic
            .get_mut(DynKind::PrometheusRule)
            .get_or_insert_default()
            .push(dynamic(json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                "metadata": {"name": "availability", "namespace": ns},
                "spec": {"groups": [{"name": format!("{ns}.availability"), "rules": [
                    {"alert": "DeploymentUnavailable",
                     "expr": format!("kube_deployment_status_replicas_available{{namespace=\"{ns}\"}} < 1"),
                     "for": "5m", "labels": {"severity": "critical"}},
                    {"record": "namespace:available_replicas", "expr": "sum(kube_deployment_status_replicas_available)"}
                ]}]}
            })));
    }
    o.dynamic
        .get_mut(DynKind::Alertmanager)
        .get_or_insert_default()
        .push(dynamic(json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
            "metadata": {"name": "main", "namespace": "monitoring"},
            "spec": {"replicas": 3},
            "status": {"replicas": 3, "availableReplicas": 3}
        })));
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
        assert!(a.dynamic.is_empty(), "no optional tools unless asked");
    }

    #[test]
    fn ecosystem_objects_are_added_on_request_and_trimmed() {
        let mut o = generate(4_000, 7);
        let before = o.len();
        add_ecosystem(&mut o, 500, 7);
        let reports = o
            .dynamic
            .get(DynKind::TrivyVulnerabilityReport)
            .expect("served");
        assert_eq!(reports.len(), 500);
        let vuln = &reports[0].data["report"]["vulnerabilities"][0];
        assert!(vuln.get("description").is_none() && vuln.get("title").is_none());
        assert!(vuln.get("fixedVersion").is_some());
        let certs = o
            .dynamic
            .get(DynKind::CertManagerCertificate)
            .expect("served");
        assert!(!certs.is_empty());
        let namespaces = o.namespaces.len();
        for kind in [DynKind::ArgoApplication, DynKind::PrometheusRule] {
            assert_eq!(o.dynamic.get(kind).expect("served").len(), namespaces);
        }
        assert_eq!(
            o.dynamic.get(DynKind::Alertmanager).expect("served").len(),
            1
        );
        assert_eq!(o.len(), before + 500 + certs.len() + 2 * namespaces + 1);
    }
}
