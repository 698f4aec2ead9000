//! RBAC resolution shared by every `rbac` check and the access-review matrix: which rules a
//! role grants (aggregated ClusterRoles resolved), what a binding refers to, and who its
//! subjects are.
//!
//! [`Resolver::new`] computes every role's effective rules once, so checks look them up per
//! binding in constant time. This module decides nothing about compliance.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{Selector, SelectorExt};

use crate::snapshot::{ClusterSnapshot, ResourceRef};

/// The label Kubernetes puts on the roles and bindings it creates itself.
pub(crate) const BOOTSTRAP_LABEL: &str = "kubernetes.io/bootstrapping";
/// The value of [`BOOTSTRAP_LABEL`] on Kubernetes' own RBAC objects.
pub(crate) const BOOTSTRAP_VALUE: &str = "rbac-defaults";
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// The RBAC API group.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Whether an object is one of Kubernetes' default RBAC objects (labelled
/// `kubernetes.io/bootstrapping: rbac-defaults`).
pub(crate) fn is_bootstrap(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(BOOTSTRAP_LABEL))
        .is_some_and(|v| v == BOOTSTRAP_VALUE)
}

/// A role, as a binding names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RoleKey<'a> {
    /// A ClusterRole by name.
    Cluster(&'a str),
    /// A Role by namespace and name.
    Namespaced(&'a str, &'a str),
}

impl fmt::Display for RoleKey<'_> {
    /// `ClusterRole/name` or `Role/ns/name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleKey::Cluster(name) => write!(f, "ClusterRole/{name}"),
            RoleKey::Namespaced(ns, name) => write!(f, "Role/{ns}/{name}"),
        }
    }
}

impl RoleKey<'_> {
    /// Backquoted, for messages: ClusterRole `name` or Role `ns/name`.
    pub(crate) fn quoted(&self) -> String {
        match self {
            RoleKey::Cluster(name) => format!("ClusterRole `{name}`"),
            RoleKey::Namespaced(ns, name) => format!("Role `{ns}/{name}`"),
        }
    }
}

/// One rule a role grants, with the ClusterRole or Role it is written in (for aggregated
/// ClusterRoles, the selected role the rule comes from).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EffectiveRule<'a> {
    /// The rule.
    pub rule: &'a PolicyRule,
    /// Name of the role the rule is written in.
    pub from: &'a str,
}

/// A subject of a binding, with the namespace of a ServiceAccount resolved (it defaults to
/// the binding's namespace in RoleBindings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SubjectKey<'a> {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: &'a str,
    /// Name.
    pub name: &'a str,
    /// Namespace (ServiceAccounts only).
    pub namespace: Option<&'a str>,
}

impl<'a> SubjectKey<'a> {
    /// The ServiceAccount this subject is, if any: a `ServiceAccount` subject, or a `User`
    /// named `system:serviceaccount:<ns>:<name>`. Returns `(namespace, name)`.
    pub(crate) fn service_account(&self) -> Option<(&'a str, &'a str)> {
        match self.kind {
            "ServiceAccount" => Some((self.namespace.unwrap_or(""), self.name)),
            "User" => self
                .name
                .strip_prefix("system:serviceaccount:")
                .and_then(|rest| rest.split_once(':'))
                .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains(':')),
            _ => None,
        }
    }
}

impl fmt::Display for SubjectKey<'_> {
    /// Backquoted, for messages: User `alice`, ServiceAccount `ns/name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace {
            Some(ns) => write!(f, "{} `{}/{}`", self.kind, ns, self.name),
            None => write!(f, "{} `{}`", self.kind, self.name),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding<'a> {
    /// Namespace; `None` for a ClusterRoleBinding.
    pub namespace: Option<&'a str>,
    /// Name.
    pub name: &'a str,
    /// Metadata (labels).
    pub meta: &'a ObjectMeta,
    /// The role it binds.
    pub role_ref: &'a RoleRef,
    /// Its subjects as written.
    pub subjects: &'a [Subject],
}

