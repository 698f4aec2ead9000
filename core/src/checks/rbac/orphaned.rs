//! `rbac.orphaned-subjects`: bindings that still name ServiceAccounts that no longer exist.
//!
//! A missing ServiceAccount of a namespace outside the control's scope is not reported, in
//! ClusterRoleBindings too (the subject's namespace decides), and neither are Kubernetes' own
//! ServiceAccounts (`kube-system`) in bootstrap-managed bindings: a fresh API server binds
//! accounts of controllers that may never run, such as `kube-system/route-controller`, and
//! recreates those bindings at every start. See the `rbac` module docs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::bindings;
use super::{join, reportable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct OrphanedSubjects;

/// Parameters of `rbac.orphaned-subjects`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OrphanedSubjectsParams {
    /// ServiceAccount namespaces not checked (e.g. accounts created on demand by another
    /// system). Default: `[]`.
    pub ignore_namespaces: Vec<String>,
    /// Also report Kubernetes' own ServiceAccounts (in `kube-system`) in bootstrap-managed
    /// bindings, those labelled `kubernetes.io/bootstrapping: rbac-defaults`, which the API
    /// server recreates at every start (e.g. `system:controller:route-controller` on a cluster
    /// without a cloud controller). Other subjects in such bindings are always reported.
    /// Default: `false`.
    pub include_bootstrap_managed: bool,
}

impl Check for OrphanedSubjects {
    type Params = OrphanedSubjectsParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.orphaned-subjects",
            title: "Bindings name only existing ServiceAccounts",
            description: "A ClusterRoleBinding or RoleBinding names a ServiceAccount that does \
                          not exist, so its access was never removed.",
            criteria: &["CC6.2"],
            severity: Severity::Medium,
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
            crate::snapshot::KindId::ServiceAccount,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &OrphanedSubjectsParams) -> Outcome {
        let snapshot = ctx.snapshot;
        if snapshot.service_accounts.is_empty() {
            return Outcome::not_applicable(
                "the snapshot holds no ServiceAccounts, so it cannot tell which exist",
            );
        }
        let index = snapshot.index();
        let mut checked = 0;
        let mut findings = Vec::new();
        for binding in bindings(snapshot) {
            if binding.namespace.is_some_and(|ns| !ctx.in_scope(ns)) {
                continue;
            }
            checked += 1;
            let missing: Vec<_> = binding
                .subject_keys()
                .filter(|s| {
                    s.service_account().is_some_and(|(ns, name)| {
                        !params.ignore_namespaces.iter().any(|i| i == ns)
                            && !index.has_service_account(ns, name)
                    }) && reportable(ctx, &binding, s, params.include_bootstrap_managed)
                })
                .collect();
            if missing.is_empty() {
                continue;
            }
            let what = if missing.len() == 1 {
                "which does not exist"
            } else {
                "which do not exist"
            };
            findings.push(Finding::new(
                binding.resource(),
                format!(
                    "{} names {}, {what}; remove the subject (or the binding) so that a new \
                     account with that name does not inherit the access",
                    binding.quoted(),
                    join(&missing),
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

    const ID: &str = "rbac.orphaned-subjects";

    const ACCOUNTS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: team-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ci, namespace: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- {kind: ServiceAccount, name: app}
- {kind: User, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: ServiceAccount, name: ci, namespace: ci}
- {kind: User, name: "system:serviceaccount:team-a:app"}
"#;

    const ORPHANS: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: old-app, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- {kind: ServiceAccount, name: old-app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cross, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- {kind: ServiceAccount, name: app, namespace: team-b}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: deleted-namespace}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: exporter, namespace: gone}
- {kind: User, name: "system:serviceaccount:gone:other"}
"#;

    #[test]
    fn existing_accounts_pass() {
        let out = run(ID, "", ACCOUNTS);
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn missing_accounts_fail() {
        let out = run(ID, "", &format!("{ACCOUNTS}---\n{ORPHANS}"));
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/deleted-namespace",
                "RoleBinding/team-a/cross",
                "RoleBinding/team-a/old-app"
            ]
        );
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains(
            "ServiceAccount `gone/exporter`, User `system:serviceaccount:gone:other`, which do not exist"
        ));
        assert!(
            findings[2]
                .message
                .contains("ServiceAccount `team-a/old-app`")
        );
    }

    #[test]
    fn namespaced_bindings_respect_scope() {
        let yaml = format!("{ACCOUNTS}---\n{ORPHANS}");
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["team-a"]));
        assert_eq!(failing(&out), ["ClusterRoleBinding/deleted-namespace"]);
        assert_eq!(checked(&out), 2);
    }

    /// The fresh-cluster case: bootstrap-managed bindings of controllers that do not run.
    const BOOTSTRAP: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:controller:route-controller"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:route-controller"}
