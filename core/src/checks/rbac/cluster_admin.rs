//! `rbac.cluster-admin`: full access (`cluster-admin`, or `*` verbs on `*` resources) bound to
//! subjects outside an allowlist, cluster-wide or in a namespace.
//!
//! `*` counts wherever it stands in a rule's lists (`verbs: ["*", delete]` is every verb).
//! Kubernetes' own identities in bootstrap-managed bindings and ServiceAccounts of namespaces
//! outside the scope are not reported (see the `rbac` module docs).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::{Resolver, RoleKey, bindings, is_full_access};
use super::{SubjectPattern, allowed, join, reportable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct ClusterAdmin;

/// Parameters of `rbac.cluster-admin`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterAdminParams {
    /// Subjects that may hold full access. Default: `[{kind: Group, name: "system:masters"},
    /// {kind: Group, name: "kubeadm:cluster-admins"}]` (the break-glass groups of Kubernetes and
    /// of kubeadm 1.29+).
    pub allowed_subjects: Vec<SubjectPattern>,
    /// Also report Kubernetes' own identities (ServiceAccounts in `kube-system`, users and
    /// groups named `system:*`) in bootstrap-managed bindings, those labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`, which the API server recreates at every
    /// start. Other subjects in such bindings are always reported. Default: `false`.
    pub include_bootstrap_managed: bool,
}

impl Default for ClusterAdminParams {
    fn default() -> Self {
        Self {
            allowed_subjects: vec![
                SubjectPattern::new("Group", "system:masters"),
                SubjectPattern::new("Group", "kubeadm:cluster-admins"),
            ],
            include_bootstrap_managed: false,
        }
    }
}

/// The ClusterRole Kubernetes ships with full access.
const CLUSTER_ADMIN: &str = "cluster-admin";

impl Check for ClusterAdmin {
    type Params = ClusterAdminParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.cluster-admin",
            title: "Full access is bound only to allowlisted subjects",
            description: "A ClusterRoleBinding or RoleBinding grants cluster-admin, or a role with \
                          `*` verbs on `*` resources in the `*` or core API group, to a subject \
                          outside the allowlist.",
            criteria: &["CC6.1", "CC6.2", "CC6.3"],
            severity: Severity::Critical,
            remediable: false,
            admission: true,
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

