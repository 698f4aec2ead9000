//! Remediations of `Enforce` controls: what is safe to create, by server-side apply.
//!
//! - `network.default-deny`: a `soc2-default-deny` NetworkPolicy (podSelector `{}`, policyTypes
//!   `[Ingress]`) owned by the control;
//! - `workload.pod-security-admission`: the label `pod-security.kubernetes.io/enforce=baseline`
//!   on the Namespace, applied with the field manager [`PSA_MANAGER`];
//! - `rbac.default-serviceaccount`: `automountServiceAccountToken: false` on the `default`
//!   ServiceAccount, applied with the field manager [`SA_MANAGER`].
//!
//! Undo of the last two applies an empty body with the same manager: the API server then drops
//! the fields that manager owned and nothing else. Planning is pure; the async functions only
//! send what was planned.
//!
//! The operator's own namespace is never remediated: a default-deny NetworkPolicy there would
//! cut Prometheus off from `/metrics` (and the operator off from its webhooks, if any). Its
//! findings stay in status; only the change is withheld.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::{MANAGED_BY_LABEL, MANAGER, owner_reference};
use soc2_core::crd::Soc2Control;
use soc2_core::engine::{ControlResult, Status};
use soc2_core::snapshot::{ClusterSnapshot, ResourceRef};

/// Field manager owning the Pod Security Admission label.
pub const PSA_MANAGER: &str = "soc2-operator-psa";
/// Field manager owning `automountServiceAccountToken` on default ServiceAccounts.
pub const SA_MANAGER: &str = "soc2-operator-sa";
/// Name of the default-deny NetworkPolicy.
pub const DEFAULT_DENY: &str = "soc2-default-deny";
/// The Pod Security Admission label.
pub const PSA_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// The level applied.
pub const PSA_LEVEL: &str = "baseline";

/// Check ids that can be remediated.
pub const REMEDIABLE_CHECKS: [&str; 3] = [
    "network.default-deny",
    "workload.pod-security-admission",
    "rbac.default-serviceaccount",
];

/// One remediation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Remediation {
    /// Create `soc2-default-deny` in the namespace.
    DefaultDeny(String),
    /// Label the namespace with PSA `baseline`.
    PsaLabel(String),
    /// Stop the namespace's `default` ServiceAccount auto-mounting its token.
    NoAutomount(String),
}

/// One undo.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Undo {
    /// Delete a default-deny NetworkPolicy this control created.
    DeleteDefaultDeny(String),
    /// Give up the PSA label on a namespace.
    ReleasePsaLabel(String),
    /// Give up `automountServiceAccountToken` on a default ServiceAccount.
    ReleaseAutomount(String),
}

impl std::fmt::Display for Remediation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DefaultDeny(ns) => write!(f, "default-deny NetworkPolicy in namespace {ns}"),
            Self::PsaLabel(ns) => write!(f, "PSA label on namespace {ns}"),
            Self::NoAutomount(ns) => {
                write!(f, "token auto-mount off for ServiceAccount {ns}/default")
            }
        }
    }
}

impl std::fmt::Display for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DeleteDefaultDeny(ns) => {
                write!(f, "removed default-deny NetworkPolicy in namespace {ns}")
            }
            Self::ReleasePsaLabel(ns) => write!(f, "released PSA label on namespace {ns}"),
            Self::ReleaseAutomount(ns) => {
                write!(
                    f,
                    "released token auto-mount setting of ServiceAccount {ns}/default"
                )
            }
        }
    }
}

fn namespace_of(r: &ResourceRef) -> Option<&str> {
    if r.kind == "Namespace" {
        Some(r.name.as_str())
    } else {
        r.namespace.as_deref()
    }
}

