//! `rbac.secrets-access`: subjects that may read every Secret of the cluster (through a
//! ClusterRoleBinding) or of a namespace (through a RoleBinding to a Role or ClusterRole),
//! outside an allowlist.
//!
//! A rule limited by `resourceNames` reads only the named Secrets and is not reported.
//! Kubernetes' own identities in bootstrap-managed bindings and ServiceAccounts of namespaces
//! outside the scope are not reported, and RoleBindings in namespaces outside the scope are
//! not examined (see the `rbac` module docs).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::{Resolver, RoleKey, bindings, grants_any, has_wildcard};
use super::{SubjectPattern, allowed, join, reportable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct SecretsAccess;

/// Parameters of `rbac.secrets-access`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsAccessParams {
    /// Subjects that may read Secrets cluster-wide (and so in any namespace). Default: the
    /// `system:masters` group and every ServiceAccount in `kube-system`
    /// (`[{kind: Group, name: "system:masters"}, {kind: ServiceAccount, name: "*", namespace: kube-system}]`).
    pub allowed_subjects: Vec<SubjectPattern>,
    /// Subjects that may read every Secret of a namespace through a RoleBinding there (but not
    /// cluster-wide), e.g. a namespace's own deployer. Default: `[]`.
    pub allowed_namespaced_subjects: Vec<SubjectPattern>,
    /// Verbs that count as reading. Default: `["get", "list", "watch"]`.
    pub verbs: Vec<String>,
    /// Also examine RoleBindings (in in-scope namespaces); `false` looks at
    /// ClusterRoleBindings only. Default: `true`.
    pub include_role_bindings: bool,
    /// Also report Kubernetes' own identities (ServiceAccounts in `kube-system`, users and
    /// groups named `system:*`, e.g. `system:kube-controller-manager`) in bootstrap-managed
    /// bindings, those labelled `kubernetes.io/bootstrapping: rbac-defaults`, which the API
    /// server recreates at every start. Other subjects in such bindings are always reported.
    /// Default: `false`.
    pub include_bootstrap_managed: bool,
}

impl Default for SecretsAccessParams {
    fn default() -> Self {
        Self {
            allowed_subjects: vec![
                SubjectPattern::new("Group", "system:masters"),
                SubjectPattern::service_account("kube-system", "*"),
            ],
            allowed_namespaced_subjects: Vec::new(),
            verbs: ["get", "list", "watch"].map(String::from).to_vec(),
            include_role_bindings: true,
            include_bootstrap_managed: false,
        }
    }
}

/// What a role grants on Secrets: the verbs (of the configured ones) and the role the first
/// granting rule is written in.
struct SecretRead<'a> {
    verbs: Vec<&'a str>,
    from: &'a str,
}

impl Check for SecretsAccess {
    type Params = SecretsAccessParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.secrets-access",
            title: "Only allowlisted subjects read every Secret of the cluster or a namespace",
            description: "A ClusterRoleBinding, or a RoleBinding in an in-scope namespace, \
                          grants a role that may get, list or watch every Secret (explicitly or \
                          through `*`, not limited by resourceNames) in every namespace or in \
                          that namespace to a subject outside the allowlist.",
            criteria: &["CC6.1", "CC6.3", "C1.1"],
            severity: Severity::High,
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

    fn evaluate(&self, ctx: &Ctx<'_>, params: &SecretsAccessParams) -> Outcome {
        let resolver = Resolver::new(ctx.snapshot);
        let mut cache: HashMap<RoleKey<'_>, Option<SecretRead<'_>>> = HashMap::new();
        let mut checked = 0;
        let mut findings = Vec::new();
        for binding in bindings(ctx.snapshot) {
            if let Some(ns) = binding.namespace
                && (!params.include_role_bindings || !ctx.in_scope(ns))
            {
                continue;
            }
            checked += 1;
            let Some(role) = binding.role() else {
                continue;
            };
            let read = cache
                .entry(role)
                .or_insert_with(|| secret_read(&resolver, &role, &params.verbs));
            let Some(read) = read else {
                continue;
            };
            let subjects: Vec<_> = binding
                .subject_keys()
                .filter(|s| {
                    !allowed(&params.allowed_subjects, s)
                        && (binding.is_cluster()
                            || !allowed(&params.allowed_namespaced_subjects, s))
                        && reportable(ctx, &binding, s, params.include_bootstrap_managed)
                })
                .collect();
            if subjects.is_empty() {
                continue;
            }
            let via = match role {
                RoleKey::Cluster(name) if name != read.from => {
                    format!(" (aggregated from ClusterRole `{}`)", read.from)
                }
                _ => String::new(),
            };
            let (reach, fix) = match binding.namespace {
                None => (
                    "in every namespace".to_string(),
                    "grant Secret access with RoleBindings in the namespaces that need it (or \
                     limit it with resourceNames), or add the subjects to allowedSubjects",
                ),
                Some(ns) => (
                    format!("in namespace `{ns}`"),
                    "limit the rule to the Secrets needed with resourceNames, or add the \
                     subjects to allowedNamespacedSubjects",
                ),
            };
            findings.push(Finding::new(
                binding.resource(),
                format!(
                    "{} lets {} {} Secrets {reach} through {}{via}; {fix}",
                    binding.quoted(),
                    join(&subjects),
                    read.verbs.join("/"),
                    role.quoted(),
                ),
            ));
        }
        Outcome::evaluated(checked, findings)
    }
}

