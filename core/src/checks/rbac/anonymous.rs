//! `rbac.anonymous`: bindings that grant anything to unauthenticated requests.
//!
//! Unlike the other `rbac` checks, bootstrap-managed bindings are not skipped here: the only
//! anonymous grant Kubernetes bootstraps is `system:public-info-viewer`, which the
//! `allowedBindings` default names, and anyone who adds `system:anonymous` or
//! `system:unauthenticated` to another bootstrap-managed binding (say `system:discovery`) can
//! remove it again, since the API server keeps added subjects. Anonymous subjects are not
//! ServiceAccounts, so the scope rule for ServiceAccounts does not apply either; RoleBindings
//! in namespaces outside the scope are not examined.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::join;
use super::resolve::{SubjectKey, bindings};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct Anonymous;

/// Parameters of `rbac.anonymous`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AnonymousParams {
    /// Bindings allowed to name anonymous subjects: a ClusterRoleBinding by name, a
    /// RoleBinding as `namespace/name`. Default: `["system:public-info-viewer",
    /// "kube-public/kubeadm:bootstrap-signer-clusterinfo"]` (the Kubernetes default that exposes
    /// `/version`, `/healthz`, `/livez` and `/readyz`, and kubeadm's public `cluster-info`
    /// ConfigMap used to join nodes).
    pub allowed_bindings: Vec<String>,
}

impl Default for AnonymousParams {
    fn default() -> Self {
        Self {
            allowed_bindings: vec![
                "system:public-info-viewer".to_string(),
                "kube-public/kubeadm:bootstrap-signer-clusterinfo".to_string(),
            ],
        }
    }
}

/// Whether a subject stands for unauthenticated requests.
fn is_anonymous(subject: &SubjectKey<'_>) -> bool {
    matches!(
        (subject.kind, subject.name),
        ("User", "system:anonymous") | ("Group", "system:unauthenticated")
    )
}

impl Check for Anonymous {
    type Params = AnonymousParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.anonymous",
            title: "Nothing is granted to anonymous requests",
            description: "A ClusterRoleBinding or RoleBinding names the `system:anonymous` user \
                          or the `system:unauthenticated` group, beyond the allowed defaults.",
            criteria: &["CC6.1"],
            severity: Severity::Critical,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::ClusterRole,
            crate::snapshot::KindId::ClusterRoleBinding,
            crate::snapshot::KindId::Role,
            crate::snapshot::KindId::RoleBinding,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &AnonymousParams) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for binding in bindings(ctx.snapshot) {
            if binding.namespace.is_some_and(|ns| !ctx.in_scope(ns)) {
                continue;
            }
            checked += 1;
            let subjects: Vec<_> = binding.subject_keys().filter(is_anonymous).collect();
            if subjects.is_empty() {
                continue;
            }
            let key = match binding.namespace {
                Some(ns) => format!("{ns}/{}", binding.name),
                None => binding.name.to_string(),
            };
            if params.allowed_bindings.contains(&key) {
                continue;
            }
            let role = binding
                .role()
                .map_or_else(|| format!("`{}`", binding.role_ref.name), |r| r.quoted());
            findings.push(Finding::new(
                binding.resource(),
                format!(
                    "{} grants {role} to {} (any unauthenticated request); remove these \
                     subjects, or add `{key}` to allowedBindings if the access is meant to be \
                     public",
                    binding.quoted(),
                    join(&subjects),
                ),
            ));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "rbac.anonymous";

    const DEFAULTS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:public-info-viewer"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:public-info-viewer"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:unauthenticated"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:basic-user"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:basic-user"}
subjects: [{kind: Group, name: "system:authenticated"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "kubeadm:bootstrap-signer-clusterinfo", namespace: kube-public}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kubeadm:bootstrap-signer-clusterinfo"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:anonymous"}]
"#;

    const VIOLATIONS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: open-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects: [{kind: User, name: "system:anonymous"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cluster-info, namespace: kube-public}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cluster-info-reader}
subjects: [{kind: Group, name: "system:unauthenticated"}]
"#;

    #[test]
    fn kubernetes_defaults_pass() {
        let out = run(ID, "", DEFAULTS);
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 3);
    }

    #[test]
    fn anonymous_bindings_fail() {
        let out = run(ID, "", &format!("{DEFAULTS}---\n{VIOLATIONS}"));
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/open-metrics",
                "RoleBinding/kube-public/cluster-info"
            ]
        );
    }

    #[test]
    fn namespaced_bindings_respect_scope() {
        let yaml = format!("{DEFAULTS}---\n{VIOLATIONS}");
        let out = run_scoped(
            ID,
            "",
            &yaml,
            &ScopeFilter::all().excluding(["kube-public"]),
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/open-metrics"]);
        assert_eq!(checked(&out), 3);
    }

    #[test]
    fn allowed_bindings_change_the_result() {
        let yaml = format!("{DEFAULTS}---\n{VIOLATIONS}");
        let out = run(
            ID,
            "allowedBindings: ['system:public-info-viewer', kube-public/cluster-info, 'kube-public/kubeadm:bootstrap-signer-clusterinfo']",
            &yaml,
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/open-metrics"]);
        let out = run(ID, "allowedBindings: []", DEFAULTS);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/system:public-info-viewer",
                "RoleBinding/kube-public/kubeadm:bootstrap-signer-clusterinfo"
            ]
        );
    }

    /// The bootstrap label does not hide anonymous subjects added to Kubernetes' bindings.
    #[test]
    fn anonymous_added_to_a_bootstrap_binding_fails() {
        let yaml = format!(
            "{DEFAULTS}---\n{}",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:discovery"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:discovery"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:unauthenticated"}
"#
        );
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), ["ClusterRoleBinding/system:discovery"]);
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
