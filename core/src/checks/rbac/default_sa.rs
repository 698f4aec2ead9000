//! `rbac.default-serviceaccount`: `default` ServiceAccounts that are bound to roles or mount
//! their token into pods. Remediable (`Enforce` sets `automountServiceAccountToken: false`).
//!
//! Only `default` ServiceAccounts of in-scope namespaces are examined. The finding is about the
//! account, so a binding naming it counts wherever the binding is, except Kubernetes' own
//! (`kube-system/default`) in a bootstrap-managed binding. See the `rbac` module docs.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::reportable;
use super::resolve::bindings;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct DefaultServiceAccount;

/// Parameters of `rbac.default-serviceaccount`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultServiceAccountParams {
    /// Fail when a `default` ServiceAccount does not set
    /// `automountServiceAccountToken: false`. Default: `true`.
    pub require_automount_disabled: bool,
    /// Allow bindings that name a `default` ServiceAccount. Default: `false`.
    pub allow_bindings: bool,
    /// Also count bootstrap-managed bindings (labelled `kubernetes.io/bootstrapping:
    /// rbac-defaults`, recreated by the API server at every start) that name
    /// `kube-system/default`. Other subjects in such bindings always count. Default: `false`.
    pub include_bootstrap_managed: bool,
}

impl Default for DefaultServiceAccountParams {
    fn default() -> Self {
        Self {
            require_automount_disabled: true,
            allow_bindings: false,
            include_bootstrap_managed: false,
        }
    }
}

const DEFAULT: &str = "default";

impl Check for DefaultServiceAccount {
    type Params = DefaultServiceAccountParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.default-serviceaccount",
            title: "Default ServiceAccounts hold no permissions and mount no token",
            description: "In an in-scope namespace, the `default` ServiceAccount is a subject of \
                          a RoleBinding or ClusterRoleBinding, or does not set \
                          `automountServiceAccountToken: false`.",
            criteria: &["CC6.3"],
            severity: Severity::Medium,
            remediable: true,
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

    fn evaluate(&self, ctx: &Ctx<'_>, params: &DefaultServiceAccountParams) -> Outcome {
        let snapshot = ctx.snapshot;
        // Namespace -> bindings naming its `default` ServiceAccount, in snapshot order.
        let mut bound: HashMap<&str, Vec<String>> = HashMap::new();
        if !params.allow_bindings {
            for binding in bindings(snapshot) {
                for subject in binding.subject_keys() {
                    if !reportable(ctx, &binding, &subject, params.include_bootstrap_managed) {
                        continue;
                    }
                    if let Some((ns, DEFAULT)) = subject.service_account() {
                        let list = bound.entry(ns).or_default();
                        let quoted = binding.quoted();
                        if !list.contains(&quoted) {
                            list.push(quoted);
                        }
                    }
                }
            }
        }

        let mut checked = 0;
        let mut findings = Vec::new();
        for sa in snapshot.service_accounts.iter() {
            if sa.metadata.name.as_deref() != Some(DEFAULT) {
                continue;
            }
            let ns = sa.metadata.namespace.as_deref().unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            if params.require_automount_disabled
                && sa.automount_service_account_token != Some(false)
            {
                problems.push(
                    "mounts its token into every pod that does not opt out; set \
                     automountServiceAccountToken: false on it"
                        .to_string(),
                );
            }
            if let Some(list) = bound.get(ns) {
                problems.push(format!(
                    "is a subject of {}, so every pod that does not name a ServiceAccount gets \
                     that access; give the workloads their own ServiceAccount and bind that \
                     instead",
                    list.join(", ")
                ));
            }
            if !problems.is_empty() {
                findings.push(Finding::new(
                    ResourceRef::new("ServiceAccount", Some(ns), DEFAULT),
                    format!(
                        "ServiceAccount `{ns}/default` {}",
                        problems.join("; it also ")
                    ),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "rbac.default-serviceaccount";

    const COMPLIANT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: team-a}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: app}]
"#;

    const VIOLATIONS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: team-b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: team-c}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team-c-default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: team-c}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-edit, namespace: team-c}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: default}]
"#;

    fn all() -> String {
        format!("{COMPLIANT}---\n{VIOLATIONS}")
    }

    #[test]
    fn locked_down_default_account_passes() {
        let out = run(ID, "", COMPLIANT);
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn automounting_or_bound_default_accounts_fail() {
        let out = run(ID, "", &all());
        assert_eq!(
            failing(&out),
            [
                "ServiceAccount/team-b/default",
                "ServiceAccount/team-c/default"
            ]
        );
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(
            findings[0]
                .message
                .contains("automountServiceAccountToken: false")
        );
        assert!(
            findings[1]
                .message
                .contains("ClusterRoleBinding `team-c-default`, RoleBinding `team-c/default-edit`"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn params_change_the_result() {
        let out = run(ID, "requireAutomountDisabled: false", &all());
        assert_eq!(failing(&out), ["ServiceAccount/team-c/default"]);
        let out = run(ID, "allowBindings: true", &all());
        assert_eq!(failing(&out), ["ServiceAccount/team-b/default"]);
        let out = run(
            ID,
            "{requireAutomountDisabled: false, allowBindings: true}",
            &all(),
        );
        assert!(failing(&out).is_empty());
    }

    #[test]
    fn scope_and_missing_accounts() {
        let out = run_scoped(
            ID,
            "",
            &all(),
            &ScopeFilter::all().excluding(["team-b", "team-c"]),
        );
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 1);
        // A namespace without a `default` ServiceAccount object is not a finding.
        let out = run(
            ID,
            "",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: empty}\n",
        );
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 0);
    }

    #[test]
    fn bootstrap_managed_bindings_of_kube_system_default_are_skipped_unless_asked() {
        let yaml = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: kube-system}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: team-a}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:example"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: kube-system}]
"#;
        let out = run(ID, "", yaml);
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 2);
        let out = run(ID, "includeBootstrapManaged: true", yaml);
        assert_eq!(failing(&out), ["ServiceAccount/kube-system/default"]);
        // Another namespace's default account added to the same binding counts.
        let added = yaml.replace(
            "subjects: [{kind: ServiceAccount, name: default, namespace: kube-system}]",
            "subjects: [{kind: ServiceAccount, name: default, namespace: kube-system}, \
             {kind: ServiceAccount, name: default, namespace: team-a}]",
        );
        let out = run(ID, "", &added);
        assert_eq!(failing(&out), ["ServiceAccount/team-a/default"]);
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
