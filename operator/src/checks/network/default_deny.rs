//! `network.default-deny`: every in-scope namespace has a NetworkPolicy that denies ingress to
//! all of its pods unless another rule allows it.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{governs_ingress, selects_all};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, ResourceRef, Severity};

/// The check.
pub(super) struct DefaultDeny;

/// Parameters of `network.default-deny`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultDenyParams {
    /// Namespaces not examined, on top of the control's scope. Default: none (the control's
    /// `scope.excludedNamespaces` usually excludes `kube-system`).
    pub ignore_namespaces: Vec<String>,
}

/// Source ranges that stand for "any address".
const ANY_CIDRS: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// Whether an ingress rule lets in traffic from any source: no `from` (or an empty one), or a
/// peer whose ipBlock is the whole address space with no exceptions.
fn allows_any_source(rule: &NetworkPolicyIngressRule) -> bool {
    match rule.from.as_deref() {
        None | Some([]) => true,
        Some(peers) => peers.iter().any(|p| {
            p.ip_block.as_ref().is_some_and(|b| {
                ANY_CIDRS.contains(&b.cidr.trim()) && b.except.as_ref().is_none_or(Vec::is_empty)
            })
        }),
    }
}

/// Why a policy is not a default-deny for its namespace, or `None` when it is one.
pub(super) fn not_default_deny(np: &NetworkPolicy) -> Option<String> {
    let name = np.metadata.name.as_deref().unwrap_or("");
    let Some(spec) = np.spec.as_ref() else {
        return Some(format!("NetworkPolicy `{name}` has no spec"));
    };
    if !selects_all(spec.pod_selector.as_ref()) {
        return Some(format!(
            "NetworkPolicy `{name}` selects only some pods (podSelector is not {{}})"
        ));
    }
    if !governs_ingress(spec) {
        return Some(format!(
            "NetworkPolicy `{name}` does not list Ingress in policyTypes"
        ));
    }
    let open = spec.ingress.iter().flatten().position(allows_any_source)?;
    Some(format!(
        "NetworkPolicy `{name}` selects every pod but its ingress rule {} allows traffic from any source",
        open + 1
    ))
}