/// The configured verbs a role grants on every Secret; `None` when it grants none.
fn secret_read<'a>(
    resolver: &Resolver<'a>,
    role: &RoleKey<'a>,
    verbs: &'a [String],
) -> Option<SecretRead<'a>> {
    let mut granted: Vec<&'a str> = Vec::new();
    let mut from = None;
    for r in resolver.rules(role)? {
        if !grants_any(r.rule, "", "secrets", verbs) {
            continue;
        }
        from.get_or_insert(r.from);
        let all = has_wildcard(&r.rule.verbs);
        for v in verbs {
            if (all || r.rule.verbs.contains(v)) && !granted.contains(&v.as_str()) {
                granted.push(v);
            }
        }
    }
    granted.sort_unstable();
    Some(SecretRead {
        verbs: granted,
        from: from?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "rbac.secrets-access";

    const FIXTURE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-writer}
rules: [{apiGroups: [""], resources: [secrets], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:kube-controller-manager"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules: [{apiGroups: [""], resources: [secrets], verbs: [create, delete, get, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:kube-controller-manager"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kube-controller-manager"}
subjects: [{kind: User, name: "system:kube-controller-manager"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: controllers-read-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: some-controller, namespace: kube-system}
- {kind: Group, name: "system:masters"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-reads-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: Group, name: devs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-writes-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-writer}
subjects: [{kind: ServiceAccount, name: ci, namespace: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-secret, namespace: team-a}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [app-db], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-reads-its-secret, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-secret}
subjects: [{kind: ServiceAccount, name: app}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-reads-pods, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects: [{kind: Group, name: team-a}]
"#;

    const VIOLATIONS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: vault-reads-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: vault, namespace: vault}
- {kind: ServiceAccount, name: fine, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root-for-erin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: erin}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cluster-admin}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
"#;

    /// RoleBindings that read every Secret of their namespace: through a ClusterRole, through
    /// a Role whose `*` is one resource among others, and in kube-system.
    const NAMESPACED: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-reads-secrets, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: Group, name: team-a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: lister, namespace: team-b}
rules: [{apiGroups: [""], resources: [configmaps, "*"], verbs: [watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lister, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lister}
subjects:
- {kind: ServiceAccount, name: app}
- {kind: ServiceAccount, name: addon, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: addon-secrets, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: User, name: frank}]
"#;

    fn namespaced() -> String {
        format!("{FIXTURE}---\n{NAMESPACED}")
    }

    #[test]
    fn allowlisted_and_limited_readers_pass() {
        let out = run(ID, "", FIXTURE);
        assert!(failing(&out).is_empty(), "{:?}", failing(&out));
        assert_eq!(checked(&out), 6);
    }

    #[test]
    fn cluster_wide_readers_fail() {
        let out = run(ID, "", &format!("{FIXTURE}---\n{VIOLATIONS}"));
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/root-for-erin",
                "ClusterRoleBinding/vault-reads-secrets"
            ]
        );
        let msgs = messages(&out);
        assert!(
            msgs[0].contains("User `erin` get/list/watch Secrets in every namespace"),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].contains("ServiceAccount `vault/vault` get/list"),
            "{}",
            msgs[1]
        );
        assert!(!msgs[1].contains("kube-system"), "{}", msgs[1]);
    }

    #[test]
    fn namespace_wide_readers_fail_naming_the_namespace() {
        let out = run(ID, "", &namespaced());
        assert_eq!(
            failing(&out),
            [
                "RoleBinding/kube-system/addon-secrets",
                "RoleBinding/team-a/team-reads-secrets",
                "RoleBinding/team-b/lister"
            ]
        );
        let msgs = messages(&out);
        assert!(
            msgs[1].contains(
                "lets Group `team-a` get/list Secrets in namespace `team-a` through ClusterRole \
                 `secret-reader`"
            ),
            "{}",
            msgs[1]
        );
        assert!(msgs[1].contains("allowedNamespacedSubjects"), "{}", msgs[1]);
        // The kube-system ServiceAccount is allowlisted by default.
        assert!(
            msgs[2]
                .contains("lets ServiceAccount `team-b/app` watch Secrets in namespace `team-b`"),
            "{}",
            msgs[2]
        );
        assert!(!msgs[2].contains("addon"), "{}", msgs[2]);
    }

    #[test]
    fn namespace_wide_readers_respect_scope() {
        let yaml = namespaced();
        let scope = ScopeFilter::all().excluding(["kube-system", "team-b"]);
        let out = run_scoped(ID, "", &yaml, &scope);
        assert_eq!(failing(&out), ["RoleBinding/team-a/team-reads-secrets"]);
        assert_eq!(checked(&out), 7);
        // Without the default allowlist, the kube-system ServiceAccounts are left out by the
        // scope instead; `system:masters` in a binding of one's own is reported.
        let scope = ScopeFilter::all().excluding(["kube-system"]);
        let out = run_scoped(ID, "allowedSubjects: []", &yaml, &scope);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/controllers-read-secrets",
                "RoleBinding/team-a/team-reads-secrets",
                "RoleBinding/team-b/lister"
            ]
        );
        assert!(!messages(&out)[2].contains("addon"));
    }

    #[test]
    fn aggregated_role_granting_secrets_is_caught() {
        let out = run(ID, "", super::super::AGGREGATED_MONITORING_ADMIN);
        assert_eq!(failing(&out), ["ClusterRoleBinding/dave-monitoring"]);
        assert!(messages(&out)[0].contains("aggregated from ClusterRole `monitoring-secrets`"));
    }

    #[test]
    fn params_change_the_result() {
        let out = run(ID, "verbs: [create]", FIXTURE);
        assert_eq!(failing(&out), ["ClusterRoleBinding/ci-writes-secrets"]);
        let out = run(ID, "allowedSubjects: []", FIXTURE);
        assert_eq!(
            failing(&out),
            ["ClusterRoleBinding/controllers-read-secrets"]
        );
        let out = run(ID, "includeBootstrapManaged: true", FIXTURE);
        assert_eq!(
            failing(&out),
            ["ClusterRoleBinding/system:kube-controller-manager"]
        );
        let yaml = format!("{FIXTURE}---\n{VIOLATIONS}");
        let out = run(
            ID,
            "allowedSubjects: [{kind: User, name: erin}, {kind: ServiceAccount, name: '*', namespace: 'v*'}]",
            &yaml,
        );
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/controllers-read-secrets",
                "ClusterRoleBinding/vault-reads-secrets"
            ]
        );
        let out = run(
            ID,
            "allowedSubjects: [{kind: User, name: erin}, {kind: ServiceAccount, name: '*'}]",
            &yaml,
        );
        assert_eq!(
            failing(&out),
            ["ClusterRoleBinding/controllers-read-secrets"]
        );
    }

    #[test]
    fn namespaced_params_change_the_result() {
        let yaml = format!("{}---\n{VIOLATIONS}", namespaced());
        let out = run(ID, "includeRoleBindings: false", &yaml);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/root-for-erin",
                "ClusterRoleBinding/vault-reads-secrets"
            ]
        );
        assert_eq!(checked(&out), 6);
        // The namespaced allowlist covers RoleBindings only, never a ClusterRoleBinding.
        let out = run(
            ID,
            "allowedNamespacedSubjects: [{kind: Group, name: 'team-*'}, {kind: User, name: erin}, {kind: ServiceAccount, name: app, namespace: team-b}]",
            &yaml,
        );
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/root-for-erin",
                "ClusterRoleBinding/vault-reads-secrets",
                "RoleBinding/kube-system/addon-secrets"
            ]
        );
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(check.validate(Some(&json!({"verbs": "get"}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"includeSystemBindings": true})))
                .is_err()
        );
    }
}
