//! `network.pods-isolated`: every running pod is selected by at least one NetworkPolicy that
//! governs ingress, so that its ingress is not open by default. Where the cluster serves them,
//! Cilium and Calico policies that put the pod into default-deny for ingress count too
//! ([`super::cni`]).

use std::collections::BTreeMap;

use crate::snapshot::kinds::Pod;
use kube::core::{Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cni::{CniView, PodView, considered_note, service_account};
use super::governs_ingress;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct PodsIsolated;

/// Parameters of `network.pods-isolated`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PodsIsolatedParams {
    /// Pods carrying any of these label key/value pairs are skipped. Default: none.
    pub ignore_labels: BTreeMap<String, String>,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

fn labels(pod: &Pod) -> &BTreeMap<String, String> {
    pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
}

/// Running pods on the pod network; host-network pods cannot be isolated by NetworkPolicy.
fn is_candidate(pod: &Pod) -> bool {
    let running = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Running");
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    running && !host_network
}

impl Check for PodsIsolated {
    type Params = PodsIsolatedParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "network.pods-isolated",
            title: "Running pods are selected by an ingress NetworkPolicy",
            description: "A running, non-host-network pod in an in-scope namespace fails when no \
                NetworkPolicy governing Ingress selects it (nor, where served, a Cilium or Calico \
                policy that isolates its ingress).",
            criteria: &["CC6.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::Pod,
            crate::snapshot::KindId::NetworkPolicy,
            crate::snapshot::KindId::Namespace,
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CiliumNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CiliumClusterwideNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CalicoNetworkPolicy),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CalicoGlobalNetworkPolicy),
            crate::snapshot::KindId::ServiceAccount,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &PodsIsolatedParams) -> Outcome {
        let index = ctx.snapshot.index();
        let view = CniView::new(ctx.snapshot);
        let mut checked = 0;
        let mut findings = Vec::new();
        // Pods are sorted by (namespace, name): one chunk per namespace, so each namespace's
        // scope and selectors are resolved once.
        for chunk in ctx
            .snapshot
            .pods
            .chunk_by(|a, b| a.metadata.namespace == b.metadata.namespace)
        {
            let ns = chunk
                .first()
                .and_then(|p| p.metadata.namespace.as_deref())
                .unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            // An invalid selector cannot be admitted by the API server; treat it as selecting
            // nothing rather than failing the whole check.
            let selectors: Vec<Selector> = index
                .network_policies_in(ns)
                .iter()
                .filter_map(|np| np.spec.as_ref())
                .filter(|spec| governs_ingress(spec))
                .filter_map(|spec| {
                    Selector::try_from(spec.pod_selector.clone().unwrap_or_default()).ok()
                })
                .collect();
            let cni = view.isolating_in(ns);
            let ns_labels = index.namespace_labels(ns);
            let note = considered_note(&view, ns);
            for pod in chunk.iter().filter(|p| is_candidate(p)) {
                let labels = labels(pod);
                if params
                    .ignore_labels
                    .iter()
                    .any(|(k, v)| labels.get(k) == Some(v))
                {
                    continue;
                }
                checked += 1;
                if selectors.iter().any(|s| s.matches(labels)) {
                    continue;
                }
                let pod_view = PodView {
                    namespace: ns,
                    ns_labels,
                    labels,
                    service_account: service_account(pod),
                };
                if view.isolates_pod(&cni, &pod_view) {
                    continue;
                }
                let name = pod.metadata.name.as_deref().unwrap_or("");
                let what = if view.any_served() {
                    "policy isolating its ingress"
                } else {
                    "NetworkPolicy governing Ingress"
                };
                findings.push(Finding::new(
                    ResourceRef::new("Pod", Some(ns), name),
                    format!(
                        "pod `{name}` is selected by no {what}{note}, so any source can reach \
                         it; add a default-deny policy (podSelector: {{}}, policyTypes: [Ingress]) \
                         to namespace `{ns}` or a policy selecting its labels"
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

    const ID: &str = "network.pods-isolated";

    fn pod(ns: &str, name: &str, labels: &str, phase: &str, host_network: bool) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\n\
             spec:\n  hostNetwork: {host_network}\n  containers: [{{name: c, image: nginx}}]\n\
             status: {{phase: {phase}}}\n---\n"
        )
    }

    fn running(ns: &str, name: &str, labels: &str) -> String {
        pod(ns, name, labels, "Running", false)
    }

    fn policy(ns: &str, name: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n"
        )
    }

    #[test]
    fn selected_pods_pass() {
        let yaml = [
            running("a", "web-1", "{app: web}"),
            running("a", "db-1", "{app: db, tier: data}"),
            policy("a", "web", "{podSelector: {matchLabels: {app: web}}}"),
            policy(
                "a",
                "data",
                "{podSelector: {matchExpressions: [{key: tier, operator: In, values: [data, cache]}]}, policyTypes: [Ingress]}",
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn unselected_pods_fail() {
        let yaml = [
            running("a", "web-1", "{app: web}"),
            running("a", "api-1", "{app: api}"),
            running("b", "web-1", "{app: web}"),
            policy("a", "web", "{podSelector: {matchLabels: {app: web}}}"),
            // Egress-only policies do not isolate ingress.
            policy("a", "egress", "{podSelector: {}, policyTypes: [Egress]}"),
            // Policies in another namespace do not count.
            policy("c", "all", "{podSelector: {}}"),
            // matchExpressions that do not match.
            policy(
                "b",
                "notweb",
                "{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}}",
            ),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Pod/a/api-1", "Pod/b/web-1"]);
        assert_eq!(checked(&out), 3);
    }

    #[test]
    fn default_deny_selects_every_pod() {
        let yaml = [
            running("a", "x", "{}"),
            running("a", "x2", "{app: other}"),
            policy("a", "deny", "{podSelector: {}}"),
        ]
        .concat();
        assert!(failing(&run(ID, "", &yaml)).is_empty());
    }

    #[test]
    fn only_running_pod_network_pods_count() {
        let yaml = [
            pod("a", "done", "{}", "Succeeded", false),
            pod("a", "pending", "{}", "Pending", false),
            pod("a", "host", "{}", "Running", true),
            running("a", "app", "{}"),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Pod/a/app"]);
        assert_eq!(checked(&out), 1);
    }

    fn custom(api_version: &str, kind: &str, ns: Option<&str>, name: &str, spec: &str) -> String {
        let ns = ns.map_or(String::new(), |n| format!(", namespace: {n}"));
        format!(
            "apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: {name}{ns}}}\nspec: {spec}\n---\n"
        )
    }

    fn cnp(ns: &str, name: &str, spec: &str) -> String {
        custom("cilium.io/v2", "CiliumNetworkPolicy", Some(ns), name, spec)
    }

    fn with_sa(ns: &str, name: &str, labels: &str, sa: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\n\
             spec:\n  serviceAccountName: {sa}\n  containers: [{{name: c, image: nginx}}]\n\
             status: {{phase: Running}}\n---\n"
        )
    }

    #[test]
    fn cilium_policies_with_ingress_isolate_the_pods_they_select() {
        let yaml = [
            running("a", "web-1", "{app: web}"),
            running("a", "db-1", "{app: db}"),
            running("a", "cache-1", "{app: cache}"),
            running("a", "batch-1", "{app: batch}"),
            running("b", "web-1", "{app: web}"),
            // Cilium's l3 example: isolates `role: backend`-like pods (here app=web).
            cnp(
                "a",
                "l3-rule",
                "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels: {role: frontend}}]}]}",
            ),
            // `k8s:` source prefix on the key.
            cnp("a", "db", "{endpointSelector: {matchLabels: {'k8s:app': db}}, ingressDeny: [{fromEntities: [world]}]}"),
            // Egress only: does not isolate ingress.
            cnp("a", "cache-egress", "{endpointSelector: {matchLabels: {app: cache}}, egress: [{toEntities: [world]}]}"),
            // Ingress rules but opted out of default-deny.
            cnp(
                "a",
                "batch-audit",
                "{endpointSelector: {matchLabels: {app: batch}}, enableDefaultDeny: {ingress: false}, ingress: [{fromEntities: [cluster]}]}",
            ),
            // A CiliumNetworkPolicy selects only pods of its own namespace.
            cnp("a", "all-web", "{endpointSelector: {matchLabels: {app: web}}, ingress: [{}]}"),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec!["Pod/a/batch-1", "Pod/a/cache-1", "Pod/b/web-1"]
        );
        assert_eq!(checked(&out), 5);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains(
            "no policy isolating its ingress (policy kinds considered: NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy)"
        ), "{}", findings[0].message);
    }

    #[test]
    fn cilium_clusterwide_policy_selects_by_namespace_and_labels() {
        let yaml = [
            running("a", "dns", "{k8s-app: kube-dns}"),
            running("b", "dns", "{k8s-app: kube-dns}"),
            custom(
                "cilium.io/v2",
                "CiliumClusterwideNetworkPolicy",
                None,
                "wildcard-from-endpoints",
                "{endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': a, k8s-app: kube-dns}}, ingress: [{fromEndpoints: [{}]}]}",
            ),
        ]
        .concat();
        assert_eq!(failing(&run(ID, "", &yaml)), vec!["Pod/b/dns"]);
    }

    #[test]
    fn calico_global_policy_for_all_namespaces_isolates_everything() {
        let yaml = [
            running("a", "web-1", "{app: web}"),
            running("b", "x", "{}"),
            custom(
                "projectcalico.org/v3",
                "GlobalNetworkPolicy",
                None,
                "default-deny",
                "{namespaceSelector: all(), types: [Ingress]}",
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn calico_policy_isolates_only_what_its_selectors_match() {
        let yaml = [
            running("a", "web-1", "{app: web}"),
            running("a", "api-1", "{app: api}"),
            with_sa("a", "job-1", "{app: job}", "runner"),
            with_sa("a", "job-2", "{app: job}", "default"),
            running("b", "web-1", "{app: web}"),
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: runner, namespace: a, labels: {role: batch}}\n---\n".to_string(),
            custom(
                "crd.projectcalico.org/v1",
                "NetworkPolicy",
                Some("a"),
                "web",
                "{selector: \"app == 'web'\", types: [Ingress], ingress: [{action: Allow, source: {selector: \"app == 'api'\"}}]}",
            ),
            // Egress types only.
            custom("crd.projectcalico.org/v1", "NetworkPolicy", Some("a"), "api-egress", "{selector: \"app == 'api'\", types: [Egress]}"),
            // By service account labels.
            custom(
                "crd.projectcalico.org/v1",
                "NetworkPolicy",
                Some("a"),
                "batch",
                "{selector: \"app == 'job'\", serviceAccountSelector: \"role == 'batch'\", types: [Ingress]}",
            ),
            // A global policy whose namespaceSelector does not match `b`.
            custom(
                "crd.projectcalico.org/v1",
                "GlobalNetworkPolicy",
                None,
                "team-a",
                "{namespaceSelector: \"projectcalico.org/name == 'a'\", selector: \"app == 'web'\", types: [Ingress]}",
            ),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec!["Pod/a/api-1", "Pod/a/job-2", "Pod/b/web-1"]
        );
        assert_eq!(checked(&out), 5);
    }

    #[test]
    fn ignore_labels_param_skips_pods() {
        let yaml = [
            running("a", "probe", "{app: probe, team: sre}"),
            running("a", "app", "{app: app, team: web}"),
        ]
        .concat();
        let out = run(ID, "ignoreLabels: {team: sre}", &yaml);
        assert_eq!(failing(&out), vec!["Pod/a/app"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn scope_excludes_namespaces() {
        let yaml = [running("a", "x", "{}"), running("kube-system", "dns", "{}")].concat();
        let out = run_scoped(
            ID,
            "",
            &yaml,
            &ScopeFilter::all().excluding(["kube-system"]),
        );
        assert_eq!(failing(&out), vec!["Pod/a/x"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"ignoreLabels": {"a": "b"}})))
                .is_ok()
        );
    }
}