impl Check for DefaultDeny {
    type Params = DefaultDenyParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "network.default-deny",
            title: "Namespaces deny ingress by default",
            description: "An in-scope namespace fails when no NetworkPolicy selects every pod \
                (podSelector: {}), governs Ingress and has no ingress rule open to any source.",
            criteria: &["CC6.1", "CC6.6"],
            severity: Severity::High,
            remediable: true,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &DefaultDenyParams) -> Outcome {
        let index = ctx.snapshot.index();
        let mut checked = 0;
        let mut findings = Vec::new();
        for ns in ctx.namespaces() {
            let name = ns.metadata.name.as_deref().unwrap_or("");
            if params.ignore_namespaces.iter().any(|n| n == name) {
                continue;
            }
            checked += 1;
            let policies = index.network_policies_in(name);
            let mut near_misses = Vec::new();
            let mut found = false;
            for np in policies {
                match not_default_deny(np) {
                    None => {
                        found = true;
                        break;
                    }
                    // Only policies that select every pod are worth explaining.
                    Some(why)
                        if np
                            .spec
                            .as_ref()
                            .is_some_and(|s| selects_all(s.pod_selector.as_ref())) =>
                    {
                        near_misses.push(why);
                    }
                    Some(_) => {}
                }
            }
            if found {
                continue;
            }
            let mut message =
                format!("namespace `{name}` has no NetworkPolicy that denies ingress by default");
            if !near_misses.is_empty() {
                message.push_str(&format!(" ({})", near_misses.join("; ")));
            }
            message.push_str(
                "; add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress] whose \
                 ingress rules (if any) allow only specific sources",
            );
            findings.push(Finding::new(
                ResourceRef::new("Namespace", None, name),
                message,
            ));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "network.default-deny";

    fn ns(name: &str) -> String {
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n---\n")
    }

    fn policy(ns: &str, name: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{}\n---\n",
            spec.lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    fn fixture(parts: &[String]) -> String {
        parts.concat()
    }

    #[test]
    fn deny_all_policy_passes() {
        let yaml = fixture(&[
            ns("app"),
            policy("app", "deny", "podSelector: {}\npolicyTypes: [Ingress]"),
        ]);
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(1, vec![]));
    }

    #[test]
    fn policy_types_absent_implies_ingress() {
        let yaml = fixture(&[ns("app"), policy("app", "deny", "podSelector: {}")]);
        assert!(failing(&run(ID, "", &yaml)).is_empty());
    }

    #[test]
    fn specific_sources_still_deny_by_default() {
        let yaml = fixture(&[
            ns("app"),
            policy(
                "app",
                "from-ingress",
                "podSelector: {}\npolicyTypes: [Ingress]\ningress:\n- from:\n  - namespaceSelector:\n      matchLabels: {name: ingress}\n  - ipBlock: {cidr: 10.0.0.0/8}",
            ),
        ]);
        assert!(failing(&run(ID, "", &yaml)).is_empty());
    }

    #[test]
    fn namespace_without_policy_fails() {
        let yaml = fixture(&[
            ns("a"),
            ns("b"),
            policy("a", "deny", "podSelector: {}"),
            policy(
                "b",
                "web",
                "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Namespace/b"]);
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn egress_only_policy_is_not_default_deny() {
        let yaml = fixture(&[
            ns("a"),
            policy("a", "egress", "podSelector: {}\npolicyTypes: [Egress]"),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Namespace/a"]);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("does not list Ingress"));
        assert!(findings[0].message.contains("podSelector: {}"));
    }

    #[test]
    fn allow_all_rule_is_not_default_deny() {
        // Tricky case: empty podSelector, but `ingress: [{}]` lets everything in.
        let yaml = fixture(&[
            ns("a"),
            ns("b"),
            ns("c"),
            ns("d"),
            policy(
                "a",
                "allow-all",
                "podSelector: {}\npolicyTypes: [Ingress]\ningress:\n- {}",
            ),
            policy(
                "b",
                "empty-from",
                "podSelector: {}\ningress:\n- from: []\n  ports: [{port: 80}]",
            ),
            policy(
                "c",
                "anywhere",
                "podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 0.0.0.0/0}}]",
            ),
            // A whole-range block with exceptions is a specific source.
            policy(
                "d",
                "most",
                "podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec!["Namespace/a", "Namespace/b", "Namespace/c"]
        );
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("`allow-all`"));
        assert!(
            findings[0]
                .message
                .contains("rule 1 allows traffic from any source")
        );
    }

    #[test]
    fn one_good_policy_among_bad_ones_passes() {
        let yaml = fixture(&[
            ns("a"),
            policy("a", "allow-all", "podSelector: {}\ningress:\n- {}"),
            policy(
                "a",
                "deny",
                "podSelector: {}\npolicyTypes: [Ingress, Egress]",
            ),
        ]);
        assert!(failing(&run(ID, "", &yaml)).is_empty());
    }

    #[test]
    fn ignore_namespaces_param_skips() {
        let yaml = fixture(&[ns("a"), ns("b")]);
        let out = run(ID, "ignoreNamespaces: [b]", &yaml);
        assert_eq!(failing(&out), vec!["Namespace/a"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn scope_excludes_namespaces() {
        let yaml = fixture(&[ns("a"), ns("kube-system")]);
        let out = run_scoped(
            ID,
            "",
            &yaml,
            &ScopeFilter::all().excluding(["kube-system"]),
        );
        assert_eq!(failing(&out), vec!["Namespace/a"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"ignoreNamespaces": ["x"]})))
                .is_ok()
        );
        assert!(check.meta().remediable);
    }
}
