//! `rbac.privilege-escalation`: subjects holding a permission that lets them obtain more access
//! than their roles list, outside an allowlist. One finding per subject, naming each path and
//! the binding and role it comes through.
//!
//! The paths, as the API server authorizes them (`*` in verbs, resources or API groups implies
//! each, wherever it stands in the list; `*/<subresource>` matches a subresource):
//!
//! | path | permission |
//! |---|---|
//! | bind | `bind` on `roles` or `clusterroles` (rbac.authorization.k8s.io) |
//! | escalate | `escalate` on `roles`, or on `clusterroles` cluster-wide |
//! | impersonate | `impersonate` on `serviceaccounts`, or on `users` or `groups` cluster-wide (core group) |
//! | create pods | `create` on `pods`: a pod may run as any ServiceAccount of its namespace |
//! | exec/attach | `create` or `get` on `pods/exec` or `pods/attach` (`get` is the WebSocket form) |
//! | create tokens | `create` on `serviceaccounts/token` |
//! | nodes/proxy | `get` or `create` on `nodes/proxy`, cluster-wide (the kubelet API: exec in any pod of a node) |
//! | approve CSRs | `update` or `patch` on `certificatesigningrequests/approval` and `approve` on `signers` (certificates.k8s.io), both cluster-wide, through any of the subject's bindings |
//! | write webhooks | `create`, `update` or `patch` on `validatingwebhookconfigurations` or `mutatingwebhookconfigurations` (admissionregistration.k8s.io), cluster-wide |
//!
//! Paths on cluster-scoped resources count only through ClusterRoleBindings, since a RoleBinding
//! cannot grant them. A rule limited by `resourceNames` counts too (naming the pods, accounts,
//! nodes, signers or webhooks one may use is still the path), except for bind and escalate,
//! where naming the roles is Kubernetes' recommended way to delegate, and create pods, which a
//! named rule never allows (a create request has no name yet).
//!
//! A subject with full access (`cluster-admin`, or a rule `rbac.cluster-admin` counts as full
//! access) holds every path; its finding says "full access" for that grant instead of listing
//! them, and when the full access is cluster-wide, says only that. `rbac.cluster-admin`
//! reports the same grant by binding; both are kept, since this check also covers subjects
//! `rbac.cluster-admin`'s allowlist accepts.
//!
//! Kubernetes' own identities in bootstrap-managed bindings (many `system:controller:*` roles
//! legitimately hold these verbs) and ServiceAccounts of namespaces outside the scope are not
//! reported, and RoleBindings in namespaces outside the scope are not examined (see the `rbac`
//! module docs). Roles are resolved with aggregation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::{
    Binding, Resolver, RoleKey, SubjectKey, bindings, grants_any_named, is_full_access,
};
use super::{SubjectPattern, allowed, reportable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct PrivilegeEscalation;

/// Parameters of `rbac.privilege-escalation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PrivilegeEscalationParams {
    /// Subjects that may hold escalation paths (e.g. a GitOps controller, the break-glass
    /// group). Default: `[]`; Kubernetes' own identities in bootstrap-managed bindings and
    /// ServiceAccounts outside the scope are left out anyway.
    pub allowed_subjects: Vec<SubjectPattern>,
    /// Also report Kubernetes' own identities (ServiceAccounts in `kube-system`, users and
    /// groups named `system:*`) in bootstrap-managed bindings, those labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`, which the API server recreates at every
    /// start. Other subjects in such bindings are always reported. Default: `false`.
    pub include_bootstrap_managed: bool,
}

/// The ClusterRole Kubernetes ships with full access.
const CLUSTER_ADMIN: &str = "cluster-admin";

const RBAC: &str = "rbac.authorization.k8s.io";
const CORE: &str = "";
const CERTIFICATES: &str = "certificates.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

/// A permission that leads to more access. `CsrApproval` and `SignerApproval` are the two
/// halves of approving CSRs; alone, neither is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Power {
    Bind,
    Escalate,
    Impersonate,
    CreatePods,
    ExecAttach,
    CreateTokens,
    NodesProxy,
    WriteWebhooks,
    CsrApproval,
    SignerApproval,
}

