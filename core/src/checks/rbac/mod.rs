//! Checks of the `rbac` domain, and the access-review matrix.
//!
//! Every check and the matrix go through [`resolve`], which resolves aggregated ClusterRoles,
//! RoleBinding→ClusterRole references and Role references once per evaluation. This module
//! owns the shared parameter types and the matrix; each check lives in its own submodule.
//!
//! # What every check leaves out
//!
//! Findings are about objects someone can fix, in the control's scope. Every check applies two
//! rules (see [`reportable`]):
//!
//! - **Bootstrap-managed objects.** Roles and bindings labelled
//!   `kubernetes.io/bootstrapping: rbac-defaults` are Kubernetes' own: the API server recreates
//!   them at every start, so editing them fixes nothing. They are skipped unless the check's
//!   `includeBootstrapManaged` parameter is `true`. For a binding, what is skipped is
//!   Kubernetes' own identities in it ([`is_kubernetes_identity`]: ServiceAccounts in
//!   `kube-system`, users and groups named `system:*`). Any other subject in such a binding
//!   is still reported: the API server's reconciliation adds missing subjects but keeps extra
//!   ones, so a user added to the `cluster-admin` binding stays there, and the label does not
//!   hide it. The same goes for `system:anonymous` and the groups everyone belongs to
//!   (`system:authenticated`, `system:unauthenticated`, `system:serviceaccounts*`).
//! - **ServiceAccounts outside the scope.** A ServiceAccount subject (or a
//!   `system:serviceaccount:<ns>:<name>` user) whose namespace is outside the control's scope
//!   is not reported, in ClusterRoleBindings too: a ClusterRoleBinding is cluster-scoped, so it
//!   is judged by its subject's namespace. RoleBindings in namespaces outside the scope are not
//!   examined at all.
//!
//! `rbac.anonymous` applies neither: it only looks at anonymous subjects, which are never
//! skipped, and its `allowedBindings` lists the defaults that are meant to be public.

mod access_review;
mod anonymous;
mod cluster_admin;
mod default_sa;
mod orphaned;
mod privilege_escalation;
pub(crate) mod resolve;
mod secrets;
mod usage;
mod wildcards;

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Catalog, Ctx};
use crate::snapshot::ClusterSnapshot;
use resolve::{Binding, Resolver, SubjectKey, bindings};

pub use access_review::AccessReviewCurrentParams;
pub use anonymous::AnonymousParams;
pub use cluster_admin::ClusterAdminParams;
pub use default_sa::DefaultServiceAccountParams;
pub use orphaned::OrphanedSubjectsParams;
pub use privilege_escalation::PrivilegeEscalationParams;
pub use secrets::SecretsAccessParams;
pub use usage::{ServiceAccountUse, service_account_use};
pub use wildcards::WildcardsParams;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(cluster_admin::ClusterAdmin);
    catalog.add(wildcards::Wildcards);
    catalog.add(secrets::SecretsAccess);
    catalog.add(anonymous::Anonymous);
    catalog.add(orphaned::OrphanedSubjects);
    catalog.add(default_sa::DefaultServiceAccount);
    catalog.add(privilege_escalation::PrivilegeEscalation);
    catalog.add(access_review::AccessReviewCurrent);
}

/// The namespace of `kube-system`, where Kubernetes' own ServiceAccounts live.
const KUBE_SYSTEM: &str = "kube-system";

/// Whether a subject is one of Kubernetes' own identities, the kind the API server names in
/// the bindings it bootstraps: a ServiceAccount in `kube-system`, or a user or group named
/// `system:*` other than `system:anonymous`, ServiceAccount users of other namespaces, and the
/// groups everyone is in (`system:authenticated`, `system:unauthenticated`,
/// `system:serviceaccounts` and `system:serviceaccounts:<ns>`).
pub(crate) fn is_kubernetes_identity(subject: &SubjectKey<'_>) -> bool {
    if let Some((ns, _)) = subject.service_account() {
        return ns == KUBE_SYSTEM;
    }
    let Some(rest) = subject.name.strip_prefix("system:") else {
        return false;
    };
    match subject.kind {
        "User" => rest != "anonymous",
        "Group" => {
            !matches!(rest, "authenticated" | "unauthenticated")
                && !rest.starts_with("serviceaccounts")
        }
        _ => false,
    }
}

/// Whether a check reports `subject` of `binding`, by the rules every check shares (see the
/// module docs): not a ServiceAccount of a namespace outside the scope, and not one of
/// Kubernetes' own identities in a bootstrap-managed binding unless `include_bootstrap`. The
/// caller skips RoleBindings in namespaces outside the scope itself.
pub(crate) fn reportable(
    ctx: &Ctx<'_>,
    binding: &Binding<'_>,
    subject: &SubjectKey<'_>,
    include_bootstrap: bool,
) -> bool {
    if let Some((ns, _)) = subject.service_account()
        && !ctx.in_scope(ns)
    {
        return false;
    }
    include_bootstrap || !binding.is_bootstrap_managed() || !is_kubernetes_identity(subject)
}

