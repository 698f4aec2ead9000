//! Checks of the `change` domain: workloads change through the GitOps pipeline, not by hand
//! (`change.gitops-managed`), and are owned by a reconciled GitOps application
//! (`change.gitops-reconciled`, in [`gitops`]).
//!
//! The evidence is `metadata.managedFields`: the API server records which field manager last
//! wrote each object and when. The snapshot keeps manager names, operations and times (the
//! field sets are trimmed away).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

use super::{Catalog, Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

pub mod gitops;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(GitopsManaged);
    catalog.add(gitops::GitopsReconciled);
}

/// Flags Deployments, StatefulSets, DaemonSets and CronJobs whose most recent change came
/// from a manual tool.
///
/// Semantics, in order:
/// 1. Consider the `managedFields` entries with operation `Update` or `Apply`, a `time`, and a
///    subresource other than `status` (status writes are controllers reporting, not changes).
/// 2. Take the entries with the latest `time` (times have second resolution, so several may
///    tie).
/// 3. A manager on `allowedManagers` is fine. Otherwise it is a finding when the manager is on
///    `flaggedManagers`, or when `strict` is set (then every manager not on the allowlist is a
///    finding). With `strict: false`, unknown managers are tolerated.
/// 4. If any tied latest entry is a finding, the workload fails (naming that manager).
///
/// Entries ending in `*` in either list are prefixes (`kubectl*`). A workload with no usable
/// `managedFields` entry cannot be judged: it counts as checked but is not a finding.
pub struct GitopsManaged;

/// Parameters of `change.gitops-managed`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Field managers whose changes are expected (GitOps controllers, Kubernetes itself, this
    /// operator). They win over `flaggedManagers`. Entries ending in `*` are prefixes. Default
    /// `["argocd-controller", "argocd-application-controller", "kustomize-controller",
    /// "helm-controller", "flux", "helm", "kube-controller-manager", "soc2-operator"]`.
    pub allowed_managers: Vec<String>,
    /// Field managers of manual changes: a workload last changed by one of them fails.
    /// Entries ending in `*` are prefixes. Default `["kubectl-edit", "kubectl-patch",
    /// "kubectl-set", "kubectl-scale", "kubectl-client-side-apply"]`.
    pub flagged_managers: Vec<String>,
    /// Also fail when the latest manager is on neither list. Default `false`.
    pub strict: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            allowed_managers: [
                "argocd-controller",
                "argocd-application-controller",
                "kustomize-controller",
                "helm-controller",
                "flux",
                "helm",
                "kube-controller-manager",
                "soc2-operator",
            ]
            .map(String::from)
            .to_vec(),
            flagged_managers: [
                "kubectl-edit",
                "kubectl-patch",
                "kubectl-set",
                "kubectl-scale",
                "kubectl-client-side-apply",
            ]
            .map(String::from)
            .to_vec(),
            strict: false,
        }
    }
}

/// Whether a manager matches a list entry (exact, or a prefix when the entry ends in `*`).
fn matches_any(manager: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => manager.starts_with(prefix),
        None => manager == p,
    })
}

/// Why a manager's change is a finding, if it is.
fn verdict(manager: &str, params: &Params) -> Option<&'static str> {
    if matches_any(manager, &params.allowed_managers) {
        None
    } else if matches_any(manager, &params.flagged_managers) {
        Some("a manual-change tool (params.flaggedManagers)")
    } else if params.strict {
        Some("not on params.allowedManagers")
    } else {
        None
    }
}

fn is_change(e: &ManagedFieldsEntry) -> bool {
    matches!(e.operation.as_deref(), Some("Update" | "Apply"))
        && e.subresource.as_deref() != Some("status")
        && e.time.is_some()
}

