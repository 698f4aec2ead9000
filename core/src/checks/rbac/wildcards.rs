//! `rbac.wildcards`: non-system Roles and ClusterRoles with `*` in verbs, resources or API
//! groups (anywhere in the list: `verbs: [get, "*"]` counts).
//!
//! Bootstrap-managed roles are skipped, and by default so are roles that nothing in the scope
//! uses: a role counts as bound only through a binding examined under the shared rules (a
//! RoleBinding in an in-scope namespace, with a subject that is not a ServiceAccount of a
//! namespace outside the scope, nor one of Kubernetes' own identities in a bootstrap-managed
//! binding; see the `rbac` module docs).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::{Resolver, RoleKey, bindings, has_wildcard, is_bootstrap};
use super::{glob, reportable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct Wildcards;

/// Parameters of `rbac.wildcards`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WildcardsParams {
    /// Role and ClusterRole names not checked; a trailing `*` matches a prefix. Default:
    /// `["system:*", "cluster-admin", "admin", "edit", "view"]`.
    pub ignore_roles: Vec<String>,
    /// Also check bootstrap-managed roles, those labelled `kubernetes.io/bootstrapping:
    /// rbac-defaults`, which the API server recreates at every start; also count bindings of
    /// Kubernetes' own identities in bootstrap-managed bindings as uses of a role. Default:
    /// `false`.
    pub include_bootstrap_managed: bool,
    /// Skip roles that no examined binding grants to a reported subject, directly or through
    /// an aggregated ClusterRole that selects them: bindings in namespaces outside the scope,
    /// ServiceAccounts of namespaces outside the scope, and Kubernetes' own identities in
    /// bootstrap-managed bindings do not count as uses. Default: `true`.
    pub ignore_unbound: bool,
}

impl Default for WildcardsParams {
    fn default() -> Self {
        Self {
            ignore_roles: ["system:*", "cluster-admin", "admin", "edit", "view"]
                .map(String::from)
                .to_vec(),
            include_bootstrap_managed: false,
            ignore_unbound: true,
        }
    }
}

impl Check for Wildcards {
    type Params = WildcardsParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.wildcards",
            title: "Roles list their permissions explicitly",
            description: "A non-system Role or ClusterRole has a rule with `*` in its verbs, \
                          resources or API groups.",
            criteria: &["CC6.3"],
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

    fn evaluate(&self, ctx: &Ctx<'_>, params: &WildcardsParams) -> Outcome {
        let snapshot = ctx.snapshot;
        let resolver = Resolver::new(snapshot);

        // Roles in use, and for ClusterRoles selected by a bound aggregated role, which
        // aggregated roles carry their rules.
        let mut bound: HashSet<RoleKey<'_>> = HashSet::new();
        let mut queue: Vec<&str> = Vec::new();
        for binding in bindings(snapshot) {
            if binding.namespace.is_some_and(|ns| !ctx.in_scope(ns))
                || !binding
                    .subject_keys()
                    .any(|s| reportable(ctx, &binding, &s, params.include_bootstrap_managed))
            {
                continue;
            }
            if let Some(role) = binding.role()
                && bound.insert(role)
                && let RoleKey::Cluster(name) = role
            {
                queue.push(name);
            }
        }
        let mut carried_by: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        while let Some(aggregate) = queue.pop() {
            for &component in resolver.aggregated_from(aggregate) {
                carried_by.entry(component).or_default().insert(aggregate);
                if bound.insert(RoleKey::Cluster(component)) {
                    queue.push(component);
                }
            }
        }

        let mut checked = 0;
        let mut findings = Vec::new();
        let mut examine = |key: RoleKey<'_>, meta: &ObjectMeta, rules: &[PolicyRule]| {
            checked += 1;
            let name = match key {
                RoleKey::Cluster(name) | RoleKey::Namespaced(_, name) => name,
            };
            if params.ignore_roles.iter().any(|p| glob(p, name))
                || (!params.include_bootstrap_managed && is_bootstrap(meta))
                || (params.ignore_unbound && !bound.contains(&key))
            {
                return;
            }
            // An aggregated ClusterRole's rules are the controller's copy of the selected
            // roles' rules: those roles are reported instead, where the fix belongs.
            if matches!(key, RoleKey::Cluster(n) if resolver.is_aggregated(n)) {
                return;
            }
            let offending: Vec<String> = rules
                .iter()
                .enumerate()
                .filter_map(|(i, rule)| describe(rule).map(|fields| format!("rule {i} ({fields})")))
                .collect();
            if offending.is_empty() {
                return;
            }
            let carried = match key {
                RoleKey::Cluster(name) => carried_by
                    .get(name)
                    .map(|aggs| {
                        let aggs: Vec<String> = aggs.iter().map(|a| format!("`{a}`")).collect();
                        format!(" (aggregated into ClusterRole {})", aggs.join(", "))
                    })
                    .unwrap_or_default(),
                RoleKey::Namespaced(..) => String::new(),
            };
            let (kind, ns) = match key {
                RoleKey::Cluster(_) => ("ClusterRole", None),
                RoleKey::Namespaced(ns, _) => ("Role", Some(ns)),
            };
            findings.push(Finding::new(
                ResourceRef::new(kind, ns, name),
                format!(
                    "{}{carried} uses `*` in {}; list the verbs, resources and API groups it \
                     needs explicitly",
                    key.quoted(),
                    offending.join(", "),
                ),
            ));
        };