/// A subject an allowlist accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubjectPattern {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name; a trailing `*` matches every name with that prefix (`*` alone: any name).
    pub name: String,
    /// Namespace of a ServiceAccount (a trailing `*` as for `name`); omitted: any namespace.
    /// Ignored for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl SubjectPattern {
    /// A pattern without namespace.
    pub fn new(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: None,
        }
    }

    /// A ServiceAccount pattern.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            kind: "ServiceAccount".to_string(),
            name: name.to_string(),
            namespace: Some(namespace.to_string()),
        }
    }

    /// Whether the pattern accepts a subject. A User named
    /// `system:serviceaccount:<ns>:<name>` is also matched as that ServiceAccount.
    pub(crate) fn matches(&self, subject: &SubjectKey<'_>) -> bool {
        if self.kind == "ServiceAccount" {
            return subject.service_account().is_some_and(|(ns, name)| {
                glob(&self.name, name) && self.namespace.as_deref().is_none_or(|p| glob(p, ns))
            });
        }
        self.kind == subject.kind && glob(&self.name, subject.name)
    }
}

/// Whether any pattern accepts the subject.
pub(crate) fn allowed(patterns: &[SubjectPattern], subject: &SubjectKey<'_>) -> bool {
    patterns.iter().any(|p| p.matches(subject))
}

/// `pattern` equals `value`, or ends with `*` and `value` starts with the rest.
pub(crate) fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Every subject of every RoleBinding and ClusterRoleBinding, as binding-ledger keys
/// ([`crate::activity::subject_key`]): what the operator's binding ledger observes.
pub fn bound_subjects(snapshot: &ClusterSnapshot) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for b in resolve::bindings(snapshot) {
        out.extend(
            b.subject_keys()
                .map(|s| crate::activity::subject_key(s.kind, s.namespace, s.name)),
        );
    }
    out
}

/// Subjects with full access to the whole cluster: bound by a ClusterRoleBinding to
/// `cluster-admin` or to a ClusterRole with `*` verbs on `*` resources (aggregation resolved),
/// as binding-ledger keys, each with the first binding that grants it (backquoted).
pub fn cluster_admins(snapshot: &ClusterSnapshot) -> BTreeMap<String, String> {
    let resolver = resolve::Resolver::new(snapshot);
    let mut out = BTreeMap::new();
    for binding in resolve::bindings(snapshot).filter(|b| b.is_cluster()) {
        let Some(role) = binding.role() else { continue };
        let full = role == resolve::RoleKey::Cluster("cluster-admin")
            || resolver
                .rules(&role)
                .is_some_and(|rules| rules.iter().any(|r| resolve::is_full_access(r.rule)));
        if !full {
            continue;
        }
        for s in binding.subject_keys() {
            out.entry(crate::activity::subject_key(s.kind, s.namespace, s.name))
                .or_insert_with(|| binding.quoted());
        }
    }
    out
}

/// Joins display items with `, `.
pub(crate) fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who may do what, normalized: each bound role's rules are listed once in [`roles`], and each
/// subject lists only which role it holds, where, and through which binding. A role's rules
/// are not copied per subject, so thousands of subjects bound to one large role cost one rule
/// list plus one small [`Grant`] each. [`AccessMatrix::effective_rules`] joins them back.
///
/// A binding to a role that is missing from the snapshot still appears as a [`Grant`] (so an
/// auditor sees it), but its role key has no entry in [`roles`]: it grants nothing.
///
/// [`roles`]: AccessMatrix::roles
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessMatrix {
    /// Every role that some binding with subjects references, with its effective rules
    /// (aggregated ClusterRoles resolved), keyed `ClusterRole/name` or `Role/ns/name`. Roles
    /// missing from the snapshot have no entry, even when a [`Grant`] names them.
    pub roles: BTreeMap<String, Vec<RoleRule>>,
    /// One entry per subject, sorted by kind, name and namespace.
    pub subjects: Vec<SubjectAccess>,
}

/// One effective rule of a role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRule {
    /// API groups.
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Resource names (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// `ClusterRole/name` the rule is written in, when the role is an aggregated ClusterRole
    /// that got it by aggregation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregated_from: Option<String>,
}

/// One subject's access.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccess {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Subject name.
    pub name: String,
    /// Namespace (ServiceAccounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The roles the subject holds, sorted (namespace, role, binding) and deduplicated.
    pub grants: Vec<Grant>,
}

/// One role held by a subject through one binding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// Namespace the grant is limited to; `None` means cluster-wide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `ClusterRole/name` or `Role/ns/name`: the key of the role's rules in
    /// [`AccessMatrix::roles`]. No entry there means the role is missing from the snapshot.
    pub role: String,
    /// `ClusterRoleBinding/name` or `RoleBinding/ns/name` that grants it.
    pub binding: String,
}