impl Power {
    /// How findings name the path; `None` for the halves of approving CSRs.
    fn label(self) -> Option<&'static str> {
        Some(match self {
            Power::Bind => "bind roles",
            Power::Escalate => "escalate roles",
            Power::Impersonate => "impersonate",
            Power::CreatePods => "create pods",
            Power::ExecAttach => "exec/attach into pods",
            Power::CreateTokens => "create ServiceAccount tokens",
            Power::NodesProxy => "nodes/proxy",
            Power::WriteWebhooks => "write admission webhooks",
            Power::CsrApproval | Power::SignerApproval => return None,
        })
    }
}

/// One permission that grants a power.
struct Target {
    power: Power,
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    /// Only a ClusterRoleBinding can grant it (cluster-scoped resource).
    cluster_only: bool,
    /// A rule limited by `resourceNames` counts.
    named_counts: bool,
}

const fn target(
    power: Power,
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    cluster_only: bool,
    named_counts: bool,
) -> Target {
    Target {
        power,
        group,
        resource,
        verbs,
        cluster_only,
        named_counts,
    }
}

const WRITE: &[&str] = &["create", "update", "patch"];

/// Every permission the check looks for.
const TARGETS: &[Target] = &[
    target(Power::Bind, RBAC, "roles", &["bind"], false, false),
    // A RoleBinding's `bind` on clusterroles lets it bind any ClusterRole in its namespace.
    target(Power::Bind, RBAC, "clusterroles", &["bind"], false, false),
    target(Power::Escalate, RBAC, "roles", &["escalate"], false, false),
    target(
        Power::Escalate,
        RBAC,
        "clusterroles",
        &["escalate"],
        true,
        false,
    ),
    target(
        Power::Impersonate,
        CORE,
        "users",
        &["impersonate"],
        true,
        true,
    ),
    target(
        Power::Impersonate,
        CORE,
        "groups",
        &["impersonate"],
        true,
        true,
    ),
    target(
        Power::Impersonate,
        CORE,
        "serviceaccounts",
        &["impersonate"],
        false,
        true,
    ),
    target(Power::CreatePods, CORE, "pods", &["create"], false, false),
    target(
        Power::ExecAttach,
        CORE,
        "pods/exec",
        &["create", "get"],
        false,
        true,
    ),
    target(
        Power::ExecAttach,
        CORE,
        "pods/attach",
        &["create", "get"],
        false,
        true,
    ),
    target(
        Power::CreateTokens,
        CORE,
        "serviceaccounts/token",
        &["create"],
        false,
        true,
    ),
    target(
        Power::NodesProxy,
        CORE,
        "nodes/proxy",
        &["get", "create"],
        true,
        true,
    ),
    target(
        Power::CsrApproval,
        CERTIFICATES,
        "certificatesigningrequests/approval",
        &["update", "patch"],
        true,
        true,
    ),
    target(
        Power::SignerApproval,
        CERTIFICATES,
        "signers",
        &["approve"],
        true,
        true,
    ),
    target(
        Power::WriteWebhooks,
        ADMISSION,
        "validatingwebhookconfigurations",
        WRITE,
        true,
        true,
    ),
    target(
        Power::WriteWebhooks,
        ADMISSION,
        "mutatingwebhookconfigurations",
        WRITE,
        true,
        true,
    ),
];

/// What a role grants: full access, or powers by where they apply.
#[derive(Default)]
struct RolePowers {
    full: bool,
    /// Powers through any binding.
    anywhere: BTreeSet<Power>,
    /// Powers through ClusterRoleBindings only.
    cluster_only: BTreeSet<Power>,
}

impl RolePowers {
    fn of(resolver: &Resolver<'_>, role: &RoleKey<'_>) -> Self {
        let mut out = RolePowers {
            full: *role == RoleKey::Cluster(CLUSTER_ADMIN),
            ..Default::default()
        };
        for r in resolver.rules(role).into_iter().flatten() {
            out.full |= is_full_access(r.rule);
            let named = r
                .rule
                .resource_names
                .as_ref()
                .is_some_and(|n| !n.is_empty());
            for t in TARGETS {
                if (t.named_counts || !named)
                    && grants_any_named(r.rule, t.group, t.resource, t.verbs)
                {
                    if t.cluster_only {
                        out.cluster_only.insert(t.power);
                    } else {
                        out.anywhere.insert(t.power);
                    }
                }
            }
        }
        out
    }
}

