//! `monitoring.agents-ready`: the detection and monitoring DaemonSets the organization relies
//! on exist and have a ready pod on every schedulable node. Agents are listed by hand
//! (`required`) or picked from built-in detector profiles (`profiles`, see [`super::detectors`]);
//! when the snapshot holds nodes and pods, findings name the nodes without a running agent pod.

use std::collections::BTreeMap;

use crate::snapshot::kinds::DaemonSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::detectors::{DetectorProfile, list_nodes, uncovered_nodes};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct AgentsReady;

/// One required agent: the DaemonSet(s) matching every field given. At least `name` or
/// `matchLabels` must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    try_from = "RequiredAgentFields"
)]
pub struct RequiredAgent {
    /// The DaemonSet's namespace. Default: any namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The DaemonSet's name. Default: any name (then `matchLabels` is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels the DaemonSet must carry. Default: none (then `name` is required).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// The wire form of [`RequiredAgent`], before its fields are checked.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequiredAgentFields {
    /// The DaemonSet's namespace. Default: any namespace.
    #[serde(default)]
    namespace: Option<String>,
    /// The DaemonSet's name. Default: any name (then `matchLabels` is required).
    #[serde(default)]
    name: Option<String>,
    /// Labels the DaemonSet must carry. Default: none (then `name` is required).
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

impl TryFrom<RequiredAgentFields> for RequiredAgent {
    type Error = String;
    fn try_from(f: RequiredAgentFields) -> Result<Self, String> {
        if f.name.as_deref().is_none_or(str::is_empty) && f.match_labels.is_empty() {
            return Err("a required agent needs `name` or `matchLabels`".to_string());
        }
        Ok(Self {
            namespace: f.namespace.filter(|n| !n.is_empty()),
            name: f.name.filter(|n| !n.is_empty()),
            match_labels: f.match_labels,
        })
    }
}

impl RequiredAgent {
    fn matches(&self, ds: &DaemonSet) -> bool {
        let meta = &ds.metadata;
        let ns_ok = self
            .namespace
            .as_deref()
            .is_none_or(|n| meta.namespace.as_deref() == Some(n));
        let name_ok = self
            .name
            .as_deref()
            .is_none_or(|n| meta.name.as_deref() == Some(n));
        let labels_ok = self.match_labels.is_empty()
            || meta
                .labels
                .as_ref()
                .is_some_and(|l| self.match_labels.iter().all(|(k, v)| l.get(k) == Some(v)));
        ns_ok && name_ok && labels_ok
    }

    /// `k=v,k2=v2` for the labels.
    fn selector(&self) -> String {
        self.match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The resource a "missing" finding names.
    fn resource(&self) -> ResourceRef {
        let name = self.name.clone().unwrap_or_else(|| self.selector());
        ResourceRef::new("DaemonSet", self.namespace.as_deref(), &name)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("named `{n}`"));
        }
        if !self.match_labels.is_empty() {
            parts.push(format!("labelled `{}`", self.selector()));
        }
        match &self.namespace {
            Some(ns) => parts.push(format!("in namespace `{ns}`")),
            None => parts.push("in any namespace".to_string()),
        }
        format!("a DaemonSet {}", parts.join(" "))
    }
}

/// Parameters of `monitoring.agents-ready`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentsReadyParams {
    /// The agents that must run on every schedulable node, e.g.
    /// `[{namespace: falco, name: falco}, {matchLabels: {app: datadog-agent}}]`.
    /// Default: none (with no `profiles` either, the check is not applicable).
    pub required: Vec<RequiredAgent>,
    /// Runtime threat detectors recognised by their charts' labels, in any namespace:
    /// `Falco`, `Tetragon`, `Datadog`, `Sysdig`. Each must have a DaemonSet ready on every
    /// schedulable node. Default: none.
    pub profiles: Vec<DetectorProfile>,
}