impl AccessMatrix {
    /// Every rule a subject holds, as `(namespace, rule, grant)`: the namespace the rule is
    /// limited to (`None`: cluster-wide), the rule, and the grant it comes through. In grant
    /// order, then rule order; grants of roles missing from the snapshot yield nothing.
    pub fn effective_rules<'a>(
        &'a self,
        subject: &'a SubjectAccess,
    ) -> impl Iterator<Item = (Option<&'a str>, &'a RoleRule, &'a Grant)> + 'a {
        subject.grants.iter().flat_map(move |grant| {
            self.roles
                .get(&grant.role)
                .into_iter()
                .flatten()
                .map(move |rule| (grant.namespace.as_deref(), rule, grant))
        })
    }
}

/// Builds the access-review matrix from a snapshot (aggregated ClusterRoles resolved). A
/// RoleBinding grants in its namespace only, even when it binds a ClusterRole. Subjects are
/// sorted by kind, name and namespace; each subject's grants are sorted and deduplicated, as
/// are each role's rules. Only roles referenced by a binding with subjects are listed. A
/// binding to a role missing from the snapshot is kept as a grant whose role has no entry in
/// [`AccessMatrix::roles`]; a binding with an invalid roleRef (a Role in a
/// ClusterRoleBinding, a foreign API group) references no role and is left out.
pub fn access_matrix(snapshot: &ClusterSnapshot) -> AccessMatrix {
    let resolver = Resolver::new(snapshot);
    let mut roles: BTreeMap<String, Vec<RoleRule>> = BTreeMap::new();
    let mut role_names: HashMap<resolve::RoleKey<'_>, String> = HashMap::new();
    let mut by_subject: BTreeMap<SubjectKey<'_>, Vec<Grant>> = BTreeMap::new();
    for binding in bindings(snapshot) {
        if binding.subjects.is_empty() {
            continue;
        }
        let Some(role) = binding.role() else {
            continue;
        };
        let role_name = role_names
            .entry(role)
            .or_insert_with(|| {
                let name = role.to_string();
                if let Some(rules) = resolver.rules(&role) {
                    roles.insert(name.clone(), role_rules(role, rules));
                }
                name
            })
            .clone();
        let grant = Grant {
            namespace: binding.namespace.map(str::to_string),
            role: role_name,
            binding: binding.resource().to_string(),
        };
        for subject in binding.subject_keys() {
            by_subject.entry(subject).or_default().push(grant.clone());
        }
    }
    AccessMatrix {
        roles,
        subjects: by_subject
            .into_iter()
            .map(|(subject, mut grants)| {
                grants.sort();
                grants.dedup();
                SubjectAccess {
                    kind: subject.kind.to_string(),
                    name: subject.name.to_string(),
                    namespace: subject.namespace.map(str::to_string),
                    grants,
                }
            })
            .collect(),
    }
}