/// One grant of a subject that carries full access or powers.
struct Held<'a> {
    binding: Binding<'a>,
    role: RoleKey<'a>,
    full: bool,
    powers: BTreeSet<Power>,
}

impl Held<'_> {
    /// `cluster-wide` or `in namespace `ns``.
    fn reach(&self) -> String {
        match self.binding.namespace {
            None => "cluster-wide".to_string(),
            Some(ns) => format!("in namespace `{ns}`"),
        }
    }

    /// `via ClusterRoleBinding `b` (ClusterRole `r`)`.
    fn via(&self) -> String {
        format!("via {} ({})", self.binding.quoted(), self.role.quoted())
    }
}

impl Check for PrivilegeEscalation {
    type Params = PrivilegeEscalationParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.privilege-escalation",
            title: "Only allowlisted subjects hold privilege-escalation paths",
            description: "A subject outside the allowlist may bind or escalate roles, \
                          impersonate, create pods, exec or attach into pods, create \
                          ServiceAccount tokens, use nodes/proxy, approve certificate signing \
                          requests or write admission webhooks (explicitly or through `*`).",
            criteria: &["CC6.1", "CC6.3"],
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

    fn evaluate(&self, ctx: &Ctx<'_>, params: &PrivilegeEscalationParams) -> Outcome {
        let resolver = Resolver::new(ctx.snapshot);
        let mut cache: HashMap<RoleKey<'_>, RolePowers> = HashMap::new();
        // Subject (a ServiceAccount user folded into its ServiceAccount) -> its grants that
        // carry something; subjects with none are still counted as examined.
        let mut by_subject: BTreeMap<SubjectKey<'_>, Vec<Held<'_>>> = BTreeMap::new();
        for binding in bindings(ctx.snapshot) {
            if binding.namespace.is_some_and(|ns| !ctx.in_scope(ns)) {
                continue;
            }
            let role = binding.role();
            for subject in binding.subject_keys() {
                if allowed(&params.allowed_subjects, &subject)
                    || !reportable(ctx, &binding, &subject, params.include_bootstrap_managed)
                {
                    continue;
                }
                let held = by_subject.entry(canonical(subject)).or_default();
                let Some(role) = role else {
                    continue;
                };
                let powers = cache
                    .entry(role)
                    .or_insert_with(|| RolePowers::of(&resolver, &role));
                let mut granted = powers.anywhere.clone();
                if binding.is_cluster() {
                    granted.extend(powers.cluster_only.iter().copied());
                }
                if powers.full || !granted.is_empty() {
                    held.push(Held {
                        binding,
                        role,
                        full: powers.full,
                        powers: granted,
                    });
                }
            }
        }

        let checked = by_subject.len();
        let mut findings: Vec<Finding> = by_subject
            .iter()
            .filter_map(|(subject, held)| {
                let paths = describe(held)?;
                Some(Finding::new(
                    resource(subject),
                    format!(
                        "{subject} holds privilege-escalation paths: {paths}; remove these \
                         permissions from the roles bound to it, or add the subject to \
                         allowedSubjects if it must hold them"
                    ),
                ))
            })
            .collect();
        findings.sort_by(|a, b| order(a).cmp(&order(b)));
        Outcome::evaluated(checked, findings)
    }
}

/// A `system:serviceaccount:<ns>:<name>` user as its ServiceAccount, so that both spellings
/// give one finding.
fn canonical(subject: SubjectKey<'_>) -> SubjectKey<'_> {
    match subject.service_account() {
        Some((ns, name)) => SubjectKey {
            kind: "ServiceAccount",
            name,
            namespace: Some(ns),
        },
        None => subject,
    }
}

/// The cluster-wide grants that carry `power`.
fn cluster_holders<'h, 'a>(held: &'h [Held<'a>], power: Power) -> Vec<&'h Held<'a>> {
    held.iter()
        .filter(|h| h.binding.is_cluster() && h.powers.contains(&power))
        .collect()
}

/// Findings sort by kind, namespace and name of their subject.
fn order(finding: &Finding) -> (&str, Option<&str>, &str) {
    let r = &finding.resource;
    (&r.kind, r.namespace.as_deref(), &r.name)
}

/// The reference a finding names: the ServiceAccount object, or the user or group.
fn resource(subject: &SubjectKey<'_>) -> ResourceRef {
    ResourceRef::new(subject.kind, subject.namespace, subject.name)
}