/// Why a DaemonSet is not ready everywhere, or `None`. `nodes` is the number of schedulable
/// nodes (`None` when the snapshot has no nodes, e.g. from manifests).
fn not_ready(ds: &DaemonSet, nodes: Option<usize>) -> Option<String> {
    let (desired, ready) = ds
        .status
        .as_ref()
        .map_or((0, 0), |s| (s.desired_number_scheduled, s.number_ready));
    let desired = usize::try_from(desired).unwrap_or(0);
    let ready = usize::try_from(ready).unwrap_or(0);
    let mut problems = Vec::new();
    if ready < desired {
        problems.push(format!("{ready} of {desired} pods are ready"));
    }
    if let Some(nodes) = nodes.filter(|n| desired < *n) {
        problems.push(format!(
            "it is scheduled on {desired} of {nodes} schedulable nodes"
        ));
    }
    if problems.is_empty() {
        None
    } else {
        Some(problems.join(" and "))
    }
}

impl Check for AgentsReady {
    type Params = AgentsReadyParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "monitoring.agents-ready",
            title: "Monitoring and detection agents run on every node",
            description: "Each agent in params.required (and each runtime detector in \
                params.profiles: Falco, Tetragon, Datadog, Sysdig) fails when no DaemonSet \
                matches it, when a matching DaemonSet has no running pod on some schedulable \
                node, or when a matching DaemonSet has fewer ready pods than desired or is scheduled on \
                fewer nodes than are schedulable. The agents are looked for wherever params say, \
                whatever the control's namespace scope.",
            criteria: &["CC7.2"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::Node,
            crate::snapshot::KindId::DaemonSet,
            crate::snapshot::KindId::Pod,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &AgentsReadyParams) -> Outcome {
        if params.required.is_empty() && params.profiles.is_empty() {
            return Outcome::not_applicable(
                "no monitoring agents configured: set params.required or params.profiles",
            );
        }
        let snapshot = ctx.snapshot;
        let nodes = (!snapshot.nodes.is_empty()).then(|| {
            snapshot
                .nodes
                .iter()
                .filter(|n| {
                    !n.spec
                        .as_ref()
                        .and_then(|s| s.unschedulable)
                        .unwrap_or(false)
                })
                .count()
        });
        let mut checked = 0;
        let mut findings = Vec::new();
        for agent in &params.required {
            let matching: Vec<&DaemonSet> = snapshot
                .daemonsets
                .iter()
                .map(AsRef::as_ref)
                .filter(|ds| agent.matches(ds))
                .collect();
            if matching.is_empty() {
                checked += 1;
                findings.push(Finding::new(
                    agent.resource(),
                    format!(
                        "required monitoring agent missing: no {}; deploy it, or correct \
                         params.required",
                        agent.describe()
                    ),
                ));
                continue;
            }
            for ds in matching {
                checked += 1;
                let uncovered = uncovered_nodes(snapshot, &[ds]).filter(|u| !u.is_empty());
                let why = match (not_ready(ds, nodes), uncovered) {
                    (None, None) => None,
                    (Some(w), None) => Some(w),
                    (w, Some(u)) => Some(format!(
                        "{}no running pod on node(s) {}",
                        w.map(|w| format!("{w}; ")).unwrap_or_default(),
                        list_nodes(&u)
                    )),
                };
                if let Some(why) = why {
                    let r = ResourceRef::of(ds);
                    findings.push(Finding::new(
                        r.clone(),
                        format!(
                            "monitoring agent DaemonSet `{}/{}` is not ready on every node: \
                             {why}; fix its failing pods and give it the tolerations and node \
                             selection to run on every schedulable node",
                            r.namespace.as_deref().unwrap_or(""),
                            r.name
                        ),
                    ));
                }
            }
        }
        for &profile in &params.profiles {
            checked += 1;
            let matching: Vec<&DaemonSet> = snapshot
                .daemonsets
                .iter()
                .map(AsRef::as_ref)
                .filter(|ds| profile.matches(ds))
                .collect();
            let Some(first) = matching.first() else {
                findings.push(Finding::new(
                    ResourceRef::new("DaemonSet", None, &format!("{profile:?}")),
                    format!(
                        "runtime threat detector {} missing: no DaemonSet labelled {}; deploy                          it, or remove it from params.profiles",
                        profile.name(),
                        profile.describe()
                    ),
                ));
                continue;
            };
            let mut problems: Vec<String> = matching
                .iter()
                .filter_map(|ds| {
                    not_ready(ds, nodes).map(|w| {
                        format!(
                            "`{}/{}`: {w}",
                            ds.metadata.namespace.as_deref().unwrap_or(""),
                            ds.metadata.name.as_deref().unwrap_or("")
                        )
                    })
                })
                .collect();
            if let Some(u) = uncovered_nodes(snapshot, &matching).filter(|u| !u.is_empty()) {
                problems.push(format!("no running pod on node(s) {}", list_nodes(&u)));
            }
            if !problems.is_empty() {
                findings.push(Finding::new(
                    ResourceRef::of(*first),
                    format!(
                        "runtime threat detector {} does not cover every node: {}; fix its                          failing pods and give it the tolerations and node selection to run on                          every schedulable node",
                        profile.name(),
                        problems.join("; ")
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

    const ID: &str = "monitoring.agents-ready";

    fn ds(ns: &str, name: &str, labels: &str, desired: i32, ready: i32) -> String {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\n\
             spec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: a, image: a}}]}}\n\
             status: {{desiredNumberScheduled: {desired}, numberReady: {ready}, currentNumberScheduled: {desired}, numberMisscheduled: 0}}\n---\n"
        )
    }

