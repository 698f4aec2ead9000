//! `availability.redundancy`: critical workloads have replicas and a PodDisruptionBudget.

use std::collections::{BTreeMap, HashMap};

use kube::core::{Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::workload::join_problems;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The default label marking a workload critical.
pub const CRITICAL_LABEL: &str = "soc2.evidence.dev/critical";

/// Flags critical Deployments and StatefulSets (those whose own labels contain every
/// `criticalSelector` pair) that run fewer than `minReplicas` replicas, or whose pod template
/// labels no PodDisruptionBudget in their namespace selects. `checked` counts the critical
/// workloads in scope.
pub struct Redundancy;

/// Parameters of `availability.redundancy`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Labels (all must match, on the workload's own metadata) that mark a workload critical.
    /// An empty map makes every Deployment and StatefulSet critical. Default
    /// `{"soc2.evidence.dev/critical": "true"}`.
    pub critical_selector: BTreeMap<String, String>,
    /// Fewest replicas a critical workload may run. Default `2`.
    pub min_replicas: i32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            critical_selector: BTreeMap::from([(CRITICAL_LABEL.to_string(), "true".to_string())]),
            min_replicas: 2,
        }
    }
}

impl Check for Redundancy {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "availability.redundancy",
            title: "Critical workloads are redundant and protected by a PodDisruptionBudget",
            description: "A Deployment or StatefulSet labelled critical fails when it has fewer \
                          than the minimum replicas or no PodDisruptionBudget in its namespace \
                          selects its pods.",
            criteria: &["A1.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![crate::snapshot::KindId::PodDisruptionBudget,]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        // PDB selectors, compiled once per namespace. A PDB without a selector selects
        // nothing; one whose selector cannot be compiled is ignored.
        let mut pdb_selectors: HashMap<&str, Vec<Selector>> = HashMap::new();
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !matches!(w.kind, "Deployment" | "StatefulSet") {
                continue;
            }
            let labels = w.labels();
            if !params
                .critical_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            {
                continue;
            }
            let ns: &str = w.meta.namespace.as_deref().unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            let replicas = w.replicas.unwrap_or(1);
            if replicas < params.min_replicas {
                problems.push(format!(
                    "critical workload runs {replicas} replica(s); set spec.replicas to at \
                     least {}",
                    params.min_replicas
                ));
            }
            let selectors = pdb_selectors.entry(ns).or_insert_with(|| {
                ctx.snapshot
                    .index()
                    .pdbs_in(ns)
                    .iter()
                    .filter_map(|pdb| pdb.spec.as_ref()?.selector.clone())
                    .filter_map(|sel| Selector::try_from(sel).ok())
                    .collect()
            });
            let pod_labels = w.template_labels;
            if !selectors.iter().any(|s| s.matches(pod_labels)) {
                problems.push(format!(
                    "no PodDisruptionBudget in namespace `{ns}` selects its pods; create one \
                     whose selector matches the pod template labels"
                ));
            }
            if !problems.is_empty() {
                findings.push(Finding::new(w.resource(), join_problems(&problems)));
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

    const ID: &str = "availability.redundancy";

    fn workload(kind: &str, ns: &str, name: &str, replicas: i32, critical: bool) -> String {
        let labels = if critical {
            "{soc2.evidence.dev/critical: \"true\"}"
        } else {
            "{}"
        };
        let extra = if kind == "StatefulSet" {
            format!("\n  serviceName: {name}")
        } else {
            String::new()
        };
        format!(
            r#"
apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  replicas: {replicas}{extra}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: backend}}}}
    spec:
      containers: [{{name: c, image: x:1}}]
---"#
        )
    }

    fn pdb(ns: &str, name: &str, selector: &str) -> String {
        format!(
            r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {name}, namespace: {ns}}}
spec:
  minAvailable: 1
  selector: {selector}
---"#
        )
    }

    #[test]
    fn redundant_critical_workloads_pass() {
        let y = workload("Deployment", "a", "api", 3, true)
            + &workload("StatefulSet", "a", "db", 2, true)
            + &pdb("a", "api", "{matchLabels: {app: api}}")
            + &pdb(
                "a",
                "db",
                "{matchExpressions: [{key: app, operator: In, values: [db]}]}",
            )
            + &workload("Deployment", "a", "tool", 1, false);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn too_few_replicas_or_missing_pdb_fail() {
        let y = workload("Deployment", "a", "single", 1, true)
            + &pdb("a", "single", "{matchLabels: {app: single}}")
            + &workload("StatefulSet", "a", "db", 3, true)
            // Selects other pods, and a PDB elsewhere does not count.
            + &pdb("a", "other", "{matchLabels: {app: other}}")
            + &pdb("b", "db", "{matchLabels: {app: db}}");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Deployment/a/single", "StatefulSet/a/db"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert!(findings[0].message.contains("runs 1 replica(s)"));
        assert!(!findings[0].message.contains("PodDisruptionBudget"));
        assert!(findings[1].message.contains("no PodDisruptionBudget"));
    }

    #[test]
    fn empty_pdb_selector_selects_all_pods() {
        let y = workload("Deployment", "a", "api", 2, true) + &pdb("a", "all", "{}");
        assert!(failing(&run(ID, "", &y)).is_empty());
    }

    #[test]
    fn params_change_selection_and_minimum() {
        let y = workload("Deployment", "a", "api", 2, false) + &pdb("a", "api", "{}");
        assert!(failing(&run(ID, "", &y)).is_empty());
        let o = run(ID, "{criticalSelector: {}, minReplicas: 3}", &y);
        assert_eq!(failing(&o), ["Deployment/a/api"]);
        let y = workload("Deployment", "a", "api", 1, true) + &pdb("a", "api", "{}");
        assert!(failing(&run(ID, "minReplicas: 1", &y)).is_empty());
    }

    #[test]
    fn daemonsets_are_not_judged() {
        let y = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: a, labels: {soc2.evidence.dev/critical: "true"}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: x:1}]}
"#;
        let o = run(ID, "", y);
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 0);
    }

    #[test]
    fn scope_and_unknown_params() {
        let y = workload("Deployment", "a", "api", 1, true);
        let o = run_scoped(ID, "", &y, &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 0);
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