/// The paths a subject holds, as findings list them; `None` when it holds none.
fn describe(held: &[Held<'_>]) -> Option<String> {
    let cluster_full: Vec<&Held<'_>> = held
        .iter()
        .filter(|h| h.full && h.binding.is_cluster())
        .collect();
    if !cluster_full.is_empty() {
        let via: Vec<String> = cluster_full.iter().map(|h| h.via()).collect();
        return Some(format!(
            "full access to the whole cluster {}",
            via.join(" and ")
        ));
    }
    let mut items: Vec<String> = Vec::new();
    for h in held {
        if h.full {
            items.push(format!(
                "full access to namespace `{}` {}",
                h.binding.namespace.unwrap_or(""),
                h.via()
            ));
            continue;
        }
        let labels: Vec<&str> = h.powers.iter().filter_map(|p| p.label()).collect();
        if !labels.is_empty() {
            items.push(format!("{} {} {}", labels.join(", "), h.reach(), h.via()));
        }
    }
    // Approving CSRs takes both halves, cluster-wide, possibly through different bindings.
    let (approval, signers) = (
        cluster_holders(held, Power::CsrApproval),
        cluster_holders(held, Power::SignerApproval),
    );
    if !approval.is_empty() && !signers.is_empty() {
        let mut via: Vec<String> = Vec::new();
        for h in approval.iter().chain(&signers) {
            let v = h.via();
            if !via.contains(&v) {
                via.push(v);
            }
        }
        items.push(format!("approve CSRs cluster-wide {}", via.join(" and ")));
    }
    (!items.is_empty()).then(|| items.join("; "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "rbac.privilege-escalation";

    /// A ClusterRole with `rules`, bound cluster-wide to user `eve`.
    fn cluster_grant(rules: &str) -> String {
        format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: r}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: eve}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}}
subjects: [{{kind: User, name: eve}}]
"#
        )
    }

    /// The same role bound by a RoleBinding in `team-a`.
    fn namespaced_grant(rules: &str) -> String {
        format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: r}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: eve, namespace: team-a}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}}