    fn node(name: &str, unschedulable: bool) -> String {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nspec: {{unschedulable: {unschedulable}}}\n---\n"
        )
    }

    fn cluster() -> String {
        [
            node("n1", false),
            node("n2", false),
            node("n3", true),
            ds("falco", "falco", "{app: falco}", 2, 2),
            ds("monitoring", "node-exporter", "{app: node-exporter}", 2, 1),
            ds("datadog", "datadog-agent", "{app: datadog-agent}", 1, 1),
        ]
        .concat()
    }

    #[test]
    fn no_required_agents_is_not_applicable() {
        assert_eq!(
            run(ID, "", &cluster()),
            Outcome::not_applicable(
                "no monitoring agents configured: set params.required or params.profiles"
            )
        );
    }

    #[test]
    fn ready_agents_pass() {
        let out = run(
            ID,
            "required: [{namespace: falco, name: falco}, {matchLabels: {app: falco}}]",
            &cluster(),
        );
        assert_eq!(out, Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn missing_and_unready_agents_fail() {
        let params = "required:\n- {namespace: falco, name: falco}\n- {namespace: monitoring, name: node-exporter}\n- {matchLabels: {app: datadog-agent}}\n- {namespace: security, name: tetragon}\n- {matchLabels: {app: crowdstrike}}\n";
        let out = run(ID, params, &cluster());
        assert_eq!(
            failing(&out),
            vec![
                "DaemonSet/monitoring/node-exporter",
                "DaemonSet/datadog/datadog-agent",
                "DaemonSet/security/tetragon",
                "DaemonSet/app=crowdstrike",
            ]
        );
        assert_eq!(checked(&out), 5);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("1 of 2 pods are ready"));
        // Two schedulable nodes (n3 is cordoned), scheduled on one.
        assert!(
            findings[1]
                .message
                .contains("scheduled on 1 of 2 schedulable nodes")
        );
        assert!(findings[2].message.contains("missing"));
    }

    #[test]
    fn without_nodes_only_readiness_counts() {
        let yaml = ds("datadog", "datadog-agent", "{}", 1, 1);
        let out = run(ID, "required: [{name: datadog-agent}]", &yaml);
        assert_eq!(out, Outcome::evaluated(1, vec![]));
    }

    #[test]
    fn scope_does_not_hide_agents() {
        let out = run_scoped(
            ID,
            "required: [{namespace: falco, name: falco}]",
            &cluster(),
            &ScopeFilter::all().excluding(["falco"]),
        );
        assert_eq!(out, Outcome::evaluated(1, vec![]));
    }

    /// A DaemonSet as a chart renders it: labels on the pod template, a named container.
    fn chart_ds(ns: &str, name: &str, pod_labels: &str, container: &str, n: i32) -> String {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}, namespace: {ns}}}\n\
             spec:\n  selector: {{matchLabels: {pod_labels}}}\n  template:\n    metadata: {{labels: {pod_labels}}}\n    spec: {{containers: [{{name: {container}, image: x}}]}}\n\
             status: {{desiredNumberScheduled: {n}, numberReady: {n}, currentNumberScheduled: {n}, numberMisscheduled: 0}}\n---\n"
        )
    }

    fn ds_pod(ns: &str, ds: &str, node: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {ds}-{node}\n  namespace: {ns}\n  ownerReferences: [{{apiVersion: apps/v1, kind: DaemonSet, name: {ds}, uid: u, controller: true}}]\n\
             spec: {{nodeName: {node}, containers: [{{name: c, image: x}}]}}\nstatus: {{phase: Running}}\n---\n"
        )
    }

    fn detectors() -> String {
        [
            node("n1", false),
            node("n2", false),
            node("n3", true),
            chart_ds("falco", "falco", "{app.kubernetes.io/name: falco, app.kubernetes.io/instance: falco}", "falco", 2),
            ds_pod("falco", "falco", "n1"),
            ds_pod("falco", "falco", "n2"),
            chart_ds("kube-system", "tetragon", "{app.kubernetes.io/name: tetragon, app.kubernetes.io/instance: tetragon, app.kubernetes.io/component: agent}", "tetragon", 2),
            ds_pod("kube-system", "tetragon", "n1"),
            chart_ds("sysdig", "sysdig-agent", "{app.kubernetes.io/name: agent, app.kubernetes.io/instance: sysdig-agent}", "sysdig", 2),
            ds_pod("sysdig", "sysdig-agent", "n1"),
            ds_pod("sysdig", "sysdig-agent", "n2"),
            // Looks like Sysdig's new labels but runs no `sysdig` container: not Sysdig.
            chart_ds("other", "agent", "{app.kubernetes.io/name: agent}", "agent", 2),
        ]
        .concat()
    }

    #[test]
    fn detector_profiles_covering_every_node_pass() {
        let out = run(ID, "profiles: [Falco, Sysdig]", &detectors());
        assert_eq!(out, Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn detector_profiles_report_uncovered_nodes_and_missing_detectors() {
        let out = run(ID, "profiles: [Falco, Tetragon, Datadog]", &detectors());
        assert_eq!(
            failing(&out),
            ["DaemonSet/kube-system/tetragon", "DaemonSet/Datadog"]
        );
        assert_eq!(checked(&out), 3);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(
            findings[0].message.contains("no running pod on node(s) n2"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[1]
                .message
                .contains("agent.datadoghq.com/component=agent")
        );
        // Hand-written entries name uncovered nodes too.
        let out = run(ID, "required: [{name: tetragon}]", &detectors());
        assert_eq!(failing(&out), ["DaemonSet/kube-system/tetragon"]);
    }

    #[test]
    fn params_are_validated() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"required": [{"namespace": "x"}]})))
                .is_err(),
            "an entry needs name or matchLabels"
        );
        assert!(
            check
                .validate(Some(&json!({"required": [{"name": "x", "bogus": 1}]})))
                .is_err()
        );
        assert!(
            check
                .validate(Some(&json!({"required": [{"name": "x"}]})))
                .is_ok()
        );
        assert!(
            check
                .validate(Some(&json!({"profiles": ["Falco", "Sysdig"]})))
                .is_ok()
        );
        assert!(
            check
                .validate(Some(&json!({"profiles": ["Wazuh"]})))
                .is_err()
        );
    }
}