impl Check for GitopsManaged {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "change.gitops-managed",
            title: "Workloads are changed through GitOps, not by hand",
            description: "A Deployment, StatefulSet, DaemonSet or CronJob fails when its most \
                          recent managedFields change came from a flagged manager (e.g. \
                          kubectl-edit), or, in strict mode, from any manager outside the \
                          allowlist.",
            criteria: &["CC8.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !matches!(
                w.kind,
                "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob"
            ) || !ctx.in_scope(w.namespace())
            {
                continue;
            }
            checked += 1;
            let entries: Vec<&ManagedFieldsEntry> = w
                .meta
                .managed_fields
                .iter()
                .flatten()
                .filter(|e| is_change(e))
                .collect();
            let Some(latest) = entries.iter().filter_map(|e| e.time.as_ref()).max() else {
                continue;
            };
            let culprit = entries
                .iter()
                .filter(|e| e.time.as_ref() == Some(latest))
                .find_map(|e| {
                    let manager = e.manager.as_deref().unwrap_or("");
                    verdict(manager, params).map(|why| (*e, manager, why))
                });
            if let Some((entry, manager, why)) = culprit {
                let manager = if manager.is_empty() {
                    "<unnamed>"
                } else {
                    manager
                };
                findings.push(Finding::new(
                    w.resource(),
                    format!(
                        "last changed by field manager `{manager}` ({} at {}), which is {why}; \
                         make the change in Git and let the GitOps controller apply it, or add \
                         the manager to params.allowedManagers",
                        entry.operation.as_deref().unwrap_or(""),
                        latest.0,
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

    const ID: &str = "change.gitops-managed";

    /// A Deployment whose managedFields are `(manager, operation, time, subresource)`.
    fn deployment(ns: &str, name: &str, fields: &[(&str, &str, &str, &str)]) -> String {
        let entries: String = fields
            .iter()
            .map(|(m, op, t, sub)| {
                let sub = if sub.is_empty() {
                    String::new()
                } else {
                    format!(", subresource: {sub}")
                };
                format!(
                    "\n  - {{manager: {m}, operation: {op}, time: \"{t}\", apiVersion: apps/v1, \
                     fieldsType: FieldsV1{sub}}}"
                )
            })
            .collect();
        let managed = if fields.is_empty() {
            String::new()
        } else {
            format!("\n  managedFields:{entries}")
        };
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}{managed}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: x:1}}]}}
---"#
        )
    }

    const T1: &str = "2026-06-01T10:00:00Z";
    const T2: &str = "2026-06-10T10:00:00Z";
    const T3: &str = "2026-06-14T10:00:00Z";

    #[test]
    fn gitops_managed_workloads_pass() {
        let y = deployment(
            "a",
            "api",
            &[
                ("kubectl-edit", "Update", T1, ""),
                ("argocd-controller", "Apply", T2, ""),
                // Status writes by anyone are not changes.
                ("kubectl-edit", "Update", T3, "status"),
            ],
        ) + &deployment("a", "unknown", &[]);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn manual_latest_change_fails_naming_manager_and_time() {
        let y = deployment(
            "a",
            "api",
            &[
                ("argocd-controller", "Apply", T1, ""),
                ("kubectl-edit", "Update", T2, ""),
                ("kube-controller-manager", "Update", T3, "status"),
            ],
        ) + &deployment(
            "a",
            "ok",
            &[
                ("kubectl-patch", "Update", T1, ""),
                ("helm", "Update", T2, ""),
            ],
        );
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Deployment/a/api"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        let m = &findings[0].message;
        assert!(m.contains("`kubectl-edit`"), "{m}");
        assert!(m.contains("Update at 2026-06-10T10:00:00Z"), "{m}");
    }

    #[test]
    fn ties_at_the_latest_time_fail_if_any_is_manual() {
        let y = deployment(
            "a",
            "api",
            &[
                ("argocd-controller", "Apply", T2, ""),
                ("kubectl-scale", "Update", T2, "scale"),
            ],
        );
        assert_eq!(failing(&run(ID, "", &y)), ["Deployment/a/api"]);
    }

    #[test]
    fn strict_mode_and_prefix_patterns() {
        let y = deployment("a", "api", &[("terraform", "Update", T2, "")]);
        assert!(failing(&run(ID, "", &y)).is_empty());
        assert_eq!(failing(&run(ID, "strict: true", &y)), ["Deployment/a/api"]);
        assert!(failing(&run(ID, "{strict: true, allowedManagers: [terra*]}", &y)).is_empty());
        assert_eq!(
            failing(&run(ID, "flaggedManagers: [terra*]", &y)),
            ["Deployment/a/api"]
        );
        // The allowlist wins over the flagged list.
        let y = deployment("a", "api", &[("kubectl-patch", "Update", T2, "")]);
        assert!(failing(&run(ID, "allowedManagers: [kubectl-patch]", &y)).is_empty());
    }

    #[test]
    fn other_workload_kinds() {
        let y = r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: a
  managedFields: [{manager: kubectl-set, operation: Update, time: "2026-06-01T00:00:00Z"}]
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: x:1}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: bare
  namespace: a
  managedFields: [{manager: kubectl-edit, operation: Update, time: "2026-06-01T00:00:00Z"}]
spec: {containers: [{name: c, image: x:1}]}
"#;
        let o = run(ID, "", y);
        assert_eq!(failing(&o), ["CronJob/a/nightly"]);
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn scope_and_unknown_params() {
        let y = deployment("a", "api", &[("kubectl-edit", "Update", T2, "")]);
        let o = run_scoped(ID, "", &y, &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 0);
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