subjects: [{{kind: User, name: eve}}]
"#
        )
    }

    /// Each path, and a near miss of it that must pass.
    const PATHS: &[(&str, &str, &str)] = &[
        (
            "bind roles",
            r#"[{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}]"#,
            r#"[{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], resourceNames: [view], verbs: [bind]}]"#,
        ),
        (
            "escalate roles",
            r#"[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]}]"#,
            r#"[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [get, list, update]}]"#,
        ),
        (
            "impersonate",
            r#"[{apiGroups: [""], resources: [users], resourceNames: [admin], verbs: [impersonate]}]"#,
            r#"[{apiGroups: [authentication.k8s.io], resources: [users], verbs: [impersonate]}]"#,
        ),
        (
            "create pods",
            r#"[{apiGroups: [""], resources: [pods], verbs: [get, create]}]"#,
            r#"[{apiGroups: [""], resources: [pods], verbs: [get, list, watch, delete]}]"#,
        ),
        (
            "exec/attach into pods",
            r#"[{apiGroups: [""], resources: [pods/exec], verbs: [get]}]"#,
            r#"[{apiGroups: [""], resources: [pods/log, pods/*], verbs: [get, create]}]"#,
        ),
        (
            "exec/attach into pods",
            r#"[{apiGroups: [""], resources: ["*/attach"], verbs: [create]}]"#,
            r#"[{apiGroups: [""], resources: [pods/attach], verbs: [list, watch]}]"#,
        ),
        (
            "create ServiceAccount tokens",
            r#"[{apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}]"#,
            r#"[{apiGroups: [""], resources: [serviceaccounts], verbs: [create]}]"#,
        ),
        (
            "nodes/proxy",
            r#"[{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}]"#,
            r#"[{apiGroups: [""], resources: [nodes, nodes/status], verbs: [get, patch]}]"#,
        ),
        (
            "write admission webhooks",
            r#"[{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [patch]}]"#,
            r#"[{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [get, list, watch]}]"#,
        ),
        (
            "approve CSRs",
            r#"[{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}, {apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: [kubernetes.io/kube-apiserver-client], verbs: [approve]}]"#,
            r#"[{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}, {apiGroups: [certificates.k8s.io], resources: [signers], verbs: [get]}]"#,
        ),
    ];

    #[test]
    fn each_path_fails_and_its_near_miss_passes() {
        for (label, bad, good) in PATHS {
            let out = run(ID, "", &cluster_grant(bad));
            assert_eq!(failing(&out), ["User/eve"], "{label}: {bad}");
            let msg = &messages(&out)[0];
            assert!(
                msg.contains(&format!(
                    "User `eve` holds privilege-escalation paths: {label} cluster-wide via \
                     ClusterRoleBinding `eve` (ClusterRole `r`)"
                )),
                "{label}: {msg}"
            );
            let out = run(ID, "", &cluster_grant(good));
            assert!(failing(&out).is_empty(), "{label}: {good}");
            assert_eq!(checked(&out), 1);
        }
    }

    /// `*` anywhere in a list implies each path.
    #[test]
    fn wildcards_imply_the_paths() {
        let out = run(
            ID,
            "",
            &cluster_grant(
                r#"[{apiGroups: [apps, "*"], resources: [deployments, "*"], verbs: [get, "*"]}]"#,
            ),
        );
        assert!(messages(&out)[0].contains("full access to the whole cluster"));
        let out = run(
            ID,
            "",
            &cluster_grant(
                r#"[{apiGroups: [rbac.authorization.k8s.io], resources: ["*"], verbs: [get, "*"]}, {apiGroups: ["*"], resources: [pods, pods/exec], verbs: [create]}, {apiGroups: [""], resources: ["*/token", users], verbs: [create, impersonate]}]"#,
            ),
        );
        let msg = &messages(&out)[0];
        assert!(
            msg.contains(
                "bind roles, escalate roles, impersonate, create pods, exec/attach into pods, \
                 create ServiceAccount tokens cluster-wide"
            ),
            "{msg}"
        );
    }

    /// Cluster-scoped paths need a ClusterRoleBinding; namespaced ones name the namespace.
    #[test]
    fn role_bindings_grant_namespaced_paths_only() {
        let rules = r#"[{apiGroups: ["", rbac.authorization.k8s.io, admissionregistration.k8s.io], resources: [pods, nodes/proxy, users, clusterroles, validatingwebhookconfigurations], verbs: [create, impersonate, escalate]}]"#;
        let out = run(ID, "", &namespaced_grant(rules));
        assert_eq!(failing(&out), ["User/eve"]);
        let msg = &messages(&out)[0];
        assert!(
            msg.contains("paths: create pods in namespace `team-a` via RoleBinding `team-a/eve` (ClusterRole `r`); remove"),
            "{msg}"
        );
        let out = run(ID, "", &cluster_grant(rules));
        let msg = &messages(&out)[0];
        assert!(
            msg.contains(
                "escalate roles, impersonate, create pods, nodes/proxy, write admission \
                 webhooks cluster-wide"
            ),
            "{msg}"
        );
        let only_cluster = r#"[{apiGroups: [""], resources: [nodes/proxy, users], verbs: ["*"]}]"#;
        let out = run(ID, "", &namespaced_grant(only_cluster));
        assert!(failing(&out).is_empty());
    }

    /// The two halves of approving CSRs count together, even through different bindings, and
    /// only cluster-wide.
    #[test]
    fn approving_csrs_takes_both_halves() {
        let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-approval}
rules: [{apiGroups: [certificates.k8s.io], resources: ["*/approval"], verbs: [patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: signer}
rules: [{apiGroups: ["*"], resources: [signers], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: approval}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-approval}
subjects: [{kind: ServiceAccount, name: approver, namespace: certs}]
"#;
        let out = run(ID, "", yaml);
        assert!(failing(&out).is_empty());
        let signer = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: signer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: signer}
subjects: [{kind: User, name: "system:serviceaccount:certs:approver"}]
"#;
        let out = run(ID, "", &format!("{yaml}---\n{signer}"));
        assert_eq!(failing(&out), ["ServiceAccount/certs/approver"]);
        let msg = &messages(&out)[0];
        assert!(
            msg.contains(
                "ServiceAccount `certs/approver` holds privilege-escalation paths: approve CSRs \
                 cluster-wide via ClusterRoleBinding `approval` (ClusterRole `csr-approval`) and \
                 via ClusterRoleBinding `signer` (ClusterRole `signer`)"
            ),
            "{msg}"
        );
        let namespaced = signer
            .replace("kind: ClusterRoleBinding", "kind: RoleBinding")
            .replace("{name: signer}", "{name: signer, namespace: certs}");
        let out = run(ID, "", &format!("{yaml}---\n{namespaced}"));
        assert!(failing(&out).is_empty());
    }

    /// Full access is said once, not as a list of every path.
    #[test]
    fn full_access_is_reported_once_per_subject() {
        let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cluster-admin}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit}
