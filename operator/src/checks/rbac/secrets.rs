//! `rbac.secrets-access`: subjects that may read Secrets in every namespace (through a
//! ClusterRoleBinding), outside an allowlist.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resolve::{Resolver, RoleKey, bindings, grants_any, has_wildcard};
use super::{SubjectPattern, allowed, join};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Severity};

/// The check.
pub(super) struct SecretsAccess;

/// Parameters of `rbac.secrets-access`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsAccessParams {
    /// Subjects that may read Secrets cluster-wide. Default: the `system:masters` group and
    /// every ServiceAccount in `kube-system`
    /// (`[{kind: Group, name: "system:masters"}, {kind: ServiceAccount, name: "*", namespace: kube-system}]`).
    pub allowed_subjects: Vec<SubjectPattern>,
    /// Verbs that count as reading. Default: `["get", "list", "watch"]`.
    pub verbs: Vec<String>,
    /// Also check Kubernetes' own bindings (named `system:*` and labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`, e.g. `system:kube-controller-manager`).
    /// Default: `false`.
    pub include_system_bindings: bool,
}

impl Default for SecretsAccessParams {
    fn default() -> Self {
        Self {
            allowed_subjects: vec![
                SubjectPattern::new("Group", "system:masters"),
                SubjectPattern::service_account("kube-system", "*"),
            ],
            verbs: ["get", "list", "watch"].map(String::from).to_vec(),
            include_system_bindings: false,
        }
    }
}

/// What a ClusterRole grants on Secrets: the verbs (of the configured ones) and the role the
/// first granting rule is written in.
struct SecretRead<'a> {
    verbs: Vec<&'a str>,
    from: &'a str,
}

impl Check for SecretsAccess {
    type Params = SecretsAccessParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.secrets-access",
            title: "Only allowlisted subjects read Secrets cluster-wide",
            description: "A ClusterRoleBinding grants a role that may get, list or watch Secrets \
                          (explicitly or through `*`) in every namespace to a subject outside \
                          the allowlist.",
            criteria: &["CC6.1", "CC6.3", "C1.1"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &SecretsAccessParams) -> Outcome {
        let resolver = Resolver::new(ctx.snapshot);
        let mut cache: HashMap<RoleKey<'_>, Option<SecretRead<'_>>> = HashMap::new();
        let mut checked = 0;
        let mut findings = Vec::new();
        for binding in bindings(ctx.snapshot).filter(|b| b.is_cluster()) {
            checked += 1;
            if !params.include_system_bindings && binding.is_system_default() {
                continue;
            }
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
                .filter(|s| !allowed(&params.allowed_subjects, s))
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
            findings.push(Finding::new(
                binding.resource(),
                format!(
                    "{} lets {} {} Secrets in every namespace through {}{via}; grant Secret \
                     access with RoleBindings in the namespaces that need it (or limit it with \
                     resourceNames), or add the subjects to allowedSubjects",
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

    use crate::checks::testing::{checked, failing, run};
    use crate::checks::{Outcome, catalog};

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
kind: RoleBinding
metadata: {name: team-reads-secrets, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
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

    fn messages(outcome: &Outcome) -> Vec<String> {
        match outcome {
            Outcome::Evaluated { findings, .. } => {
                findings.iter().map(|f| f.message.clone()).collect()
            }
            Outcome::NotApplicable { reason } => panic!("not applicable: {reason}"),
        }
    }

    #[test]
    fn allowlisted_and_namespaced_readers_pass() {
        let out = run(ID, "", FIXTURE);
        assert!(failing(&out).is_empty(), "{:?}", failing(&out));
        assert_eq!(checked(&out), 4);
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
            msgs[0].contains("User `erin` get/list/watch Secrets"),
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
        let out = run(ID, "includeSystemBindings: true", FIXTURE);
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
    fn unknown_params_are_refused() {
        let check = catalog().get(ID).unwrap();
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(check.validate(Some(&json!({"verbs": "get"}))).is_err());
    }
}
