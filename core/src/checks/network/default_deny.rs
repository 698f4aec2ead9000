//! `network.default-deny`: every in-scope namespace has a NetworkPolicy that denies ingress to
//! all of its pods unless another rule allows it. Where the cluster serves them, Cilium and
//! Calico policies count too ([`super::cni`]): a CiliumNetworkPolicy or Calico NetworkPolicy
//! selecting every pod of the namespace, or a cluster-wide one selecting every pod of it by
//! namespace, that isolates ingress and has no ingress rule open to any source.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cni::{CniView, considered_note};
use super::{governs_ingress, selects_all};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

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
                (podSelector: {}), governs Ingress and has no ingress rule open to any source. \
                Where served, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Calico \
                NetworkPolicy/GlobalNetworkPolicy that do the same count too.",
            criteria: &["CC6.1", "CC6.6"],
            severity: Severity::High,
            remediable: true,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::Namespace,
            crate::snapshot::KindId::NetworkPolicy,
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CiliumNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CiliumClusterwideNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CalicoNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CalicoGlobalNetworkPolicy),
            crate::snapshot::KindId::ServiceAccount,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &DefaultDenyParams) -> Outcome {
        let index = ctx.snapshot.index();
        let view = CniView::new(ctx.snapshot);
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
            if view.any_served() {
                match view.default_deny(name, index.namespace_labels(name)) {
                    Ok(()) => continue,
                    Err(misses) => near_misses.extend(misses),
                }
            }
            let mut message = if view.any_served() {
                format!("namespace `{name}` has no policy that denies ingress by default")
            } else {
                format!("namespace `{name}` has no NetworkPolicy that denies ingress by default")
            };
            message.push_str(&considered_note(&view, name));
            if !near_misses.is_empty() {
                message.push_str(&format!(" ({})", near_misses.join("; ")));
            }
            message.push_str(
                "; add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress] whose \
                 ingress rules (if any) allow only specific sources",
            );
            if view.any_served() {
                message.push_str(
                    " (or a CiliumNetworkPolicy with endpointSelector: {} and ingress: [{}], or a \
                     Calico NetworkPolicy with selector: all() and types: [Ingress])",
                );
            }
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

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
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

    /// A custom resource; `body` is its top-level fields after metadata (`spec: ...`).
    fn custom(api_version: &str, kind: &str, ns: Option<&str>, name: &str, body: &str) -> String {
        let ns = ns.map_or(String::new(), |n| format!(", namespace: {n}"));
        format!(
            "apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: {name}{ns}}}\n{body}\n---\n"
        )
    }

    fn cnp(ns: &str, name: &str, spec: &str) -> String {
        custom(
            "cilium.io/v2",
            "CiliumNetworkPolicy",
            Some(ns),
            name,
            &format!("spec: {spec}"),
        )
    }

    fn ccnp(name: &str, spec: &str) -> String {
        custom(
            "cilium.io/v2",
            "CiliumClusterwideNetworkPolicy",
            None,
            name,
            &format!("spec: {spec}"),
        )
    }

    fn calico_np(ns: &str, name: &str, spec: &str) -> String {
        custom(
            "projectcalico.org/v3",
            "NetworkPolicy",
            Some(ns),
            name,
            &format!("spec: {spec}"),
        )
    }

    fn gnp(name: &str, spec: &str) -> String {
        custom(
            "crd.projectcalico.org/v1",
            "GlobalNetworkPolicy",
            None,
            name,
            &format!("spec: {spec}"),
        )
    }

    fn labelled_ns(name: &str, labels: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {labels}}}\n---\n"
        )
    }

    #[test]
    fn cilium_default_deny_passes_without_a_networkpolicy() {
        let yaml = fixture(&[
            ns("a"),
            ns("b"),
            ns("c"),
            // The documented default-deny shape: every endpoint, an ingress section that
            // allows nothing.
            cnp(
                "a",
                "default-deny-ingress",
                "{endpointSelector: {}, ingress: [{}]}",
            ),
            // Allow-list style: isolation plus a specific peer, in `specs`.
            custom(
                "cilium.io/v2",
                "CiliumNetworkPolicy",
                Some("b"),
                "from-frontend",
                "specs:\n- endpointSelector: {}\n  ingress:\n  - fromEndpoints:\n    - matchLabels: {role: frontend}\n    toPorts:\n    - ports: [{port: '80', protocol: TCP}]",
            ),
            // Only deny rules: default-deny is implied for ingress.
            cnp(
                "c",
                "deny-world",
                "{endpointSelector: {}, ingressDeny: [{fromEntities: [world]}]}",
            ),
        ]);
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(3, vec![]));
    }

    #[test]
    fn cilium_clusterwide_policy_covers_the_namespaces_it_selects() {
        let yaml = fixture(&[
            ns("a"),
            ns("b"),
            ns("kube-system"),
            ccnp(
                "default-deny",
                "{endpointSelector: {matchExpressions: [{key: io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}]}, ingress: [{fromEntities: [cluster]}]}",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Namespace/kube-system"]);
        assert!(messages(&out)[0].contains(
            "policy kinds considered: NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy"
        ));

        // By namespace label, with the `k8s:` source prefix.
        let yaml = fixture(&[
            labelled_ns("a", "{team: red}"),
            labelled_ns("b", "{team: blue}"),
            ccnp(
                "team-red",
                "{endpointSelector: {matchLabels: {'k8s:io.cilium.k8s.namespace.labels.team': red}}, ingress: [{}]}",
            ),
        ]);
        assert_eq!(failing(&run(ID, "", &yaml)), vec!["Namespace/b"]);
    }

    #[test]
    fn cilium_policies_that_do_not_deny_ingress_by_default_fail() {
        let yaml = fixture(&[
            ns("egress"),
            ns("optout"),
            ns("world"),
            ns("ports"),
            ns("some"),
            // Egress rules only: ingress stays open (shape of Cilium's servicemesh example).
            cnp(
                "egress",
                "dns-only",
                "{endpointSelector: {}, egress: [{toEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}], toPorts: [{ports: [{port: '53', protocol: UDP}]}]}]}",
            ),
            cnp(
                "optout",
                "audit",
                "{endpointSelector: {}, enableDefaultDeny: {ingress: false, egress: false}, ingress: [{fromEndpoints: [{matchLabels: {app: x}}]}]}",
            ),
            cnp(
                "world",
                "public",
                "{endpointSelector: {}, ingress: [{fromEntities: [world]}]}",
            ),
            cnp(
                "ports",
                "l4",
                "{endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '80', protocol: TCP}]}]}]}",
            ),
            // Isolates only some pods.
            cnp(
                "some",
                "web",
                "{endpointSelector: {matchLabels: {app: web}}, ingress: [{}]}",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec![
                "Namespace/egress",
                "Namespace/optout",
                "Namespace/ports",
                "Namespace/some",
                "Namespace/world"
            ]
        );
        let m = messages(&out);
        assert!(
            m[0].contains("`dns-only` selects every pod but has no ingress or ingressDeny rules"),
            "{}",
            m[0]
        );
        assert!(
            m[1].contains("enableDefaultDeny.ingress: false"),
            "{}",
            m[1]
        );
        assert!(
            m[2].contains("ingress rule 1 has ports but no source"),
            "{}",
            m[2]
        );
        assert!(
            !m[3].contains("`web`"),
            "a policy selecting some pods is no near miss: {}",
            m[3]
        );
        assert!(
            m[4].contains("ingress rule 1 allows the entity `all` or `world`"),
            "{}",
            m[4]
        );
        assert!(m.iter().all(|m| m.contains("endpointSelector: {}")));
    }

    #[test]
    fn calico_global_policy_denies_everywhere_it_selects() {
        let yaml = fixture(&[
            ns("a"),
            ns("b"),
            gnp("default-deny", "{selector: all(), types: [Ingress]}"),
        ]);
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(2, vec![]));

        let yaml = fixture(&[
            ns("a"),
            ns("kube-system"),
            gnp(
                "default-deny",
                "{namespaceSelector: 'has(projectcalico.org/name) && projectcalico.org/name not in {\"kube-system\"}', types: [Ingress, Egress]}",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Namespace/kube-system"]);
        assert!(messages(&out)[0].contains("Calico GlobalNetworkPolicy"));
    }

    #[test]
    fn calico_namespaced_policies() {
        let yaml = fixture(&[
            ns("ok"),
            ns("open"),
            ns("egress"),
            ns("broken"),
            ns("web"),
            calico_np(
                "ok",
                "deny",
                "{selector: all(), types: [Ingress, Egress], ingress: [{action: Allow, protocol: TCP, source: {selector: \"tier == 'web'\"}, destination: {ports: [8080]}}]}",
            ),
            calico_np(
                "open",
                "allow-all",
                "{selector: all(), ingress: [{action: Allow}]}",
            ),
            calico_np(
                "egress",
                "egress",
                "{selector: all(), egress: [{action: Allow}]}",
            ),
            calico_np(
                "broken",
                "typo",
                "{selector: \"app = 'x'\", types: [Ingress]}",
            ),
            calico_np(
                "web",
                "web",
                "{selector: \"app == 'web'\", types: [Ingress]}",
            ),
        ]);
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec![
                "Namespace/broken",
                "Namespace/egress",
                "Namespace/open",
                "Namespace/web"
            ]
        );
        let m = messages(&out);
        assert!(m[0].contains("not understood, so treated as selecting nothing: Calico NetworkPolicy `typo`: selector `app = 'x'`"), "{}", m[0]);
        assert!(m[1].contains("does not list Ingress in types"), "{}", m[1]);
        assert!(
            m[2].contains("ingress rule 1 allows (or passes on) traffic from any source"),
            "{}",
            m[2]
        );
        assert!(!m[3].contains("`web` selects"), "{}", m[3]);
    }

    #[test]
    fn served_without_objects_names_the_kinds_considered() {
        // A CRD in the manifests says the API is served even with no policy of its kind.
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: networkpolicies.crd.projectcalico.org}\nspec: {group: crd.projectcalico.org, names: {kind: NetworkPolicy, plural: networkpolicies}, scope: Namespaced, versions: []}\n---\n".to_string();
        let out = run(ID, "", &fixture(&[ns("a"), crd]));
        assert_eq!(failing(&out), vec!["Namespace/a"]);
        assert!(messages(&out)[0].contains(
            "policy kinds considered: NetworkPolicy, Calico NetworkPolicy, Calico GlobalNetworkPolicy)"
        ));
        // Nothing served: the message is today's.
        let out = run(ID, "", &ns("a"));
        assert!(!messages(&out)[0].contains("considered"));
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