rules: [{apiGroups: [""], resources: [pods, pods/exec], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: alice}, {kind: Group, name: "system:masters"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-admin, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-edit, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: bob}]
"#;
        let out = run(ID, "", yaml);
        assert_eq!(
            failing(&out),
            ["Group/system:masters", "User/alice", "User/bob"]
        );
        let msgs = messages(&out);
        assert!(
            msgs[1].ends_with(
                "paths: full access to the whole cluster via ClusterRoleBinding `alice-admin` \
                 (ClusterRole `cluster-admin`); remove these permissions from the roles bound \
                 to it, or add the subject to allowedSubjects if it must hold them"
            ),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].contains(
                "paths: full access to namespace `team-a` via RoleBinding `team-a/bob-admin` \
                 (ClusterRole `cluster-admin`); create pods, exec/attach into pods in \
                 namespace `team-b` via RoleBinding `team-b/bob-edit` (ClusterRole `edit`)"
            ),
            "{}",
            msgs[2]
        );
        let out = run(
            ID,
            "allowedSubjects: [{kind: Group, name: 'system:*'}, {kind: User, name: alice}]",
            yaml,
        );
        assert_eq!(failing(&out), ["User/bob"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn aggregated_roles_are_resolved() {
        let out = run(
            ID,
            "",
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team-admin}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.com/aggregate-to-team-admin: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: team-debug
  labels: {example.com/aggregate-to-team-admin: "true"}
rules: [{apiGroups: [""], resources: [pods/exec], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: team-admin}
subjects: [{kind: ServiceAccount, name: ci}]
"#,
        );
        assert_eq!(failing(&out), ["ServiceAccount/team-a/ci"]);
        assert!(messages(&out)[0].contains(
            "exec/attach into pods in namespace `team-a` via RoleBinding `team-a/ci` \
             (ClusterRole `team-admin`)"
        ));
    }

    /// The bootstrap controller roles hold these verbs: their bindings are skipped, the same
    /// grant in a binding of one's own is not.
    const BOOTSTRAP: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:controller:replicaset-controller"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules: [{apiGroups: [""], resources: [pods], verbs: [create, delete, list, patch, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: "system:controller:replicaset-controller"
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:replicaset-controller"}
subjects: [{kind: ServiceAccount, name: replicaset-controller, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: my-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:replicaset-controller"}
subjects:
- {kind: ServiceAccount, name: my-controller, namespace: kube-system}
- {kind: ServiceAccount, name: my-controller, namespace: tools}
"#;

    #[test]
    fn bootstrap_and_out_of_scope_subjects_are_skipped() {
        let scope = ScopeFilter::all().excluding(["kube-system"]);
        let out = run_scoped(ID, "", BOOTSTRAP, &scope);
        assert_eq!(failing(&out), ["ServiceAccount/tools/my-controller"]);
        assert_eq!(checked(&out), 1);
        let out = run(ID, "", BOOTSTRAP);
        assert_eq!(
            failing(&out),
            [
                "ServiceAccount/kube-system/my-controller",
                "ServiceAccount/tools/my-controller"
            ]
        );
        let out = run(ID, "includeBootstrapManaged: true", BOOTSTRAP);
        assert_eq!(
            failing(&out),
            [
                "ServiceAccount/kube-system/my-controller",
                "ServiceAccount/kube-system/replicaset-controller",
                "ServiceAccount/tools/my-controller"
            ]
        );
        let out = run_scoped(ID, "includeBootstrapManaged: true", BOOTSTRAP, &scope);
        assert_eq!(failing(&out), ["ServiceAccount/tools/my-controller"]);
    }

    #[test]
    fn role_bindings_outside_the_scope_are_not_examined() {
        let yaml = namespaced_grant(r#"[{apiGroups: [""], resources: [pods], verbs: [create]}]"#);
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["team-a"]));
        assert!(failing(&out).is_empty());
        assert_eq!(checked(&out), 0);
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
