//! Built-in profiles of runtime threat detectors for `monitoring.agents-ready`: Falco, Tetragon,
//! and the Datadog and Sysdig agents, recognised by the labels their official Helm charts put on
//! the DaemonSet's pods, so that no one has to write the lists by hand.
//!
//! Sources (chart templates): falcosecurity/charts `charts/falco/templates/_helpers.tpl`
//! (`app.kubernetes.io/name: falco`); cilium/tetragon `install/kubernetes/tetragon/templates/
//! _helpers.tpl` (`app.kubernetes.io/name: tetragon`, `app.kubernetes.io/component: agent`);
//! DataDog/helm-charts `charts/datadog/templates/daemonset.yaml`
//! (`agent.datadoghq.com/component: agent`); sysdiglabs/charts `charts/agent/templates/
//! daemonset.yaml` (`app: sysdig-agent`, or `app.kubernetes.io/name: agent` with a `sysdig`
//! container). The namespace and release name are the installer's choice, so profiles match any
//! namespace and name. Operator-managed installs (DatadogAgent resources and the like) render
//! the same DaemonSet labels only if their operators do; that is not confirmed.
//!
//! This module also finds the nodes a set of DaemonSets does not cover (no running pod).

use std::collections::{BTreeMap, BTreeSet};

use crate::snapshot::kinds::DaemonSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::snapshot::ClusterSnapshot;

/// A runtime threat detector with a built-in profile.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum DetectorProfile {
    /// Falco (falcosecurity/charts `falco`).
    Falco,
    /// Cilium Tetragon (cilium/tetragon chart, the agent DaemonSet).
    Tetragon,
    /// The Datadog Agent (DataDog/helm-charts `datadog`, the node agent DaemonSet).
    Datadog,
    /// The Sysdig Agent (sysdiglabs/charts `agent`, also as the `sysdig-deploy` subchart).
    Sysdig,
}

/// One way a profile's DaemonSet looks: labels on its pods (or on itself), and optionally a
/// container it must run.
struct Shape {
    labels: &'static [(&'static str, &'static str)],
    container: Option<&'static str>,
}

impl DetectorProfile {
    /// The profile's name in findings.
    pub fn name(self) -> &'static str {
        match self {
            DetectorProfile::Falco => "Falco",
            DetectorProfile::Tetragon => "Tetragon",
            DetectorProfile::Datadog => "Datadog Agent",
            DetectorProfile::Sysdig => "Sysdig Agent",
        }
    }

    fn shapes(self) -> &'static [Shape] {
        match self {
            DetectorProfile::Falco => &[Shape {
                labels: &[("app.kubernetes.io/name", "falco")],
                container: None,
            }],
            DetectorProfile::Tetragon => &[Shape {
                labels: &[
                    ("app.kubernetes.io/name", "tetragon"),
                    ("app.kubernetes.io/component", "agent"),
                ],
                container: None,
            }],
            DetectorProfile::Datadog => &[Shape {
                labels: &[("agent.datadoghq.com/component", "agent")],
                container: None,
            }],
            DetectorProfile::Sysdig => &[
                Shape {
                    labels: &[("app", "sysdig-agent")],
                    container: None,
                },
                Shape {
                    labels: &[("app.kubernetes.io/name", "agent")],
                    container: Some("sysdig"),
                },
            ],
        }
    }

    /// How the profile recognises its DaemonSet, for messages.
    pub fn describe(self) -> String {
        self.shapes()
            .iter()
            .map(|s| {
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                match s.container {
                    Some(c) => format!("`{}` with a `{c}` container", labels.join(",")),
                    None => format!("`{}`", labels.join(",")),
                }
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Whether a DaemonSet is this detector's.
    pub fn matches(self, ds: &DaemonSet) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let own = ds.metadata.labels.as_ref().unwrap_or(&EMPTY);
        let template = &ds.spec.template;
        let pod = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .unwrap_or(&EMPTY);
        self.shapes().iter().any(|shape| {
            let has = |labels: &BTreeMap<String, String>| {
                shape
                    .labels
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            };
            let container_ok = shape.container.is_none_or(|c| {
                template
                    .spec
                    .as_ref()
                    .is_some_and(|s| s.containers.iter().any(|x| x.name == c))
            });
            (has(pod) || has(own)) && container_ok
        })
    }
}

/// The schedulable nodes on which none of `daemonsets` runs a pod, sorted; `None` when the
/// snapshot cannot tell (no nodes or no pods, e.g. from manifests).
pub fn uncovered_nodes(
    snapshot: &ClusterSnapshot,
    daemonsets: &[&DaemonSet],
) -> Option<Vec<String>> {
    if snapshot.nodes.is_empty() || snapshot.pods.is_empty() {
        return None;
    }
    let owners: BTreeSet<(&str, &str)> = daemonsets
        .iter()
        .map(|d| {
            (
                d.metadata.namespace.as_deref().unwrap_or(""),
                d.metadata.name.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let covered: BTreeSet<&str> = snapshot
        .pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| {
            let ns = p.metadata.namespace.as_deref().unwrap_or("");
            p.metadata.owner_references.iter().flatten().any(|o| {
                o.controller == Some(true)
                    && o.kind == "DaemonSet"
                    && owners.contains(&(ns, o.name.as_str()))
            })
        })
        .filter_map(|p| p.spec.as_ref()?.node_name.as_deref())
        .collect();
    Some(
        snapshot
            .nodes
            .iter()
            .filter(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .filter_map(|n| n.metadata.name.as_deref())
            .filter(|n| !covered.contains(n))
            .map(str::to_string)
            .collect(),
    )
}

/// `a, b, c` (at most ten, then how many more).
pub fn list_nodes(nodes: &[String]) -> String {
    let mut s = nodes
        .iter()
        .take(10)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if nodes.len() > 10 {
        s.push_str(&format!(" and {} more", nodes.len() - 10));
    }
    s
}