/// What to remediate for a control's failing findings. Nothing in `operator_namespace` (the
/// operator's own, from `POD_NAMESPACE`) is planned.
pub fn plan(
    result: &ControlResult,
    snapshot: &ClusterSnapshot,
    operator_namespace: &str,
) -> Vec<Remediation> {
    let mut out = BTreeSet::new();
    for check in result
        .checks
        .iter()
        .filter(|c| c.status == Status::NonCompliant)
    {
        for f in &check.findings {
            let Some(ns) = namespace_of(&f.resource) else {
                continue;
            };
            if ns == operator_namespace {
                continue;
            }
            match check.check.as_str() {
                "network.default-deny" => {
                    out.insert(Remediation::DefaultDeny(ns.to_string()));
                }
                "workload.pod-security-admission" => {
                    out.insert(Remediation::PsaLabel(ns.to_string()));
                }
                "rbac.default-serviceaccount" => {
                    let sa = snapshot.index().service_account(ns, "default");
                    if sa.is_some_and(|sa| sa.automount_service_account_token != Some(false)) {
                        out.insert(Remediation::NoAutomount(ns.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    out.into_iter().collect()
}

fn managed_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    manager: &str,
) -> bool {
    meta.managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(manager) && m.operation.as_deref() == Some("Apply"))
}

/// What to undo for a control that no longer enforces (deleted, or back to `Audit`).
/// `still_enforced` holds the checks that another `Enforce` control still remediates; their
/// shared-manager fields stay.
pub fn undo_plan(
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
    still_enforced: &BTreeSet<String>,
) -> Vec<Undo> {
    let mut out = Vec::new();
    let uid = control.metadata.uid.as_deref();
    for np in &snapshot.network_policies {
        let owned = np
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(o.uid.as_str()) == uid && o.kind == "Soc2Control");
        if owned && let Some(ns) = np.metadata.namespace.as_deref() {
            out.push(Undo::DeleteDefaultDeny(ns.to_string()));
        }
    }
    if !still_enforced.contains("workload.pod-security-admission") {
        for ns in &snapshot.namespaces {
            if managed_by(&ns.metadata, PSA_MANAGER) {
                out.push(Undo::ReleasePsaLabel(ns.name_any()));
            }
        }
    }
    if !still_enforced.contains("rbac.default-serviceaccount") {
        for sa in &snapshot.service_accounts {
            if sa.metadata.name.as_deref() == Some("default")
                && managed_by(&sa.metadata, SA_MANAGER)
            {
                out.push(Undo::ReleaseAutomount(sa.namespace().unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// The SSA body of the default-deny NetworkPolicy.
pub fn default_deny_body(control: &Soc2Control, namespace: &str) -> Option<Value> {
    Some(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": DEFAULT_DENY,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: MANAGER },
            "ownerReferences": [owner_reference(control)?],
        },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"] },
    }))
}

/// The SSA body labelling a namespace.
pub fn psa_body(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": namespace, "labels": { PSA_LABEL: PSA_LEVEL } },
    })
}

/// The SSA body turning off token auto-mount.
pub fn no_automount_body(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": "default", "namespace": namespace },
        "automountServiceAccountToken": false,
    })
}

/// An empty SSA body: applying it with a manager releases every field that manager owned.
pub fn release_body(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({ "name": name });
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    json!({ "apiVersion": api_version, "kind": kind, "metadata": meta })
}

/// Applies one remediation.
pub async fn apply(client: &Client, control: &Soc2Control, r: &Remediation) -> kube::Result<()> {
    match r {
        Remediation::DefaultDeny(ns) => {
            let Some(body) = default_deny_body(control, ns) else {
                return Ok(());
            };
            Api::<NetworkPolicy>::namespaced(client.clone(), ns)
                .patch(
                    DEFAULT_DENY,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(body),
                )
                .await?;
        }
        Remediation::PsaLabel(ns) => {
            Api::<Namespace>::all(client.clone())
                .patch(
                    ns,
                    &PatchParams::apply(PSA_MANAGER).force(),
                    &Patch::Apply(psa_body(ns)),
                )
                .await?;
        }
        Remediation::NoAutomount(ns) => {
            Api::<ServiceAccount>::namespaced(client.clone(), ns)
                .patch(
                    "default",
                    &PatchParams::apply(SA_MANAGER).force(),
                    &Patch::Apply(no_automount_body(ns)),
                )
                .await?;
        }
    }
    Ok(())
}

/// Applies one undo. Objects already gone are fine.
pub async fn undo(client: &Client, u: &Undo) -> kube::Result<()> {
    let result = match u {
        Undo::DeleteDefaultDeny(ns) => Api::<NetworkPolicy>::namespaced(client.clone(), ns)
            .delete(DEFAULT_DENY, &DeleteParams::default())
            .await
            .map(|_| ()),
        Undo::ReleasePsaLabel(ns) => Api::<Namespace>::all(client.clone())
            .patch(
                ns,
                &PatchParams::apply(PSA_MANAGER).force(),
                &Patch::Apply(release_body("v1", "Namespace", ns, None)),
            )
            .await
            .map(|_| ()),
        Undo::ReleaseAutomount(ns) => Api::<ServiceAccount>::namespaced(client.clone(), ns)
            .patch(
                "default",
                &PatchParams::apply(SA_MANAGER).force(),
                &Patch::Apply(release_body("v1", "ServiceAccount", "default", Some(ns))),
            )
            .await
            .map(|_| ()),
    };
    match result {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        ManagedFieldsEntry, ObjectMeta, OwnerReference,
    };
    use soc2_core::checks::Finding;
    use soc2_core::crd::Criteria;
    use soc2_core::engine::CheckResult;
    use soc2_core::snapshot::Objects;
    use std::sync::Arc;

    fn control() -> Soc2Control {
        serde_json::from_value(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "Soc2Control",
            "metadata": {"name": "cc6-1", "uid": "uid-1"},
            "spec": {"controlId": "CC6.1", "criteria": "Security", "title": "t",
                     "checks": [{"check": "network.default-deny"}], "enforcement": "Enforce"},
        }))
        .unwrap()
    }

    fn failing(check: &str, refs: &[ResourceRef]) -> CheckResult {
        let mut c = CheckResult::error(check, String::new());
        c.status = Status::NonCompliant;
        c.findings = refs.iter().map(|r| Finding::new(r.clone(), "x")).collect();
        c
    }

    fn result(checks: Vec<CheckResult>) -> ControlResult {
        ControlResult {
            name: "cc6-1".into(),
            generation: Some(1),
            control_id: "CC6.1".into(),
            criteria: Criteria::Security,
            title: "t".into(),
            status: Status::NonCompliant,
            reason: String::new(),
            spec_errors: vec![],
            resources_checked: 0,
            failing: 0,
            excepted: 0,
            checks,
            exceptions: vec![],
            attestations: vec![],
            remediation_sla: None,
        }
    }

    fn sa(ns: &str, automount: Option<bool>, manager: Option<&str>) -> Arc<ServiceAccount> {
        Arc::new(ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                namespace: Some(ns.into()),
                managed_fields: manager.map(|m| {
                    vec![ManagedFieldsEntry {
                        manager: Some(m.into()),
                        operation: Some("Apply".into()),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            automount_service_account_token: automount,
            ..Default::default()
        })
    }

    #[test]
    fn plans_one_remediation_per_failing_namespace() {
        let objects = Objects {
            service_accounts: vec![sa("a", None, None), sa("b", Some(false), None)],
            ..Objects::default()
        };
        let snap = ClusterSnapshot::new(objects);
        let r = result(vec![
            failing(
                "network.default-deny",
                &[
                    ResourceRef::new("Namespace", None, "a"),
                    ResourceRef::new("Namespace", None, "a"),
                ],
            ),
            failing(
                "workload.pod-security-admission",
                &[ResourceRef::new("Namespace", None, "b")],
            ),
            failing(
                "rbac.default-serviceaccount",
                &[
                    ResourceRef::new("ServiceAccount", Some("a"), "default"),
                    ResourceRef::new("ServiceAccount", Some("b"), "default"),
                ],
            ),
            failing(
                "workload.privileged",
                &[ResourceRef::new("Pod", Some("a"), "p")],
            ),
        ]);
        assert_eq!(
            plan(&r, &snap, "soc2-system"),
            vec![
                Remediation::DefaultDeny("a".into()),
                Remediation::PsaLabel("b".into()),
                Remediation::NoAutomount("a".into()),
            ]
        );
    }

    #[test]
    fn the_operators_own_namespace_is_never_remediated() {
        let snap = ClusterSnapshot::new(Objects {
            service_accounts: vec![sa("soc2-system", None, None), sa("payments", None, None)],
            ..Objects::default()
        });
        let both = [
            ResourceRef::new("Namespace", None, "soc2-system"),
            ResourceRef::new("Namespace", None, "payments"),
        ];
        let r = result(vec![
            failing("network.default-deny", &both),
            failing("workload.pod-security-admission", &both),
            failing(
                "rbac.default-serviceaccount",
                &[
                    ResourceRef::new("ServiceAccount", Some("soc2-system"), "default"),
                    ResourceRef::new("ServiceAccount", Some("payments"), "default"),
                ],
            ),
        ]);
        let planned = plan(&r, &snap, "soc2-system");
        assert_eq!(
            planned,
            vec![
                Remediation::DefaultDeny("payments".into()),
                Remediation::PsaLabel("payments".into()),
                Remediation::NoAutomount("payments".into()),
            ]
        );
        // Another operator namespace: this one is remediated like any other.
        assert!(plan(&r, &snap, "ops").contains(&Remediation::DefaultDeny("soc2-system".into())));
    }

    #[test]
    fn actions_read_as_sentences() {
        assert_eq!(
            Remediation::DefaultDeny("legacy".into()).to_string(),
            "default-deny NetworkPolicy in namespace legacy"
        );
        assert_eq!(
            Remediation::PsaLabel("payments".into()).to_string(),
            "PSA label on namespace payments"
        );
        assert_eq!(
            Remediation::NoAutomount("a".into()).to_string(),
            "token auto-mount off for ServiceAccount a/default"
        );
        assert_eq!(
            Undo::DeleteDefaultDeny("legacy".into()).to_string(),
            "removed default-deny NetworkPolicy in namespace legacy"
        );
    }

    #[test]
    fn bodies_are_what_the_api_expects() {
        let np = default_deny_body(&control(), "team-a").unwrap();
        assert_eq!(np["metadata"]["name"], DEFAULT_DENY);
        assert_eq!(np["metadata"]["labels"][MANAGED_BY_LABEL], "soc2-operator");
        assert_eq!(np["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(
            np["spec"],
            json!({"podSelector": {}, "policyTypes": ["Ingress"]})
        );
        let typed: NetworkPolicy = serde_json::from_value(np).unwrap();
        assert!(typed.spec.is_some());
        assert_eq!(psa_body("x")["metadata"]["labels"][PSA_LABEL], "baseline");
        assert_eq!(
            no_automount_body("x")["automountServiceAccountToken"],
            false
        );
        assert_eq!(
            release_body("v1", "Namespace", "x", None),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn undo_targets_only_what_we_own() {
        let c = control();
        let mut objects = Objects::default();
        let np = |ns: &str, uid: &str| {
            Arc::new(NetworkPolicy {
                metadata: ObjectMeta {
                    name: Some(DEFAULT_DENY.into()),
                    namespace: Some(ns.into()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "soc2.evidence.dev/v1alpha1".into(),
                        kind: "Soc2Control".into(),
                        name: "x".into(),
                        uid: uid.into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        objects.network_policies = vec![np("a", "uid-1"), np("b", "other")];
        objects.service_accounts = vec![
            sa("a", Some(false), Some(SA_MANAGER)),
            sa("b", None, Some("kubectl")),
        ];
        objects.namespaces = vec![Arc::new(Namespace {
            metadata: ObjectMeta {
                name: Some("a".into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some(PSA_MANAGER.into()),
                    operation: Some("Apply".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        })];
        let snap = ClusterSnapshot::new(objects);
        assert_eq!(
            undo_plan(&c, &snap, &BTreeSet::new()),
            vec![
                Undo::DeleteDefaultDeny("a".into()),
                Undo::ReleasePsaLabel("a".into()),
                Undo::ReleaseAutomount("a".into()),
            ]
        );
        let kept: BTreeSet<String> = ["workload.pod-security-admission".to_string()].into();
        assert_eq!(
            undo_plan(&c, &snap, &kept),
            vec![
                Undo::DeleteDefaultDeny("a".into()),
                Undo::ReleaseAutomount("a".into())
            ]
        );
    }
}