impl<'a> Binding<'a> {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub(crate) fn kind(&self) -> &'static str {
        if self.namespace.is_some() {
            "RoleBinding"
        } else {
            "ClusterRoleBinding"
        }
    }

    /// Whether this is a ClusterRoleBinding (grants cluster-wide).
    pub(crate) fn is_cluster(&self) -> bool {
        self.namespace.is_none()
    }

    /// The reference findings name.
    pub(crate) fn resource(&self) -> ResourceRef {
        ResourceRef::new(self.kind(), self.namespace, self.name)
    }

    /// Backquoted, for messages: ClusterRoleBinding `name` or RoleBinding `ns/name`.
    pub(crate) fn quoted(&self) -> String {
        match self.namespace {
            Some(ns) => format!("RoleBinding `{ns}/{}`", self.name),
            None => format!("ClusterRoleBinding `{}`", self.name),
        }
    }

    /// The role it binds: a RoleBinding may name a Role (in its own namespace) or a
    /// ClusterRole; a ClusterRoleBinding only a ClusterRole. `None` for an invalid roleRef.
    pub(crate) fn role(&self) -> Option<RoleKey<'a>> {
        if self
            .role_ref
            .api_group
            .as_deref()
            .is_some_and(|g| !g.is_empty() && g != RBAC_GROUP)
        {
            return None;
        }
        match (self.role_ref.kind.as_str(), self.namespace) {
            ("ClusterRole", _) => Some(RoleKey::Cluster(&self.role_ref.name)),
            ("Role", Some(ns)) => Some(RoleKey::Namespaced(ns, &self.role_ref.name)),
            _ => None,
        }
    }

    /// Whether the binding is bootstrap-managed: labelled `kubernetes.io/bootstrapping:
    /// rbac-defaults` (the API server recreates these at every start).
    pub(crate) fn is_bootstrap_managed(&self) -> bool {
        is_bootstrap(self.meta)
    }

    /// Its subjects, ServiceAccount namespaces resolved. A ServiceAccount subject without a
    /// namespace in a ClusterRoleBinding (invalid) gets namespace `""`.
    pub(crate) fn subject_keys(&self) -> impl Iterator<Item = SubjectKey<'a>> + 'a {
        let binding_ns = self.namespace;
        self.subjects.iter().map(move |s| {
            let namespace = if s.kind == "ServiceAccount" {
                Some(
                    s.namespace
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .or(binding_ns)
                        .unwrap_or(""),
                )
            } else {
                None
            };
            SubjectKey {
                kind: &s.kind,
                name: &s.name,
                namespace,
            }
        })
    }
}

/// Every ClusterRoleBinding, then every RoleBinding, in snapshot order.
pub(crate) fn bindings(snapshot: &ClusterSnapshot) -> impl Iterator<Item = Binding<'_>> {
    let cluster = snapshot.cluster_role_bindings.iter().map(|b| Binding {
        namespace: None,
        name: b.metadata.name.as_deref().unwrap_or(""),
        meta: &b.metadata,
        role_ref: &b.role_ref,
        subjects: b.subjects.as_deref().unwrap_or(&[]),
    });
    let namespaced = snapshot.role_bindings.iter().map(|b| Binding {
        namespace: Some(b.metadata.namespace.as_deref().unwrap_or("")),
        name: b.metadata.name.as_deref().unwrap_or(""),
        meta: &b.metadata,
        role_ref: &b.role_ref,
        subjects: b.subjects.as_deref().unwrap_or(&[]),
    });
    cluster.chain(namespaced)
}

