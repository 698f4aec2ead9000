//! `rbac.orphaned-subjects`: bindings that still name ServiceAccounts that no longer exist.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::join;
use super::resolve::bindings;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Severity};

/// The check.
pub(super) struct OrphanedSubjects;

/// Parameters of `rbac.orphaned-subjects`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OrphanedSubjectsParams {
    /// ServiceAccount namespaces not checked (e.g. accounts created on demand by another
    /// system). Default: `[]`.
    pub ignore_namespaces: Vec<String>,
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
                    })
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
    fn namespaced_bindings_respect_scope_cluster_bindings_do_not() {
        let yaml = format!("{ACCOUNTS}---\n{ORPHANS}");
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["team-a"]));
        assert_eq!(failing(&out), ["ClusterRoleBinding/deleted-namespace"]);
        assert_eq!(checked(&out), 2);
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