subjects: [{kind: ServiceAccount, name: route-controller, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: "system:controller:bootstrap-signer"
  namespace: kube-public
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "system:controller:bootstrap-signer"}
subjects: [{kind: ServiceAccount, name: bootstrap-signer, namespace: kube-system}]
"#;

    /// A binding of someone's own with the same problem.
    const HANDMADE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: old-cni}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cni}
subjects: [{kind: ServiceAccount, name: cni, namespace: kube-system}]
"#;

    #[test]
    fn bootstrap_managed_bindings_are_skipped_unless_asked() {
        let yaml = format!("{ACCOUNTS}---\n{BOOTSTRAP}---\n{HANDMADE}");
        // Every namespace in scope: only the hand-made binding is reported.
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), ["ClusterRoleBinding/old-cni"]);
        let out = run(ID, "includeBootstrapManaged: true", &yaml);
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/old-cni",
                "ClusterRoleBinding/system:controller:route-controller",
                "RoleBinding/kube-public/system:controller:bootstrap-signer"
            ]
        );
        // A subject added to a bootstrap-managed binding is not Kubernetes' own.
        let added = BOOTSTRAP.replace(
            "subjects: [{kind: ServiceAccount, name: route-controller, namespace: kube-system}]",
            "subjects: [{kind: ServiceAccount, name: route-controller, namespace: kube-system}, \
             {kind: ServiceAccount, name: gone, namespace: team-a}]",
        );
        assert_ne!(added, BOOTSTRAP);
        let out = run(ID, "", &format!("{ACCOUNTS}---\n{added}"));
        assert_eq!(
            failing(&out),
            ["ClusterRoleBinding/system:controller:route-controller"]
        );
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(
            findings[0]
                .message
                .contains("ServiceAccount `team-a/gone`, which")
        );
        assert!(
            !findings[0]
                .message
                .contains("ServiceAccount `kube-system/route-controller`")
        );
    }

    /// A ClusterRoleBinding is judged by its subjects' namespaces.
    #[test]
    fn service_accounts_outside_the_scope_are_not_reported() {
        let yaml = format!("{ACCOUNTS}---\n{BOOTSTRAP}---\n{HANDMADE}---\n{ORPHANS}");
        let scope = ScopeFilter::all().excluding(["kube-system", "kube-public", "gone"]);
        let out = run_scoped(ID, "includeBootstrapManaged: true", &yaml, &scope);
        assert_eq!(
            failing(&out),
            ["RoleBinding/team-a/cross", "RoleBinding/team-a/old-app"]
        );
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["gone"]));
        assert_eq!(
            failing(&out),
            [
                "ClusterRoleBinding/old-cni",
                "RoleBinding/team-a/cross",
                "RoleBinding/team-a/old-app"
            ]
        );
    }

    #[test]
    fn ignore_namespaces_changes_the_result() {
        let yaml = format!("{ACCOUNTS}---\n{ORPHANS}");
        let out = run(ID, "ignoreNamespaces: [gone, team-b]", &yaml);
        assert_eq!(failing(&out), ["RoleBinding/team-a/old-app"]);
    }

    #[test]
    fn without_service_accounts_not_applicable() {
        let yaml = ORPHANS;
        assert!(matches!(run(ID, "", yaml), Outcome::NotApplicable { .. }));
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
    }

    use crate::checks::Outcome;
}