/// A role's effective rules for the matrix, sorted and deduplicated.
fn role_rules(role: resolve::RoleKey<'_>, rules: &[resolve::EffectiveRule<'_>]) -> Vec<RoleRule> {
    let mut out: Vec<RoleRule> = rules
        .iter()
        .map(|r| RoleRule {
            api_groups: r.rule.api_groups.clone().unwrap_or_default(),
            resources: r.rule.resources.clone().unwrap_or_default(),
            resource_names: r.rule.resource_names.clone().unwrap_or_default(),
            non_resource_urls: r.rule.non_resource_urls.clone().unwrap_or_default(),
            verbs: r.rule.verbs.clone(),
            aggregated_from: match role {
                resolve::RoleKey::Cluster(name) if name != r.from => {
                    Some(format!("ClusterRole/{}", r.from))
                }
                _ => None,
            },
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Test fixture shared by the checks: `monitoring-admin` aggregates `monitoring-secrets` (all
/// verbs on Secrets) and is bound cluster-wide to user `dave`.
#[cfg(test)]
const AGGREGATED_MONITORING_ADMIN: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring-admin}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.com/aggregate-to-monitoring-admin: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-secrets
  labels: {example.com/aggregate-to-monitoring-admin: "true"}
rules: [{apiGroups: [""], resources: [secrets], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dave-monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring-admin}
subjects: [{kind: User, name: dave}]
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::snapshot;

    const MATRIX: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring-admin}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.com/aggregate-to-monitoring-admin: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-secrets
  labels: {example.com/aggregate-to-monitoring-admin: "true"}
rules: [{apiGroups: [""], resources: [secrets], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
- {nonResourceURLs: [/healthz], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: team-a}
rules: [{apiGroups: [""], resources: [configmaps], resourceNames: [settings], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dave-monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring-admin}
subjects: [{kind: User, name: dave}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-view, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: Group, name: devs}
- {kind: ServiceAccount, name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-settings, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects: [{kind: ServiceAccount, name: app, namespace: team-a}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: missing}
subjects: [{kind: User, name: ghost}]
"#;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn access_matrix_resolves_every_path() {
        let matrix = access_matrix(&snapshot(MATRIX));
        let who: Vec<(&str, &str, Option<&str>)> = matrix
            .subjects
            .iter()
            .map(|s| (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()))
            .collect();
        assert_eq!(
            who,
            [
                ("Group", "devs", None),
                ("ServiceAccount", "app", Some("team-a")),
                ("User", "dave", None),
                ("User", "ghost", None),
            ]
        );

        // Only bound roles are listed, each once; the missing Role has no entry.
        let keys: Vec<&str> = matrix.roles.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ClusterRole/monitoring-admin",
                "ClusterRole/view",
                "Role/team-a/cm-reader"
            ]
        );
        // Rules sort per role: the non-resource rule (no API groups) first.
        let view = &matrix.roles["ClusterRole/view"];
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].non_resource_urls, s(&["/healthz"]));
        assert_eq!(view[1].resources, s(&["pods"]));

        // Group subject through a RoleBinding to a ClusterRole: limited to the namespace.
        let devs = &matrix.subjects[0];
        assert_eq!(
            devs.grants,
            [Grant {
                namespace: Some("team-a".into()),
                role: "ClusterRole/view".into(),
                binding: "RoleBinding/team-a/devs-view".into(),
            }]
        );
        let rules: Vec<_> = matrix.effective_rules(devs).collect();
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|(ns, _, _)| *ns == Some("team-a")));
        assert_eq!(rules[0].1.non_resource_urls, s(&["/healthz"]));

        // ServiceAccount: namespace defaulted from the RoleBinding, grants from two bindings,
        // sorted.
        let app = &matrix.subjects[1];
        let roles: Vec<(&str, &str)> = app
            .grants
            .iter()
            .map(|g| (g.role.as_str(), g.binding.as_str()))
            .collect();
        assert_eq!(
            roles,
            [
                ("ClusterRole/view", "RoleBinding/team-a/devs-view"),
                ("Role/team-a/cm-reader", "RoleBinding/team-a/app-settings"),
            ]
        );
        assert_eq!(matrix.effective_rules(app).count(), 3);
        let cm_reader = &matrix.roles["Role/team-a/cm-reader"];
        assert_eq!(cm_reader.len(), 1);
        assert_eq!(cm_reader[0].resource_names, s(&["settings"]));
        assert_eq!(cm_reader[0].aggregated_from, None);

        // Aggregated ClusterRole through a ClusterRoleBinding: cluster-wide.
        let dave = &matrix.subjects[2];
        assert_eq!(
            dave.grants,
            [Grant {
                namespace: None,
                role: "ClusterRole/monitoring-admin".into(),
                binding: "ClusterRoleBinding/dave-monitoring".into(),
            }]
        );
        assert_eq!(
            matrix.roles["ClusterRole/monitoring-admin"],
            [RoleRule {
                api_groups: s(&[""]),
                resources: s(&["secrets"]),
                resource_names: vec![],
                non_resource_urls: vec![],
                verbs: s(&["*"]),
                aggregated_from: Some("ClusterRole/monitoring-secrets".into()),
            }]
        );
        let (ns, rule, grant) = matrix.effective_rules(dave).next().unwrap();
        assert_eq!((ns, grant), (None, &dave.grants[0]));
        assert_eq!(rule.resources, s(&["secrets"]));

        // A binding to a missing role is listed for the auditor but grants no rules.
        let ghost = &matrix.subjects[3];
        assert_eq!(
            ghost.grants,
            [Grant {
                namespace: Some("team-a".into()),
                role: "Role/team-a/missing".into(),
                binding: "RoleBinding/team-a/dangling".into(),
            }]
        );
        assert!(!matrix.roles.contains_key("Role/team-a/missing"));
        assert_eq!(matrix.effective_rules(ghost).count(), 0);
    }

    #[test]
    fn access_matrix_is_deterministic_and_serializes() {
        let snap = snapshot(MATRIX);
        let a = access_matrix(&snap);
        assert_eq!(a, access_matrix(&snap));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json["roles"]["ClusterRole/monitoring-admin"][0]["aggregatedFrom"],
            "ClusterRole/monitoring-secrets"
        );
        assert_eq!(
            json["roles"]["Role/team-a/cm-reader"][0]["resourceNames"],
            serde_json::json!(["settings"])
        );
        assert_eq!(
            json["roles"]["ClusterRole/view"][0],
            serde_json::json!({"apiGroups": [], "resources": [], "nonResourceUrls": ["/healthz"], "verbs": ["get"]})
        );
        assert_eq!(
            json["subjects"][2]["grants"][0],
            serde_json::json!({
                "role": "ClusterRole/monitoring-admin",
                "binding": "ClusterRoleBinding/dave-monitoring"
            })
        );
        assert_eq!(json["subjects"][0]["grants"][0]["namespace"], "team-a");
        assert!(json["subjects"][0].get("namespace").is_none());
    }

    /// 2,000 subjects bound to one 50-rule role: the rules are listed once, each subject gets
    /// one small grant.
    #[test]
    fn access_matrix_lists_a_shared_role_once() {
        use std::sync::Arc;

        use k8s_openapi::api::rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject,
        };
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

        use crate::snapshot::Objects;

        let meta = |ns: Option<&str>, name: &str| ObjectMeta {
            name: Some(name.to_string()),
            namespace: ns.map(str::to_string),
            ..Default::default()
        };
        let role_ref = || RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "big".into(),
        };
        let mut o = Objects::default();
        o.cluster_roles.push(Arc::new(ClusterRole {
            metadata: meta(None, "big"),
            rules: Some(
                (0..50)
                    .map(|i| PolicyRule {
                        api_groups: Some(vec!["example.com".into()]),
                        resources: Some(vec![format!("things{i:02}")]),
                        verbs: s(&["get", "list", "watch"]),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }));
        // 1,000 users in one ClusterRoleBinding, 1,000 ServiceAccounts in RoleBindings.
        o.cluster_role_bindings.push(Arc::new(ClusterRoleBinding {
            metadata: meta(None, "users"),
            role_ref: role_ref(),
            subjects: Some(
                (0..1000)
                    .map(|i| Subject {
                        kind: "User".into(),
                        name: format!("user-{i:04}"),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }));
        for i in 0..1000 {
            o.role_bindings.push(Arc::new(RoleBinding {
                metadata: meta(Some(&format!("ns-{i:04}")), "bot"),
                role_ref: role_ref(),
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "bot".into(),
                    ..Default::default()
                }]),
            }));
        }
        let matrix = access_matrix(&ClusterSnapshot::new(o));

        assert_eq!(matrix.roles.len(), 1);
        assert_eq!(matrix.roles["ClusterRole/big"].len(), 50);
        assert_eq!(matrix.subjects.len(), 2000);
        assert!(matrix.subjects.iter().all(|s| s.grants.len() == 1
            && s.grants[0].role == "ClusterRole/big"
            && s.grants[0].namespace == s.namespace));
        let grants: usize = matrix.subjects.iter().map(|s| s.grants.len()).sum();
        assert_eq!(grants, 2000);
        let bot = matrix
            .subjects
            .iter()
            .find(|s| s.namespace.as_deref() == Some("ns-0042"))
            .unwrap();
        assert_eq!(bot.grants[0].binding, "RoleBinding/ns-0042/bot");
        assert_eq!(matrix.effective_rules(bot).count(), 50);
        assert!(
            matrix
                .effective_rules(bot)
                .all(|(ns, _, _)| ns == Some("ns-0042"))
        );
        // One rule list plus 2,000 small grants, instead of 100,000 copied rules (~10 MB).
        let size = serde_json::to_vec(&matrix).unwrap().len();
        assert!(size < 400_000, "{size} bytes");
    }

    #[test]
    fn catalog_entries() {
        use crate::checks::{Severity, catalog};
        let expect = [
            (
                "rbac.cluster-admin",
                &["CC6.1", "CC6.2", "CC6.3"][..],
                Severity::Critical,
                false,
                true,
            ),
            (
                "rbac.wildcards",
                &["CC6.3"][..],
                Severity::High,
                false,
                false,
            ),
            (
                "rbac.secrets-access",
                &["CC6.1", "CC6.3", "C1.1"][..],
                Severity::High,
                false,
                false,
            ),
            (
                "rbac.anonymous",
                &["CC6.1"][..],
                Severity::Critical,
                false,
                false,
            ),
            (
                "rbac.orphaned-subjects",
                &["CC6.2"][..],
                Severity::Medium,
                false,
                false,
            ),
            (
                "rbac.default-serviceaccount",
                &["CC6.3"][..],
                Severity::Medium,
                true,
                false,
            ),
            (
                "rbac.privilege-escalation",
                &["CC6.1", "CC6.3"][..],
                Severity::High,
                false,
                false,
            ),
        ];
        for (id, criteria, severity, remediable, admission) in expect {
            let check = catalog()
                .get(id)
                .unwrap_or_else(|| panic!("{id} registered"));
            let meta = check.meta();
            assert_eq!(
                (
                    meta.id,
                    meta.criteria,
                    meta.severity,
                    meta.remediable,
                    meta.admission
                ),
                (id, criteria, severity, remediable, admission)
            );
            assert!(check.default_params().is_object(), "{id}");
        }
        let defaults = catalog()
            .get("rbac.secrets-access")
            .unwrap()
            .default_params();
        assert_eq!(
            defaults["allowedSubjects"][1],
            serde_json::json!({"kind": "ServiceAccount", "name": "*", "namespace": "kube-system"})
        );
    }

    #[test]
    fn kubernetes_identities() {
        let key = |kind, name, namespace| SubjectKey {
            kind,
            name,
            namespace,
        };
        for own in [
            key("ServiceAccount", "node-controller", Some("kube-system")),
            key("User", "system:serviceaccount:kube-system:kube-dns", None),
            key("User", "system:kube-scheduler", None),
            key("Group", "system:masters", None),
            key("Group", "system:monitoring", None),
        ] {
            assert!(is_kubernetes_identity(&own), "{own}");
        }
        for other in [
            key("ServiceAccount", "node-controller", Some("team-a")),
            key("User", "system:serviceaccount:team-a:app", None),
            key("User", "system:anonymous", None),
            key("User", "alice", None),
            key("Group", "system:authenticated", None),
            key("Group", "system:unauthenticated", None),
            key("Group", "system:serviceaccounts", None),
            key("Group", "system:serviceaccounts:kube-system", None),
            key("Group", "admins", None),
        ] {
            assert!(!is_kubernetes_identity(&other), "{other}");
        }
    }

    /// The baseline's scope for the `rbac` controls.
    fn baseline_scope() -> crate::checks::ScopeFilter {
        crate::checks::ScopeFilter::all().excluding([
            "kube-system",
            "kube-public",
            "kube-node-lease",
        ])
    }

    /// Every object a v1.24 API server and controller manager create by themselves, plus
    /// `extra` (YAML documents).
    fn fresh_cluster(extra: &str) -> ClusterSnapshot {
        use crate::snapshot::manifests;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fresh-cluster-v1.24");
        let mut report = manifests::load(&dir).expect("fixture loads");
        assert_eq!(report.files, 6);
        let mut ignored = Default::default();
        let path = std::path::Path::new("extra.yaml");
        for doc in manifests::parse_documents(path, extra).expect("extra parses") {
            let api_version = doc["apiVersion"].as_str().unwrap().to_string();
            let kind = doc["kind"].as_str().unwrap().to_string();
            manifests::add_object(&mut report.objects, &mut ignored, &api_version, &kind, doc)
                .expect("extra object is valid");
        }
        // An extra ServiceAccount replaces the fixture's of the same name.
        let accounts = std::mem::take(&mut report.objects.service_accounts);
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<_> = accounts
            .into_iter()
            .rev()
            .filter(|sa| seen.insert((sa.metadata.namespace.clone(), sa.metadata.name.clone())))
            .collect();
        kept.reverse();
        report.objects.service_accounts = kept;
        ClusterSnapshot::new(report.objects)
    }

    /// `(check, resource)` of every finding of every `rbac` check, each with `params`.
    fn rbac_findings(
        snap: &ClusterSnapshot,
        scope: &crate::checks::ScopeFilter,
        params: &serde_json::Value,
    ) -> Vec<(String, String)> {
        use crate::checks::{Ctx, Outcome, catalog};
        let ctx = Ctx {
            snapshot: snap,
            scope,
            now: crate::checks::testing::now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        let ids: Vec<&str> = catalog()
            .ids()
            // The access-review check reads the control's attestations, not the cluster.
            .filter(|id| id.starts_with("rbac.") && *id != "rbac.access-review-current")
            .collect();
        assert_eq!(ids.len(), 7, "{ids:?}");
        let mut out = Vec::new();
        for id in ids {
            let check = catalog().get(id).unwrap();
            // Only the parameters the check has.
            let defaults = check.default_params();
            let own: serde_json::Map<String, serde_json::Value> = params
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| defaults.get(k.as_str()).is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match check.run(&ctx, Some(&own.into())).unwrap() {
                Outcome::Evaluated { findings, .. } => out.extend(
                    findings
                        .into_iter()
                        .map(|f| (id.to_string(), f.resource.to_string())),
                ),
                Outcome::NotApplicable { reason } => panic!("{id}: {reason}"),
            }
        }
        out
    }

    /// A fresh API server under the baseline's scope: nothing to fix in RBAC. The one finding
    /// is real and fixable: the `default` namespace's `default` ServiceAccount mounts its
    /// token (the controller manager creates it so, and leaves a changed account alone).
    #[test]
    fn a_fresh_cluster_has_no_rbac_findings() {
        let snap = fresh_cluster("");
        assert_eq!(snap.cluster_role_bindings.len(), 43);
        assert_eq!(snap.role_bindings.len(), 7);
        assert_eq!(snap.service_accounts.len(), 30);
        let none = serde_json::json!({});
        assert_eq!(
            rbac_findings(&snap, &baseline_scope(), &none),
            [(
                "rbac.default-serviceaccount".to_string(),
                "ServiceAccount/default/default".to_string()
            )]
        );
        // With that account fixed, every check is clean.
        let fixed = fresh_cluster(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: default}\n\
             automountServiceAccountToken: false\n",
        );
        assert_eq!(fixed.service_accounts.len(), 30);
        let clean = rbac_findings(&fixed, &baseline_scope(), &none);
        assert!(clean.is_empty(), "{clean:?}");
        // With every namespace in scope, the bootstrap-managed objects are still skipped; only
        // kube-system's `default` account, now in scope, mounts its token.
        assert_eq!(
            rbac_findings(&fixed, &crate::checks::ScopeFilter::all(), &none),
            [(
                "rbac.default-serviceaccount".to_string(),
                "ServiceAccount/kube-system/default".to_string()
            )]
        );
    }

    /// `includeBootstrapManaged` brings the bootstrap-managed objects back: the four
    /// ClusterRoleBindings of a fresh API server whose ServiceAccounts never get created (no
    /// cloud controller, no kube-dns), and six RoleBindings in kube-system and kube-public
    /// naming accounts of components that are not running (or not yet). The baseline's scope
    /// still leaves them out: they are all kube-system ServiceAccounts.
    #[test]
    fn a_fresh_cluster_with_bootstrap_managed_objects_included() {
        let snap = fresh_cluster("");
        let include = serde_json::json!({"includeBootstrapManaged": true});
        let all = crate::checks::ScopeFilter::all();
        let orphaned: Vec<String> = rbac_findings(&snap, &all, &include)
            .into_iter()
            .filter(|(id, _)| id == "rbac.orphaned-subjects")
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            orphaned,
            [
                "ClusterRoleBinding/system:controller:node-controller",
                "ClusterRoleBinding/system:controller:route-controller",
                "ClusterRoleBinding/system:controller:service-controller",
                "ClusterRoleBinding/system:kube-dns",
                "RoleBinding/kube-public/system:controller:bootstrap-signer",
                "RoleBinding/kube-system/system::leader-locking-kube-controller-manager",
                "RoleBinding/kube-system/system::leader-locking-kube-scheduler",
                "RoleBinding/kube-system/system:controller:bootstrap-signer",
                "RoleBinding/kube-system/system:controller:cloud-provider",
                "RoleBinding/kube-system/system:controller:token-cleaner",
            ]
        );
        // Under the baseline's scope, the kube-system ServiceAccounts stay out; Kubernetes'
        // own users and groups come back: `system:masters` holds full access, and the
        // controller manager mints ServiceAccount tokens and reads every Secret.
        let in_scope = rbac_findings(&snap, &baseline_scope(), &include);
        assert_eq!(
            in_scope,
            [
                (
                    "rbac.default-serviceaccount",
                    "ServiceAccount/default/default"
                ),
                ("rbac.privilege-escalation", "Group/system:masters"),
                (
                    "rbac.privilege-escalation",
                    "User/system:kube-controller-manager"
                ),
                (
                    "rbac.secrets-access",
                    "ClusterRoleBinding/system:kube-controller-manager"
                ),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let ctx = crate::checks::Ctx {
            snapshot: &snap,
            scope: &baseline_scope(),
            now: crate::checks::testing::now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        let out = crate::checks::catalog()
            .get("rbac.privilege-escalation")
            .unwrap()
            .run(&ctx, Some(&include))
            .unwrap();
        let crate::checks::Outcome::Evaluated { findings, .. } = out else {
            panic!("not evaluated")
        };
        assert!(findings[0].message.contains(
            "Group `system:masters` holds privilege-escalation paths: full access to the whole \
             cluster via ClusterRoleBinding `cluster-admin` (ClusterRole `cluster-admin`);"
        ));
        assert!(findings[1].message.contains(
            "User `system:kube-controller-manager` holds privilege-escalation paths: create \
             ServiceAccount tokens cluster-wide via ClusterRoleBinding \
             `system:kube-controller-manager` (ClusterRole `system:kube-controller-manager`);"
        ));
    }

    /// Bindings of one's own with the same problems as the bootstrap ones are reported.
    #[test]
    fn a_fresh_cluster_with_handmade_bindings_is_reported() {
        let snap = fresh_cluster(
            r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: default}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: old-app}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:route-controller"}
subjects: [{kind: ServiceAccount, name: old-app, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: route-controller-copy}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:route-controller"}
subjects: [{kind: ServiceAccount, name: route-controller, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: "system:serviceaccount:default:deployer"}]
"#,
        );
        let none = serde_json::json!({});
        assert_eq!(
            rbac_findings(&snap, &baseline_scope(), &none),
            [
                ("rbac.orphaned-subjects", "ClusterRoleBinding/old-app"),
                ("rbac.orphaned-subjects", "RoleBinding/default/deployer"),
                (
                    "rbac.privilege-escalation",
                    "ServiceAccount/default/deployer"
                ),
                ("rbac.secrets-access", "RoleBinding/default/deployer"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // With every namespace in scope, the copy naming a kube-system account is reported.
        let all: Vec<(String, String)> =
            rbac_findings(&snap, &crate::checks::ScopeFilter::all(), &none)
                .into_iter()
                .filter(|(id, _)| id == "rbac.orphaned-subjects")
                .collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].1, "ClusterRoleBinding/route-controller-copy");
    }

    #[test]
    fn subject_patterns() {
        let sa = SubjectKey {
            kind: "ServiceAccount",
            name: "coredns",
            namespace: Some("kube-system"),
        };
        let sa_user = SubjectKey {
            kind: "User",
            name: "system:serviceaccount:kube-system:coredns",
            namespace: None,
        };
        let group = SubjectKey {
            kind: "Group",
            name: "system:masters",
            namespace: None,
        };
        let any_kube_system = SubjectPattern::service_account("kube-system", "*");
        assert!(any_kube_system.matches(&sa));
        assert!(any_kube_system.matches(&sa_user));
        assert!(!any_kube_system.matches(&group));
        assert!(!SubjectPattern::service_account("kube-*", "dns").matches(&sa));
        assert!(SubjectPattern::new("ServiceAccount", "core*").matches(&sa));
        assert!(SubjectPattern::new("Group", "system:*").matches(&group));
        assert!(!SubjectPattern::new("User", "system:masters").matches(&group));
    }

    /// 2,000 namespaces with 10 RoleBindings each (9 to an aggregated ClusterRole), plus Roles
    /// and ServiceAccounts: every check and the matrix stay linear (this would take minutes
    /// with per-binding role resolution or bindings × roles loops).
    #[test]
    fn large_clusters_evaluate_quickly() {
        use std::sync::Arc;

        use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
        use k8s_openapi::api::rbac::v1::{
            AggregationRule, ClusterRole, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        };
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

        use crate::checks::{Ctx, ScopeFilter, catalog};
        use crate::snapshot::Objects;

        let meta = |ns: Option<&str>, name: &str, labels: &[(&str, &str)]| ObjectMeta {
            name: Some(name.to_string()),
            namespace: ns.map(str::to_string),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            ..Default::default()
        };
        let rule = |resource: &str, verbs: &[&str]| PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec![resource.to_string()]),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        };
        let mut o = Objects::default();
        o.cluster_roles.push(Arc::new(ClusterRole {
            metadata: meta(None, "team-admin", &[]),
            aggregation_rule: Some(AggregationRule {
                cluster_role_selectors: Some(vec![LabelSelector {
                    match_labels: Some([("agg".to_string(), "team".to_string())].into()),
                    ..Default::default()
                }]),
            }),
            rules: None,
        }));
        for i in 0..20 {
            o.cluster_roles.push(Arc::new(ClusterRole {
                metadata: meta(None, &format!("part-{i}"), &[("agg", "team")]),
                rules: Some(vec![rule(&format!("things{i}"), &["get", "list"])]),
                ..Default::default()
            }));
        }
        for n in 0..2000 {
            let ns = format!("ns-{n}");
            o.namespaces.push(Arc::new(Namespace {
                metadata: meta(None, &ns, &[]),
                ..Default::default()
            }));
            o.service_accounts.push(Arc::new(ServiceAccount {
                metadata: meta(Some(&ns), "default", &[]),
                ..Default::default()
            }));
            o.roles.push(Arc::new(Role {
                metadata: meta(Some(&ns), "local", &[]),
                rules: Some(vec![rule("*", &["*"])]),
            }));
            for b in 0..10 {
                let (kind, name) = if b == 0 {
                    ("Role", "local")
                } else {
                    ("ClusterRole", "team-admin")
                };
                o.role_bindings.push(Arc::new(RoleBinding {
                    metadata: meta(Some(&ns), &format!("b-{b}"), &[]),
                    role_ref: RoleRef {
                        api_group: Some("rbac.authorization.k8s.io".into()),
                        kind: kind.into(),
                        name: name.into(),
                    },
                    subjects: Some(vec![Subject {
                        kind: "ServiceAccount".into(),
                        name: format!("sa-{b}"),
                        ..Default::default()
                    }]),
                }));
            }
        }
        let snap = ClusterSnapshot::new(o);
        let ctx = Ctx {
            snapshot: &snap,
            scope: &ScopeFilter::all(),
            now: crate::checks::testing::now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        let started = std::time::Instant::now();
        let findings = |id: &str| match catalog().get(id).unwrap().run(&ctx, None).unwrap() {
            crate::checks::Outcome::Evaluated { findings, .. } => findings.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(findings("rbac.cluster-admin"), 2000);
        assert_eq!(findings("rbac.wildcards"), 2000);
        // The same Role reads every Secret of its namespace.
        assert_eq!(findings("rbac.secrets-access"), 2000);
        assert_eq!(findings("rbac.anonymous"), 0);
        assert_eq!(findings("rbac.orphaned-subjects"), 20_000);
        assert_eq!(findings("rbac.default-serviceaccount"), 2000);
        // Each namespace's `*` Role is full access to that namespace.
        assert_eq!(findings("rbac.privilege-escalation"), 2000);
        let matrix = access_matrix(&snap);
        assert_eq!(matrix.subjects.len(), 20_000);
        assert_eq!(matrix.roles.len(), 2001);
        assert_eq!(matrix.roles["ClusterRole/team-admin"].len(), 20);
        let sa1 = matrix.subjects.iter().find(|s| s.name == "sa-1").unwrap();
        assert_eq!(sa1.grants.len(), 1);
        assert_eq!(matrix.effective_rules(sa1).count(), 20);
        let elapsed = started.elapsed();
        assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
    }
}
