//! Enforcement of `enforcement: Enforce` controls (only when the operator runs with
//! `--enforcement`): remediations ([`remediate`]) and admission policies ([`admission`]).
//!
//! This module decides what to do for one control and reports it for status; it never writes
//! status itself. The caller checks leadership before calling anything that writes.

pub mod admission;
pub mod remediate;

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::status::EnforcementReport;
use soc2_core::crd::Soc2Control;
use soc2_core::engine::ControlResult;
use soc2_core::snapshot::ClusterSnapshot;

/// Field manager of everything the operator applies (status included).
pub const MANAGER: &str = "soc2-operator";
/// Label on every object the operator creates.
pub const MANAGED_BY_LABEL: &str = "soc2.evidence.dev/managed-by";

/// Owner reference to a control (cluster-scoped owners may own namespaced children).
pub fn owner_reference(control: &Soc2Control) -> Option<Value> {
    Some(json!({
        "apiVersion": Soc2Control::api_version(&()),
        "kind": Soc2Control::kind(&()),
        "name": control.metadata.name.as_deref()?,
        "uid": control.metadata.uid.as_deref()?,
        "controller": true,
        "blockOwnerDeletion": false,
    }))
}

/// Short stable hash of a JSON value (for skip-if-unchanged annotations).
pub fn spec_hash(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..8])
}

/// What enforcing one control did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// For status.
    pub report: EnforcementReport,
    /// Human-readable actions taken (for an Event, joined by `; `), empty when nothing changed.
    pub actions: Vec<String>,
}

fn cached_hash<K: Resource>(list: Option<&Vec<std::sync::Arc<K>>>, name: &str) -> Option<String> {
    list?
        .iter()
        .find(|o| o.meta().name.as_deref() == Some(name))
        .and_then(|o| o.meta().annotations.as_ref())
        .and_then(|a| a.get(admission::HASH_ANNOTATION).cloned())
}

/// Enforces a valid `Enforce` control: remediates its failing findings (outside
/// `operator_namespace`) and installs its admission policies (or reports that the cluster
/// cannot serve them).
pub async fn enforce(
    client: &Client,
    control: &Soc2Control,
    result: &ControlResult,
    snapshot: &ClusterSnapshot,
    operator_namespace: &str,
) -> kube::Result<Outcome> {
    let mut out = Outcome::default();
    let name = control.name_any();

    for r in remediate::plan(result, snapshot, operator_namespace) {
        remediate::apply(client, control, &r).await?;
        out.actions.push(r.to_string());
    }
    let remediable: Vec<&str> = control
        .spec
        .checks
        .iter()
        .map(|c| c.check.as_str())
        .filter(|c| remediate::REMEDIABLE_CHECKS.contains(c))
        .collect();
    if !remediable.is_empty() {
        out.report
            .details
            .insert("remediation".into(), remediable.join(", "));
        out.report.details.insert(
            "remediationExcludes".into(),
            format!("namespace {operator_namespace} (the operator's own)"),
        );
    }

    let rendered = admission::render_all(control);
    let wants_admission = control
        .spec
        .checks
        .iter()
        .any(|c| admission::ADMISSION_CHECKS.contains(&c.check.as_str()));
    let served = snapshot.admission_policies.is_some();
    if wants_admission && !served {
        out.report.details.insert(
            "admission".into(),
            "not served by this cluster (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy); auditing only".into(),
        );
        out.report.condition = Some((
            false,
            "AdmissionNotServed".into(),
            "remediations applied; this cluster does not serve ValidatingAdmissionPolicy, so new violations are reported, not refused".into(),
        ));
        return Ok(out);
    }
    if served {
        let pp = PatchParams::apply(MANAGER).force();
        let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
        let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
        for r in &rendered {
            let want = |v: &Value| {
                v["metadata"]["annotations"][admission::HASH_ANNOTATION]
                    .as_str()
                    .map(str::to_string)
            };
            if cached_hash(snapshot.admission_policies.as_ref(), &r.name) != want(&r.policy) {
                policies
                    .patch(&r.name, &pp, &Patch::Apply(r.policy.clone()))
                    .await?;
                out.actions
                    .push(format!("ValidatingAdmissionPolicy/{}", r.name));
            }
            if cached_hash(snapshot.admission_policy_bindings.as_ref(), &r.name) != want(&r.binding)
            {
                bindings
                    .patch(&r.name, &pp, &Patch::Apply(r.binding.clone()))
                    .await?;
                out.actions
                    .push(format!("ValidatingAdmissionPolicyBinding/{}", r.name));
            }
        }
        let keep: BTreeSet<&str> = rendered.iter().map(|r| r.name.as_str()).collect();
        delete_policies(client, snapshot, &name, &keep).await?;
        if !rendered.is_empty() {
            let names: Vec<&str> = rendered.iter().map(|r| r.name.as_str()).collect();
            out.report
                .details
                .insert("admission".into(), names.join(", "));
        }
    }
    out.report.condition = Some((
        true,
        "Enforced".into(),
        "remediations and admission policies are in place".into(),
    ));
    Ok(out)
}

/// Deletes the admission policies (and bindings) of `control` not in `keep`, as the cache
/// shows them.
async fn delete_policies(
    client: &Client,
    snapshot: &ClusterSnapshot,
    control: &str,
    keep: &BTreeSet<&str>,
) -> kube::Result<usize> {
    let ours = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.labels
            .as_ref()
            .and_then(|l| l.get(admission::CONTROL_LABEL))
            .is_some_and(|c| c == control)
            && m.labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY_LABEL))
                .is_some_and(|v| v == MANAGER)
            && !keep.contains(m.name.as_deref().unwrap_or(""))
    };
    let mut n = 0;
    let dp = DeleteParams::default();
    for b in snapshot.admission_policy_bindings.iter().flatten() {
        if ours(&b.metadata) {
            ignore_404(
                Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
                    .delete(&b.name_any(), &dp)
                    .await
                    .map(|_| ()),
            )?;
            n += 1;
        }
    }
    for p in snapshot.admission_policies.iter().flatten() {
        if ours(&p.metadata) {
            ignore_404(
                Api::<ValidatingAdmissionPolicy>::all(client.clone())
                    .delete(&p.name_any(), &dp)
                    .await
                    .map(|_| ()),
            )?;
            n += 1;
        }
    }
    Ok(n)
}

fn ignore_404(r: kube::Result<()>) -> kube::Result<()> {
    match r {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

/// Undoes what enforcing `control` did (it was deleted or switched back to `Audit`).
/// `still_enforced` are the checks other `Enforce` controls keep remediating.
pub async fn relax(
    client: &Client,
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
    still_enforced: &BTreeSet<String>,
) -> kube::Result<Vec<String>> {
    let mut actions = Vec::new();
    for u in remediate::undo_plan(control, snapshot, still_enforced) {
        remediate::undo(client, &u).await?;
        actions.push(u.to_string());
    }
    let n = delete_policies(client, snapshot, &control.name_any(), &BTreeSet::new()).await?;
    if n > 0 {
        actions.push(format!("deleted {n} admission object(s)"));
    }
    Ok(actions)
}