        for role in snapshot.cluster_roles.iter() {
            let name = role.metadata.name.as_deref().unwrap_or("");
            examine(
                RoleKey::Cluster(name),
                &role.metadata,
                role.rules.as_deref().unwrap_or(&[]),
            );
        }
        for role in snapshot.roles.iter() {
            let ns = role.metadata.namespace.as_deref().unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            let name = role.metadata.name.as_deref().unwrap_or("");
            examine(
                RoleKey::Namespaced(ns, name),
                &role.metadata,
                role.rules.as_deref().unwrap_or(&[]),
            );
        }
        Outcome::evaluated(checked, findings)
    }
}

/// Which fields of a rule hold `*`, e.g. `verbs, resources`; `None` when none does.
fn describe(rule: &PolicyRule) -> Option<String> {
    let fields: Vec<&str> = [
        ("verbs", has_wildcard(&rule.verbs)),
        (
            "resources",
            has_wildcard(rule.resources.as_deref().unwrap_or(&[])),
        ),
        (
            "apiGroups",
            has_wildcard(rule.api_groups.as_deref().unwrap_or(&[])),
        ),
    ]
    .into_iter()
    .filter_map(|(field, wild)| wild.then_some(field))
    .collect();
    (!fields.is_empty()).then(|| fields.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "rbac.wildcards";

    const FIXTURE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-admin
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:controller:namespace-controller"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: [delete, deletecollection, get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubeadm-thing
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules: [{apiGroups: [""], resources: ["*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [pods, services], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team-a}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get]}
- {apiGroups: [apps], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: unused-wild}
rules: [{apiGroups: ["*"], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: Group, name: auditors}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: Group, name: ops}]
"#;

    #[test]
    fn explicit_and_system_roles_pass() {
        let yaml = FIXTURE.replace(
            r#"resources: ["*"], verbs: ["*"]}"#,
            "resources: [x], verbs: [get]}",
        );
        let out = run(ID, "", &yaml);
        assert!(failing(&out).is_empty(), "{:?}", failing(&out));
        assert_eq!(checked(&out), 6);
    }

    #[test]
    fn bound_wildcard_role_fails_with_rule_index() {
        let out = run(ID, "", FIXTURE);
        assert_eq!(failing(&out), ["Role/team-a/deployer"]);
        let msg = &messages(&out)[0];
        assert!(msg.contains("rule 1 (verbs, resources)"), "{msg}");
        assert!(!msg.contains("rule 0"), "{msg}");
    }

    #[test]
    fn params_change_the_result() {
        let out = run(ID, "ignoreUnbound: false", FIXTURE);
        assert_eq!(
            failing(&out),
            ["ClusterRole/unused-wild", "Role/team-a/deployer"]
        );
        let out = run(ID, "ignoreRoles: [deploy*]", FIXTURE);
        assert!(failing(&out).is_empty());
        let out = run(
            ID,
            "ignoreRoles: []\nincludeBootstrapManaged: true",
            FIXTURE,
        );
        assert_eq!(
            failing(&out),
            ["ClusterRole/cluster-admin", "Role/team-a/deployer"]
        );
    }

    /// A role used only by ServiceAccounts of namespaces outside the scope is not reported;
    /// the same role bound to an in-scope subject is.
    #[test]
    fn roles_used_only_outside_the_scope_are_not_reported() {
        let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cni-agent}
rules: [{apiGroups: [""], resources: [pods, "*"], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cni-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cni-agent}
subjects: [{kind: ServiceAccount, name: cni, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cni-agent, namespace: kube-public}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cni-agent}
subjects: [{kind: User, name: ops}]
"#;
        let scope = ScopeFilter::all().excluding(["kube-system", "kube-public"]);
        let out = run_scoped(ID, "", yaml, &scope);
        assert!(failing(&out).is_empty(), "{:?}", failing(&out));
        assert_eq!(checked(&out), 1);
        let out = run_scoped(ID, "ignoreUnbound: false", yaml, &scope);
        assert_eq!(failing(&out), ["ClusterRole/cni-agent"]);
        let out = run_scoped(ID, "", yaml, &ScopeFilter::all().excluding(["kube-public"]));
        assert_eq!(failing(&out), ["ClusterRole/cni-agent"]);
        assert!(messages(&out)[0].contains("rule 0 (resources)"));
        let in_scope = format!(
            "{yaml}---\n{}",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cni-debug}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cni-agent}
subjects: [{kind: ServiceAccount, name: debug, namespace: team-a}]
"#
        );
        let out = run_scoped(ID, "", &in_scope, &scope);
        assert_eq!(failing(&out), ["ClusterRole/cni-agent"]);
    }

    #[test]
    fn roles_respect_scope() {
        let out = run_scoped(ID, "", FIXTURE, &ScopeFilter::all().excluding(["team-a"]));
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 5);
    }

    #[test]
    fn role_aggregated_into_a_bound_role_is_caught() {
        let out = run(ID, "", super::super::AGGREGATED_MONITORING_ADMIN);
        assert_eq!(failing(&out), ["ClusterRole/monitoring-secrets"]);
        let msg = &messages(&out)[0];
        assert!(
            msg.contains("aggregated into ClusterRole `monitoring-admin`")
                && msg.contains("rule 0 (verbs)"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"ignoreUnbound": "yes"})))
                .is_err()
        );
    }
}