/// Every role's effective rules, computed once per evaluation.
#[derive(Debug, Default)]
pub(crate) struct Resolver<'a> {
    rules: HashMap<RoleKey<'a>, Vec<EffectiveRule<'a>>>,
    /// Aggregated ClusterRole -> the ClusterRoles its selectors select (sorted, itself
    /// excluded).
    selected: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Resolver<'a> {
    /// Resolves every Role and ClusterRole of the snapshot. Aggregated ClusterRoles get the
    /// union of the rules of the ClusterRoles their `clusterRoleSelectors` select (resolved
    /// transitively), plus their own rules; duplicates are dropped.
    pub(crate) fn new(snapshot: &'a ClusterSnapshot) -> Self {
        let by_name: HashMap<&'a str, &'a ClusterRole> = snapshot
            .cluster_roles
            .iter()
            .map(|r| (r.metadata.name.as_deref().unwrap_or(""), r.as_ref()))
            .collect();

        let mut selected: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
        for role in snapshot.cluster_roles.iter() {
            let Some(selectors) = role
                .aggregation_rule
                .as_ref()
                .and_then(|a| a.cluster_role_selectors.as_ref())
            else {
                continue;
            };
            let name = role.metadata.name.as_deref().unwrap_or("");
            // An invalid selector selects nothing, as in the aggregation controller.
            let selectors: Vec<Selector> = selectors
                .iter()
                .filter_map(|s| Selector::try_from(s.clone()).ok())
                .collect();
            let mut picked: Vec<&'a str> = snapshot
                .cluster_roles
                .iter()
                .filter(|other| {
                    let labels = other.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
                    other.metadata.name.as_deref() != Some(name)
                        && selectors.iter().any(|s| s.matches(labels))
                })
                .map(|other| other.metadata.name.as_deref().unwrap_or(""))
                .collect();
            picked.sort_unstable();
            picked.dedup();
            selected.insert(name, picked);
        }

        let mut rules: HashMap<RoleKey<'a>, Vec<EffectiveRule<'a>>> = HashMap::new();
        let mut cluster_memo: HashMap<&'a str, Vec<EffectiveRule<'a>>> = HashMap::new();
        for name in by_name.keys() {
            let mut visiting = HashSet::new();
            resolve_cluster_role(name, &by_name, &selected, &mut cluster_memo, &mut visiting);
        }
        for (name, effective) in cluster_memo {
            rules.insert(RoleKey::Cluster(name), effective);
        }
        for role in snapshot.roles.iter() {
            let ns = role.metadata.namespace.as_deref().unwrap_or("");
            let name = role.metadata.name.as_deref().unwrap_or("");
            let effective = role
                .rules
                .iter()
                .flatten()
                .map(|rule| EffectiveRule { rule, from: name })
                .collect();
            rules.insert(RoleKey::Namespaced(ns, name), effective);
        }
        Self { rules, selected }
    }

    /// The effective rules of a role; `None` when the role does not exist.
    pub(crate) fn rules(&self, role: &RoleKey<'a>) -> Option<&[EffectiveRule<'a>]> {
        self.rules.get(role).map(Vec::as_slice)
    }

    /// The ClusterRoles an aggregated ClusterRole selects (empty for other roles).
    pub(crate) fn aggregated_from(&self, cluster_role: &str) -> &[&'a str] {
        self.selected.get(cluster_role).map_or(&[], Vec::as_slice)
    }

    /// Whether a ClusterRole has an aggregation rule.
    pub(crate) fn is_aggregated(&self, cluster_role: &str) -> bool {
        self.selected.contains_key(cluster_role)
    }
}

/// Resolves one ClusterRole into `memo`. A cycle of aggregations contributes each role once.
fn resolve_cluster_role<'a>(
    name: &'a str,
    by_name: &HashMap<&'a str, &'a ClusterRole>,
    selected: &HashMap<&'a str, Vec<&'a str>>,
    memo: &mut HashMap<&'a str, Vec<EffectiveRule<'a>>>,
    visiting: &mut HashSet<&'a str>,
) {
    if memo.contains_key(name) || !visiting.insert(name) {
        return;
    }
    let Some(role) = by_name.get(name) else {
        return;
    };
    let own = role
        .rules
        .iter()
        .flatten()
        .map(|rule| EffectiveRule { rule, from: name });
    let effective = match selected.get(name) {
        None => own.collect(),
        Some(components) => {
            let mut out: Vec<EffectiveRule<'a>> = Vec::new();
            for component in components {
                resolve_cluster_role(component, by_name, selected, memo, visiting);
                // Mid-cycle roles are not in the memo yet; their own rules still count.
                let inherited: Vec<EffectiveRule<'a>> = match memo.get(component) {
                    Some(rules) => rules.clone(),
                    None => by_name
                        .get(component)
                        .and_then(|r| r.rules.as_ref())
                        .into_iter()
                        .flatten()
                        .map(|rule| EffectiveRule {
                            rule,
                            from: component,
                        })
                        .collect(),
                };
                for r in inherited {
                    push_unique(&mut out, r);
                }
            }
            // A live aggregated role's own rules are the controller's copy of the above.
            for r in own {
                push_unique(&mut out, r);
            }
            out
        }
    };
    visiting.remove(name);
    memo.insert(name, effective);
}