    fn evaluate(&self, ctx: &Ctx<'_>, params: &ClusterAdminParams) -> Outcome {
        let resolver = Resolver::new(ctx.snapshot);
        // Per role: `Some(name of the role the full-access rule is written in)`.
        let mut full_access: HashMap<RoleKey<'_>, Option<&str>> = HashMap::new();
        let mut checked = 0;
        let mut findings = Vec::new();
        for binding in bindings(ctx.snapshot) {
            if binding.namespace.is_some_and(|ns| !ctx.in_scope(ns)) {
                continue;
            }
            checked += 1;
            let Some(role) = binding.role() else {
                continue;
            };
            let source = *full_access.entry(role).or_insert_with(|| {
                if role == RoleKey::Cluster(CLUSTER_ADMIN) {
                    return Some(CLUSTER_ADMIN);
                }
                resolver
                    .rules(&role)?
                    .iter()
                    .find(|r| is_full_access(r.rule))
                    .map(|r| r.from)
            });
            let Some(source) = source else {
                continue;
            };
            let subjects: Vec<_> = binding
                .subject_keys()
                .filter(|s| {
                    !allowed(&params.allowed_subjects, s)
                        && reportable(ctx, &binding, s, params.include_bootstrap_managed)
                })
                .collect();
            if subjects.is_empty() {
                continue;
            }
            let via = match role {
                RoleKey::Cluster(name) if name != source => {
                    format!(" (aggregated from ClusterRole `{source}`)")
                }
                _ => String::new(),
            };
            let reach = match binding.namespace {
                Some(ns) => format!("full access to namespace `{ns}`"),
                None => "full access to the whole cluster".to_string(),
            };
            findings.push(Finding::new(
                binding.resource(),
                format!(
                    "{} grants {reach} through {}{via} to {}; bind a role with only the \
                     permissions needed, or add the subjects to allowedSubjects if they must \
                     be administrators",
                    binding.quoted(),
                    role.quoted(),
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

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "rbac.cluster-admin";

    /// Kubernetes' own objects: must never be flagged with default params.
    const DEFAULTS: &str = r#"
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
metadata:
  name: cluster-admin
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:masters"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:controller:generic-garbage-collector"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:controller:generic-garbage-collector"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: "system:controller:generic-garbage-collector"
subjects:
- {kind: ServiceAccount, name: generic-garbage-collector, namespace: kube-system}
"#;

    fn with_defaults(extra: &str) -> String {
        format!("{DEFAULTS}---\n{extra}")
    }

    const USER_ADMIN: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:masters"}
"#;

    const NAMESPACED_ADMIN: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-admin, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
"#;

    #[test]
    fn kubernetes_defaults_pass() {
        let out = run(ID, "", DEFAULTS);
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn user_bound_to_cluster_admin_fails() {
        let out = run(ID, "", &with_defaults(USER_ADMIN));
        assert_eq!(failing(&out), ["ClusterRoleBinding/alice-admin"]);
        let msg = &messages(&out)[0];
        assert!(msg.contains("User `alice`"), "{msg}");
        assert!(!msg.contains("system:masters"), "{msg}");
        assert!(msg.contains("whole cluster"), "{msg}");
    }

    #[test]
    fn wildcard_role_counts_as_cluster_admin() {
        let out = run(
            ID,
            "",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: god}
rules:
- {apiGroups: [""], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: apps-only}
rules:
- {apiGroups: [apps], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-god}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: god}
subjects: [{kind: ServiceAccount, name: ci, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: apps-only}
subjects: [{kind: ServiceAccount, name: ci, namespace: ci}]
"#,
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/ci-god"]);
    }

    #[test]
    fn aggregated_role_with_full_access_is_caught() {
        let out = run(
            ID,
            "",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: platform-admin}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.com/aggregate-to-platform-admin: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: platform-everything
  labels: {example.com/aggregate-to-platform-admin: "true"}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: carol-platform}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: platform-admin}
subjects: [{kind: User, name: carol}]
"#,
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/carol-platform"]);
        assert!(messages(&out)[0].contains("aggregated from ClusterRole `platform-everything`"));
    }

    #[test]
    fn namespaced_cluster_admin_is_flagged_with_namespace() {
        let out = run(ID, "", &with_defaults(NAMESPACED_ADMIN));
        assert_eq!(failing(&out), ["RoleBinding/team-a/bob-admin"]);
        assert!(messages(&out)[0].contains("namespace `team-a`"));
    }

    #[test]
    fn namespaced_bindings_respect_scope() {
        let yaml = with_defaults(NAMESPACED_ADMIN);
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["team-a"]));
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn bootstrap_bindings_are_checked_when_asked() {
        let out = run(ID, "includeBootstrapManaged: true", DEFAULTS);
        assert_eq!(
            failing(&out),
            ["ClusterRoleBinding/system:controller:generic-garbage-collector"]
        );
        // The control's scope still applies: the subject is a kube-system ServiceAccount.
        let out = run_scoped(
            ID,
            "includeBootstrapManaged: true",
            DEFAULTS,
            &ScopeFilter::all().excluding(["kube-system"]),
        );
        assert!(failing(&out).is_empty());
    }

    /// The API server keeps subjects added to its own bindings: the label hides only its own.
    #[test]
    fn a_user_added_to_a_bootstrap_binding_is_reported() {
        let yaml = DEFAULTS.replace(
            "- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:masters\"}",
            "- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:masters\"}\n\
             - {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}\n\
             - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: \"system:authenticated\"}",
        );
        assert_ne!(yaml, DEFAULTS);
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), ["ClusterRoleBinding/cluster-admin"]);
        let msg = &messages(&out)[0];
        assert!(
            msg.contains("User `mallory`, Group `system:authenticated`"),
            "{msg}"
        );
        assert!(!msg.contains("system:masters"), "{msg}");
    }

    /// A ClusterRoleBinding is judged by its subject's namespace; a non-bootstrap binding with
    /// the same problem is still reported.
    #[test]
    fn service_accounts_outside_the_scope_are_not_reported() {
        let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: addon-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: addon, namespace: kube-system}
- {kind: User, name: "system:serviceaccount:kube-system:other"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: ci, namespace: ci}
- {kind: ServiceAccount, name: addon, namespace: kube-system}
"#;
        let scope = ScopeFilter::all().excluding(["kube-system"]);
        let out = run_scoped(ID, "", yaml, &scope);
        assert_eq!(failing(&out), ["ClusterRoleBinding/ci-admin"]);
        let msg = &messages(&out)[0];
        assert!(msg.contains("ServiceAccount `ci/ci`") && !msg.contains("kube-system"));
        let out = run(ID, "", yaml);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/addon-admin",
                "ClusterRoleBinding/ci-admin"
            ]
        );
    }

    #[test]
    fn a_wildcard_among_other_entries_is_full_access() {
        let out = run(
            ID,
            "",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: sneaky}
rules:
- {apiGroups: [apps, "*"], resources: [deployments, "*"], verbs: [get, "*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: almost}
rules:
- {apiGroups: [apps, "*"], resources: [deployments, "*"], verbs: [get, list, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: sneaky}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: sneaky}
subjects: [{kind: User, name: eve}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: almost}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: almost}
subjects: [{kind: User, name: eve}]
"#,
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/sneaky"]);
    }

    #[test]
    fn a_system_name_without_the_bootstrap_label_is_not_exempt() {
        let out = run(
            ID,
            "",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:sneaky"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: mallory}]
"#,
        );
        assert_eq!(failing(&out), ["ClusterRoleBinding/system:sneaky"]);
    }

    #[test]
    fn allowed_subjects_change_the_result() {
        let yaml = with_defaults(&format!("{USER_ADMIN}---\n{NAMESPACED_ADMIN}"));
        let out = run(
            ID,
            "allowedSubjects: [{kind: Group, name: 'system:masters'}, {kind: User, name: alice}]",
            &yaml,
        );
        assert_eq!(failing(&out), ["RoleBinding/team-a/bob-admin"]);
        let out = run(ID, "allowedSubjects: []", &yaml);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/alice-admin",
                "RoleBinding/team-a/bob-admin"
            ]
        );
        let out = run(
            ID,
            "{allowedSubjects: [], includeBootstrapManaged: true}",
            &yaml,
        );
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/alice-admin",
                "ClusterRoleBinding/cluster-admin",
                "ClusterRoleBinding/system:controller:generic-garbage-collector",
                "RoleBinding/team-a/bob-admin"
            ]
        );
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"allowedSubjects": [{"kind": "User"}]})))
                .is_err()
        );
        assert!(check.validate(None).is_ok());
    }
}