fn push_unique<'a>(out: &mut Vec<EffectiveRule<'a>>, rule: EffectiveRule<'a>) {
    if !out.iter().any(|r| r.rule == rule.rule) {
        out.push(rule);
    }
}

/// Whether a list holds `value` or the wildcard `*` (anywhere in the list, as the API server's
/// authorizer matches API groups and verbs).
pub(crate) fn allows(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// Whether a list holds the wildcard `*` (anywhere in the list).
pub(crate) fn has_wildcard(list: &[String]) -> bool {
    list.iter().any(|v| v == "*")
}

/// Whether a rule's `resources` cover `resource` (`pods`, or `pods/exec` for a subresource) as
/// the API server matches them: `*` anywhere in the list, the exact name, or `*/<subresource>`
/// for a subresource. `pods/*` matches nothing special, as in Kubernetes.
pub(crate) fn resource_allows(list: &[String], resource: &str) -> bool {
    let subresource = resource.split_once('/').map(|(_, sub)| sub);
    list.iter().any(|r| {
        r == "*"
            || r == resource
            || subresource.is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
    })
}

/// Whether a rule grants everything: `*` verbs on `*` resources in the `*` or core API group,
/// not limited by resource names. `*` counts anywhere in a list (`verbs: ["*", delete]`).
pub(crate) fn is_full_access(rule: &PolicyRule) -> bool {
    let groups = rule.api_groups.as_deref().unwrap_or(&[]);
    has_wildcard(&rule.verbs)
        && has_wildcard(rule.resources.as_deref().unwrap_or(&[]))
        && groups.iter().any(|g| g == "*" || g.is_empty())
        && rule.resource_names.as_ref().is_none_or(Vec::is_empty)
}

/// Whether a rule grants any of `verbs` on a resource (or `resource/subresource`) of an API
/// group, for every object of it (not limited by resource names).
pub(crate) fn grants_any(rule: &PolicyRule, group: &str, resource: &str, verbs: &[String]) -> bool {
    rule.resource_names.as_ref().is_none_or(Vec::is_empty)
        && grants_any_named(rule, group, resource, verbs)
}

/// Like [`grants_any`], but a rule limited by `resourceNames` counts too.
pub(crate) fn grants_any_named<S: AsRef<str>>(
    rule: &PolicyRule,
    group: &str,
    resource: &str,
    verbs: &[S],
) -> bool {
    allows(rule.api_groups.as_deref().unwrap_or(&[]), group)
        && resource_allows(rule.resources.as_deref().unwrap_or(&[]), resource)
        && (has_wildcard(&rule.verbs)
            || verbs
                .iter()
                .any(|v| rule.verbs.iter().any(|r| r == v.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::snapshot;

    const AGGREGATED: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring-admin}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-monitoring-admin: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: top}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-top: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-secrets
  labels: {example.com/aggregate-to-monitoring-admin: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-pods
  labels: {example.com/aggregate-to-monitoring-admin: "true", example.com/aggregate-to-top: "true"}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: other
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
"#;

    #[test]
    fn aggregated_roles_get_the_selected_rules() {
        let snap = snapshot(AGGREGATED);
        let r = Resolver::new(&snap);
        let rules = r.rules(&RoleKey::Cluster("monitoring-admin")).unwrap();
        let from: Vec<&str> = rules.iter().map(|r| r.from).collect();
        assert_eq!(from, ["monitoring-pods", "monitoring-secrets"]);
        assert_eq!(
            r.aggregated_from("monitoring-admin"),
            ["monitoring-pods", "monitoring-secrets"]
        );
        assert!(r.is_aggregated("top"));
        assert!(!r.is_aggregated("other"));
        assert_eq!(r.rules(&RoleKey::Cluster("top")).unwrap().len(), 1);
        assert!(r.rules(&RoleKey::Cluster("missing")).is_none());
    }

    #[test]
    fn aggregation_cycles_terminate() {
        let snap = snapshot(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: a, labels: {agg: b}}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: a}}]}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: b, labels: {agg: a}}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: b}}]}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
"#,
        );
        let r = Resolver::new(&snap);
        assert_eq!(r.rules(&RoleKey::Cluster("a")).unwrap().len(), 2);
        assert_eq!(r.rules(&RoleKey::Cluster("b")).unwrap().len(), 2);
    }

    #[test]
    fn binding_references_and_subjects() {
        let snap = snapshot(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: ServiceAccount, name: bot}
- {kind: ServiceAccount, name: other, namespace: ci}
- {kind: User, name: "system:serviceaccount:ci:deployer", apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
"#,
        );
        let b = bindings(&snap).next().unwrap();
        assert_eq!(b.role(), Some(RoleKey::Namespaced("team", "reader")));
        assert_eq!(b.resource().to_string(), "RoleBinding/team/rb");
        let subjects: Vec<String> = b.subject_keys().map(|s| s.to_string()).collect();
        assert_eq!(
            subjects,
            [
                "ServiceAccount `team/bot`",
                "ServiceAccount `ci/other`",
                "User `system:serviceaccount:ci:deployer`",
                "Group `devs`"
            ]
        );
        let sas: Vec<_> = b
            .subject_keys()
            .filter_map(|s| s.service_account())
            .collect();
        assert_eq!(sas, [("team", "bot"), ("ci", "other"), ("ci", "deployer")]);
    }

    #[test]
    fn rule_predicates() {
        let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let read = vec!["get".to_string(), "list".to_string()];
        assert!(is_full_access(&rule(&["*"], &["*"], &["*"])));
        assert!(is_full_access(&rule(&[""], &["*"], &["*"])));
        assert!(!is_full_access(&rule(&["apps"], &["*"], &["*"])));
        assert!(!is_full_access(&rule(&["*"], &["*"], &["get"])));
        assert!(grants_any(
            &rule(&[""], &["secrets"], &["list"]),
            "",
            "secrets",
            &read
        ));
        assert!(grants_any(
            &rule(&["*"], &["*"], &["*"]),
            "",
            "secrets",
            &read
        ));
        assert!(!grants_any(
            &rule(&[""], &["secrets"], &["create"]),
            "",
            "secrets",
            &read
        ));
        assert!(!grants_any(
            &rule(&["apps"], &["secrets"], &["get"]),
            "",
            "secrets",
            &read
        ));
        let mut named = rule(&[""], &["secrets"], &["get"]);
        named.resource_names = Some(vec!["one".into()]);
        assert!(!grants_any(&named, "", "secrets", &read));
        assert!(grants_any_named(&named, "", "secrets", &read));
    }

    /// `*` counts wherever it stands in a list, as in the API server's authorizer.
    #[test]
    fn a_wildcard_among_other_entries_counts() {
        let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mixed = rule(
            &["", "*"],
            &["pods/portforward", "secrets", "*"],
            &["*", "delete"],
        );
        assert!(is_full_access(&mixed));
        assert!(grants_any(
            &mixed,
            "apps",
            "deployments",
            &["get".to_string()]
        ));
        assert!(!is_full_access(&rule(
            &["apps"],
            &["pods", "*"],
            &["get", "*"]
        )));
        assert!(is_full_access(&rule(
            &["apps", ""],
            &["pods", "*"],
            &["get", "*"]
        )));
        assert!(grants_any(
            &rule(&["apps", "*"], &["secrets"], &["list"]),
            "",
            "secrets",
            &["list".to_string()]
        ));
        assert!(grants_any(
            &rule(&[""], &["configmaps", "*"], &["list"]),
            "",
            "secrets",
            &["list".to_string()]
        ));
        assert!(grants_any(
            &rule(&[""], &["secrets"], &["create", "*"]),
            "",
            "secrets",
            &["get".to_string()]
        ));
    }

    #[test]
    fn subresources_match_as_in_the_authorizer() {
        let list = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        assert!(resource_allows(&list(&["pods/exec"]), "pods/exec"));
        assert!(resource_allows(&list(&["*/exec"]), "pods/exec"));
        assert!(resource_allows(&list(&["pods", "*"]), "pods/exec"));
        assert!(!resource_allows(&list(&["pods"]), "pods/exec"));
        assert!(!resource_allows(&list(&["pods/*"]), "pods/exec"));
        assert!(!resource_allows(&list(&["*/exec"]), "pods"));
        assert!(!resource_allows(&list(&["*/attach"]), "pods/exec"));
    }
}
