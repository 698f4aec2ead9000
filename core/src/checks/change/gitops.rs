//! `change.gitops-reconciled`: every in-scope workload is owned by a GitOps application (Argo CD
//! `Application`, Flux `Kustomization` or `HelmRelease`) that is synced, healthy, reconciled
//! automatically and deploys from a protected revision (a branch, tag or version range, not a
//! commit typed by hand).
//!
//! Ownership is read from the tracking metadata the tools write on what they apply: Argo CD's
//! `argocd.argoproj.io/tracking-id` annotation (`<app>:<group>/<Kind>:<ns>/<name>`) or its
//! instance label (`app.kubernetes.io/instance: <app>`, counted only when such an Application
//! exists, since Helm charts set the same label), Flux's `kustomize.toolkit.fluxcd.io/{name,namespace}`
//! and `helm.toolkit.fluxcd.io/{name,namespace}` labels.
//!
//! [`applications`] is also what the evidence's `gitops.json` lists: for each application its
//! source repository, revision and sync time, so an auditor can trace a change to its PR.

use std::collections::BTreeSet;

use kube::core::DynamicObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};
use crate::snapshot::{ClusterSnapshot, DynKind};

/// Why `change.gitops-reconciled` cannot run.
pub const GITOPS_ABSENT: &str = "no GitOps API is served by this cluster: neither Argo CD \
     (argoproj.io/v1alpha1 Application) nor Flux (kustomize.toolkit.fluxcd.io Kustomization, \
     helm.toolkit.fluxcd.io HelmRelease); if one is installed, enable its source in the chart \
     (sources.argocd / sources.flux) so the operator may read it";

/// The annotation Argo CD's annotation tracking writes.
pub const ARGO_TRACKING_ID: &str = crate::snapshot::WORKLOAD_ANNOTATIONS[0];

const KUSTOMIZE_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const KUSTOMIZE_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
const HELM_NAME: &str = "helm.toolkit.fluxcd.io/name";
const HELM_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// Fails a workload no GitOps application owns, and an application that is out of sync,
/// unhealthy, not reconciled automatically, or deploys a commit pinned by hand.
///
/// Semantics:
/// - NotApplicable when none of Argo CD Application, Flux Kustomization, Flux HelmRelease is
///   served. Served but with no application at all: a finding on `Cluster/gitops` (the
///   control is not operating).
/// - Each Deployment, StatefulSet, DaemonSet and CronJob in scope must carry tracking metadata
///   naming an application present in the snapshot.
/// - Each application that owns an in-scope workload, or deploys into an in-scope namespace of
///   this cluster, is judged: Argo CD: `status.sync.status: Synced`, `status.health.status:
///   Healthy`, `spec.syncPolicy.automated` present and not `enabled: false`. Flux: not
///   `spec.suspend`, `Ready` condition `True` (and `Healthy` not `False`), last attempted
///   revision applied; a HelmRelease also needs `spec.driftDetection.mode` `enabled` or `warn`
///   (the default, `disabled`, leaves manual changes to its objects unseen).
/// - Protected revision: a source whose revision is a 40- or 64-hex commit (Argo CD
///   `targetRevision`, Flux GitRepository `spec.ref.commit`) fails; a branch, tag, semver range
///   or chart version passes. A Flux source the snapshot does not hold fails when its API is
///   served (the application deploys from something that cannot be traced).
pub struct GitopsReconciled;

/// Parameters of `change.gitops-reconciled`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// The label Argo CD's label tracking writes (argocd-cm `application.instanceLabelKey`).
    /// Default `app.kubernetes.io/instance`.
    pub argo_instance_label: String,
    /// Also require Argo CD `selfHeal: true` (manual drift reverted, not only reported).
    /// Default `false`.
    pub require_self_heal: bool,
    /// Also require garbage collection: Argo CD `automated.prune`, Flux Kustomization
    /// `spec.prune`. Default `false`.
    pub require_prune: bool,
    /// Fail sources that are not Git (Helm chart repositories, OCI, buckets). Default `false`.
    pub require_git_source: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            argo_instance_label: "app.kubernetes.io/instance".to_string(),
            require_self_heal: false,
            require_prune: false,
            require_git_source: false,
        }
    }
}

/// Where an application deploys from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsSource {
    /// `Git`, `Helm`, `OCI`, `Bucket` or the Flux source kind.
    pub kind: String,
    /// Repository URL, when known (Flux: from the GitRepository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What is tracked: a branch, tag, semver range, chart version or commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The reference is a commit typed by hand.
    pub pinned_commit: bool,
    /// The Flux source object (`GitRepository/ns/name`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The Flux source object was not found although its API is served.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// One GitOps application, as the check judges it and `gitops.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsApplication {
    /// `Application`, `Kustomization` or `HelmRelease`, with namespace and name.
    pub resource: ResourceRef,
    /// `Argo CD` or `Flux`.
    pub tool: String,
    /// Its sources.
    pub sources: Vec<GitopsSource>,
    /// The revision last applied (Argo CD `status.sync.revision(s)`, Flux
    /// `status.lastAppliedRevision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When it last synced (Argo CD `status.operationState.finishedAt`, else `reconciledAt`;
    /// Flux: the `Ready` condition's `lastTransitionTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<String>,
    /// Sync state as the tool reports it (Argo CD `Synced`/`OutOfSync`; Flux `Ready=True`).
    pub sync_status: String,
    /// Health as the tool reports it.
    pub health: String,
    /// In sync with its source.
    pub synced: bool,
    /// Healthy.
    pub healthy: bool,
    /// Changes in Git are applied without a person (Argo CD automated sync; Flux not
    /// suspended).
    pub automated: bool,
    /// Manual changes to its objects are detected (Argo CD, Flux Kustomization: always;
    /// HelmRelease: `driftDetection.mode` enabled or warn).
    pub drift_detection: bool,
    /// Manual drift is reverted (Argo CD `selfHeal`; Flux Kustomization: when not suspended;
    /// HelmRelease: drift mode `enabled`).
    pub self_heal: bool,
    /// Objects removed from Git are deleted (`None` where the tool has no such switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Namespaces it deploys into on this cluster (empty: unknown or another cluster).
    pub namespaces: Vec<String>,
    /// The ApplicationSet that generated it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_by: Option<String>,
}

/// Whether any GitOps API (Argo CD Application, Flux Kustomization or HelmRelease) is served.
pub fn gitops_served(snapshot: &ClusterSnapshot) -> bool {
    [
        DynKind::ArgoApplication,
        DynKind::FluxKustomization,
        DynKind::FluxHelmRelease,
    ]
    .into_iter()
    .any(|k| snapshot.dynamic.served(k))
}

/// A commit SHA typed by hand: 40 (SHA-1) or 64 (SHA-256) hex digits, optionally after a
/// `sha1:`/`sha256:` prefix.
pub fn is_commit(reference: &str) -> bool {
    let r = reference
        .strip_prefix("sha1:")
        .or_else(|| reference.strip_prefix("sha256:"))
        .unwrap_or(reference);
    matches!(r.len(), 40 | 64) && r.bytes().all(|b| b.is_ascii_hexdigit())
}

fn str_at<'a>(obj: &'a DynamicObject, pointer: &str) -> Option<&'a str> {
    obj.data.pointer(pointer).and_then(Value::as_str)
}

fn name_of(obj: &DynamicObject) -> (&str, &str) {
    (
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or(""),
    )
}

/// The condition of a Flux object: (status, reason, lastTransitionTime).
fn condition<'a>(
    obj: &'a DynamicObject,
    kind: &str,
) -> Option<(&'a str, Option<&'a str>, Option<&'a str>)> {
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
                c.get("reason").and_then(Value::as_str),
                c.get("lastTransitionTime").and_then(Value::as_str),
            )
        })
}

fn argo_source(src: &Value) -> GitopsSource {
    let get = |k: &str| src.get(k).and_then(Value::as_str).map(str::to_string);
    let url = get("repoURL");
    let chart = get("chart");
    let oci = url.as_deref().is_some_and(|u| u.starts_with("oci://"));
    let reference = get("targetRevision");
    GitopsSource {
        kind: if chart.is_some() {
            "Helm"
        } else if oci {
            "OCI"
        } else {
            "Git"
        }
        .to_string(),
        url,
        pinned_commit: chart.is_none() && reference.as_deref().is_some_and(is_commit),
        reference: reference.or_else(|| Some("HEAD".to_string())),
        object: None,
        missing: false,
    }
}

fn argo_application(obj: &DynamicObject) -> GitopsApplication {
    let (ns, name) = name_of(obj);
    let mut sources: Vec<GitopsSource> = match obj.data.pointer("/spec/sources") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().map(argo_source).collect(),
        _ => Vec::new(),
    };
    if sources.is_empty()
        && let Some(src) = obj.data.pointer("/spec/source")
    {
        sources.push(argo_source(src));
    }
    let revision = str_at(obj, "/status/sync/revision")
        .map(str::to_string)
        .or_else(|| {
            let revs: Vec<&str> = obj
                .data
                .pointer("/status/sync/revisions")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (!revs.is_empty()).then(|| revs.join(", "))
        });
    let synced_at = str_at(obj, "/status/operationState/finishedAt")
        .or_else(|| str_at(obj, "/status/reconciledAt"))
        .map(str::to_string);
    let sync_status = str_at(obj, "/status/sync/status").unwrap_or("Unknown");
    let health = str_at(obj, "/status/health/status").unwrap_or("Unknown");
    let automated_block = obj
        .data
        .pointer("/spec/syncPolicy/automated")
        .filter(|v| v.is_object());
    let automated =
        automated_block.is_some_and(|a| a.get("enabled").and_then(Value::as_bool) != Some(false));
    let flag = |k: &str| {
        automated_block
            .and_then(|a| a.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let server = str_at(obj, "/spec/destination/server");
    let dest_name = str_at(obj, "/spec/destination/name");
    let in_cluster = matches!(
        (server, dest_name),
        (None, None) | (Some("https://kubernetes.default.svc"), _) | (_, Some("in-cluster"))
    );
    let namespaces = match str_at(obj, "/spec/destination/namespace") {
        Some(d) if in_cluster && !d.is_empty() => vec![d.to_string()],
        _ => Vec::new(),
    };
    let generated_by = obj
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "ApplicationSet")
        .map(|o| format!("ApplicationSet/{ns}/{}", o.name));
    GitopsApplication {
        resource: ResourceRef::new("Application", Some(ns), name),
        tool: "Argo CD".to_string(),
        sources,
        revision,
        synced_at,
        sync_status: sync_status.to_string(),
        health: health.to_string(),
        synced: sync_status == "Synced",
        healthy: health == "Healthy",
        automated,
        drift_detection: true,
        self_heal: automated && flag("selfHeal"),
        prune: Some(automated && flag("prune")),
        namespaces,
        generated_by,
    }
}

/// A Flux source reference resolved against the snapshot's GitRepositories.
fn flux_source(
    snapshot: &ClusterSnapshot,
    source_ref: Option<&Value>,
    own_ns: &str,
) -> GitopsSource {
    let get = |k: &str| {
        source_ref
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (kind, name) = (get("kind"), get("name"));
    let ns = match get("namespace") {
        "" => own_ns,
        n => n,
    };
    let mut src = GitopsSource {
        kind: kind.to_string(),
        url: None,
        reference: None,
        pinned_commit: false,
        object: Some(format!("{kind}/{ns}/{name}")),
        missing: false,
    };
    if kind != "GitRepository" {
        return src;
    }
    src.kind = "Git".to_string();
    let Some(repos) = snapshot.dynamic.get(DynKind::FluxGitRepository) else {
        return src;
    };
    let Some(repo) = repos.iter().find(|r| name_of(r) == (ns, name)) else {
        src.missing = true;
        return src;
    };
    src.url = str_at(repo, "/spec/url").map(str::to_string);
    let r = |k: &str| str_at(repo, &format!("/spec/ref/{k}")).filter(|v| !v.is_empty());
    // Precedence as source-controller applies it: commit, name, semver, tag, branch.
    src.reference = if let Some(c) = r("commit") {
        src.pinned_commit = true;
        Some(format!("commit {c}"))
    } else if let Some(n) = r("name") {
        Some(n.to_string())
    } else if let Some(s) = r("semver") {
        Some(format!("semver {s}"))
    } else if let Some(t) = r("tag") {
        Some(format!("tag {t}"))
    } else {
        Some(format!("branch {}", r("branch").unwrap_or("master")))
    };
    src
}

fn flux_application(
    snapshot: &ClusterSnapshot,
    kind: DynKind,
    obj: &DynamicObject,
) -> GitopsApplication {
    let (ns, name) = name_of(obj);
    let helm = kind == DynKind::FluxHelmRelease;
    let source = if helm {
        match obj.data.pointer("/spec/chartRef") {
            Some(r) if r.is_object() => flux_source(snapshot, Some(r), ns),
            _ => {
                let mut s =
                    flux_source(snapshot, obj.data.pointer("/spec/chart/spec/sourceRef"), ns);
                if s.kind != "Git" {
                    s.reference = str_at(obj, "/spec/chart/spec/version").map(|v| {
                        format!(
                            "chart {} {v}",
                            str_at(obj, "/spec/chart/spec/chart").unwrap_or("")
                        )
                    });
                    s.kind = match s.kind.as_str() {
                        "HelmRepository" => "Helm".to_string(),
                        "OCIRepository" => "OCI".to_string(),
                        other => other.to_string(),
                    };
                }
                s
            }
        }
    } else {
        flux_source(snapshot, obj.data.pointer("/spec/sourceRef"), ns)
    };
    let ready = condition(obj, "Ready");
    let healthy_cond = condition(obj, "Healthy");
    let applied = str_at(obj, "/status/lastAppliedRevision");
    let attempted = str_at(obj, "/status/lastAttemptedRevision");
    let ready_true = ready.is_some_and(|(s, _, _)| s == "True");
    // HelmRelease's lastAppliedRevision is deprecated and may be absent: compare only when both
    // are present.
    let caught_up = match (applied, attempted) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let suspended = obj
        .data
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let drift_mode = str_at(obj, "/spec/driftDetection/mode").unwrap_or("disabled");
    let (drift_detection, self_heal) = if helm {
        (
            matches!(drift_mode, "enabled" | "warn"),
            drift_mode == "enabled" && !suspended,
        )
    } else {
        (true, !suspended)
    };
    let sync_status = match ready {
        Some((s, Some(reason), _)) => format!("Ready={s} ({reason})"),
        Some((s, None, _)) => format!("Ready={s}"),
        None => "Ready=Unknown".to_string(),
    };
    let health = match healthy_cond {
        Some((s, _, _)) => format!("Healthy={s}"),
        None => sync_status.clone(),
    };
    let target = str_at(obj, "/spec/targetNamespace").filter(|t| !t.is_empty());
    let namespaces = match (target, helm) {
        (Some(t), _) => vec![t.to_string()],
        (None, true) => vec![ns.to_string()],
        (None, false) => Vec::new(),
    };
    GitopsApplication {
        resource: ResourceRef::new(kind.api().kind, Some(ns), name),
        tool: "Flux".to_string(),
        sources: vec![source],
        revision: applied.or(attempted.filter(|_| helm)).map(str::to_string),
        synced_at: ready.and_then(|(_, _, t)| t).map(str::to_string),
        sync_status,
        health,
        synced: ready_true && caught_up,
        healthy: ready_true && healthy_cond.is_none_or(|(s, _, _)| s != "False"),
        automated: !suspended,
        drift_detection,
        self_heal,
        prune: (!helm).then(|| {
            obj.data
                .pointer("/spec/prune")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }),
        namespaces,
        generated_by: None,
    }
}

/// Every Argo CD Application, Flux Kustomization and HelmRelease of the snapshot, sorted by
/// resource.
pub fn applications(snapshot: &ClusterSnapshot) -> Vec<GitopsApplication> {
    let mut out = Vec::new();
    for obj in snapshot
        .dynamic
        .get(DynKind::ArgoApplication)
        .into_iter()
        .flatten()
    {
        out.push(argo_application(obj));
    }
    for kind in [DynKind::FluxKustomization, DynKind::FluxHelmRelease] {
        for obj in snapshot.dynamic.get(kind).into_iter().flatten() {
            out.push(flux_application(snapshot, kind, obj));
        }
    }
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    out
}

/// What is wrong with an application, as phrases.
fn problems(app: &GitopsApplication, params: &Params) -> Vec<String> {
    let mut out = Vec::new();
    let argo = app.tool == "Argo CD";
    if !app.automated {
        out.push(if argo {
            "automated sync is off (no spec.syncPolicy.automated, or enabled: false)".to_string()
        } else {
            "reconciliation is suspended (spec.suspend: true)".to_string()
        });
    }
    if !app.synced {
        out.push(format!("not in sync ({})", app.sync_status));
    }
    if !app.healthy && (argo || app.health != app.sync_status || app.synced) {
        out.push(format!("not healthy ({})", app.health));
    }
    if !app.drift_detection {
        out.push(
            "drift detection is off (spec.driftDetection.mode is disabled, the default): \
             manual changes to its objects go unseen"
                .to_string(),
        );
    }
    if params.require_self_heal && argo && app.automated && !app.self_heal {
        out.push("selfHeal is off (params.requireSelfHeal)".to_string());
    }
    if params.require_prune && app.prune == Some(false) {
        out.push("pruning is off (params.requirePrune)".to_string());
    }
    for s in &app.sources {
        let what = s
            .url
            .as_deref()
            .or(s.object.as_deref())
            .unwrap_or("its source");
        if s.pinned_commit {
            out.push(format!(
                "source {what} is pinned to a commit typed by hand ({}); track a protected \
                 branch or tag so every change comes from a reviewed merge",
                s.reference.as_deref().unwrap_or("")
            ));
        }
        if s.missing {
            out.push(format!(
                "source {} is not in the cluster",
                s.object.as_deref().unwrap_or("")
            ));
        }
        if params.require_git_source && s.kind != "Git" {
            out.push(format!(
                "source {what} is {}, not Git (params.requireGitSource)",
                s.kind
            ));
        }
    }
    out
}

/// The application a workload's tracking metadata names, as (kind, namespace or `None` for
/// "any", name).
fn owner_of<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    params: &'a Params,
    argo_names: &BTreeSet<(&'a str, &'a str)>,
) -> Option<(&'static str, Option<&'a str>, &'a str)> {
    let labels = meta.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    if let Some(n) = label(HELM_NAME) {
        return Some(("HelmRelease", label(HELM_NAMESPACE), n));
    }
    if let Some(n) = label(KUSTOMIZE_NAME) {
        return Some(("Kustomization", label(KUSTOMIZE_NAMESPACE), n));
    }
    let tracking = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ARGO_TRACKING_ID))
        .and_then(|t| t.split(':').next())
        .filter(|t| !t.is_empty());
    let argo = |app: &'a str| match app.split_once('_') {
        // Apps in any namespace are tracked as `<namespace>_<name>`.
        Some((ns, n)) if argo_names.contains(&(ns, n)) => ("Application", Some(ns), n),
        _ => ("Application", None, app),
    };
    if let Some(app) = tracking {
        return Some(argo(app));
    }
    let instance = label(&params.argo_instance_label)?;
    let known = argo_names.iter().any(|(_, n)| *n == instance)
        || instance
            .split_once('_')
            .is_some_and(|(ns, n)| argo_names.contains(&(ns, n)));
    known.then(|| argo(instance))
}

impl Check for GitopsReconciled {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "change.gitops-reconciled",
            title: "Workloads are deployed by a reconciled GitOps application from a protected revision",
            description: "A Deployment, StatefulSet, DaemonSet or CronJob fails when no Argo CD \
                          Application or Flux Kustomization/HelmRelease owns it; an application \
                          fails when it is out of sync, unhealthy, not reconciled automatically, \
                          blind to drift, or deploys a commit pinned by hand.",
            criteria: &["CC8.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::ArgoApplication),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::FluxKustomization),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::FluxHelmRelease),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::FluxGitRepository),
        ]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        if !gitops_served(ctx.snapshot) {
            return Outcome::not_applicable(GITOPS_ABSENT);
        }
        let apps = applications(ctx.snapshot);
        let argo_names: BTreeSet<(&str, &str)> = apps
            .iter()
            .filter(|a| a.resource.kind == "Application")
            .map(|a| {
                (
                    a.resource.namespace.as_deref().unwrap_or(""),
                    a.resource.name.as_str(),
                )
            })
            .collect();
        let mut checked = 0;
        let mut findings = Vec::new();
        // Applications to judge: index into `apps`.
        let mut judged: BTreeSet<usize> = BTreeSet::new();
        for (i, app) in apps.iter().enumerate() {
            if app.namespaces.iter().any(|n| ctx.in_scope(n)) {
                judged.insert(i);
            }
        }
        if apps.is_empty() {
            checked += 1;
            findings.push(Finding::new(
                ResourceRef::new("Cluster", None, "gitops"),
                "a GitOps API is served but there is no Argo CD Application, Flux Kustomization \
                 or HelmRelease: the change control is not operating",
            ));
        }
        for w in ctx.snapshot.workloads() {
            if !matches!(
                w.kind,
                "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob"
            ) || !ctx.in_scope(w.namespace())
            {
                continue;
            }
            checked += 1;
            let Some((kind, ns, name)) = owner_of(w.meta, params, &argo_names) else {
                findings.push(Finding::new(
                    w.resource(),
                    "no GitOps application owns it (no Argo CD tracking annotation or instance \
                     label naming an Application, no Flux kustomize/helm owner labels); deploy \
                     it through Argo CD or Flux",
                ));
                continue;
            };
            let found = apps.iter().position(|a| {
                a.resource.kind == kind
                    && a.resource.name == name
                    && ns.is_none_or(|ns| a.resource.namespace.as_deref() == Some(ns))
            });
            match found {
                Some(i) => {
                    judged.insert(i);
                }
                None => findings.push(Finding::new(
                    w.resource(),
                    format!(
                        "its tracking metadata names {kind} {}{name}, which is not in the \
                         cluster: nothing reconciles it",
                        ns.map(|n| format!("{n}/")).unwrap_or_default()
                    ),
                )),
            }
        }
        for i in judged {
            let app = &apps[i];
            checked += 1;
            let p = problems(app, params);
            if !p.is_empty() {
                findings.push(Finding::new(app.resource.clone(), p.join("; ")));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::checks::testing::{checked, failing, run, run_scoped, snapshot};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "change.gitops-reconciled";
    const ARGO_PASS: &str = include_str!("../../../tests/fixtures/ecosystem/argocd/pass.yaml");
    const ARGO_FAIL: &str = include_str!("../../../tests/fixtures/ecosystem/argocd/fail.yaml");
    const FLUX_PASS: &str = include_str!("../../../tests/fixtures/ecosystem/flux/pass.yaml");
    const FLUX_FAIL: &str = include_str!("../../../tests/fixtures/ecosystem/flux/fail.yaml");

    fn message(o: &Outcome, resource: &str) -> String {
        let Outcome::Evaluated { findings, .. } = o else {
            panic!("evaluated expected");
        };
        findings
            .iter()
            .find(|f| f.resource.to_string() == resource)
            .map(|f| f.message.clone())
            .unwrap_or_else(|| panic!("no finding on {resource}"))
    }

    #[test]
    fn argo_pass_fixture_passes() {
        let o = run(ID, "", ARGO_PASS);
        assert_eq!(failing(&o), Vec::<String>::new());
        // checkout-api, payments-api (owns it), web-storefront (deploys into web).
        assert_eq!(checked(&o), 3);
    }

    #[test]
    fn argo_fail_fixture_fails_each_application() {
        let o = run(ID, "", ARGO_FAIL);
        assert_eq!(
            failing(&o),
            [
                "Application/argocd/payments-ledger",
                "Application/argocd/web-search"
            ]
        );
        let m = message(&o, "Application/argocd/payments-ledger");
        for part in [
            "automated sync is off",
            "OutOfSync",
            "Degraded",
            "pinned to a commit",
        ] {
            assert!(m.contains(part), "{part}: {m}");
        }
        let m = message(&o, "Application/argocd/web-search");
        assert!(m.contains("enabled: false"), "{m}");
        assert!(m.contains("c0ffee12"), "the pinned source of two: {m}");
        assert!(!m.contains("charts.acme.io is pinned"), "{m}");
    }

    #[test]
    fn flux_pass_fixture_passes() {
        let o = run(ID, "", FLUX_PASS);
        assert_eq!(failing(&o), Vec::<String>::new());
        // Deployment, StatefulSet, Kustomization payments, HelmRelease session-cache.
        assert_eq!(checked(&o), 4);
    }

    #[test]
    fn flux_fail_fixture_fails_pinned_suspended_unready_and_driftless() {
        let o = run(ID, "", FLUX_FAIL);
        assert_eq!(
            failing(&o),
            [
                "HelmRelease/web/search",
                "Kustomization/flux-system/ledger",
                "Kustomization/flux-system/web",
            ]
        );
        let m = message(&o, "Kustomization/flux-system/ledger");
        assert!(m.contains("suspended"), "{m}");
        assert!(
            m.contains("commit 4b7e1d9c02af83e56f1b2c3d4e5f60718293a4b5"),
            "{m}"
        );
        let m = message(&o, "Kustomization/flux-system/web");
        assert!(m.contains("ReconciliationFailed"), "{m}");
        assert!(m.contains("GitRepository/flux-system/platform"), "{m}");
        let m = message(&o, "HelmRelease/web/search");
        assert!(m.contains("drift detection is off"), "{m}");
        assert!(m.contains("UpgradeFailed"), "{m}");
    }

    #[test]
    fn not_applicable_without_gitops_and_failing_when_served_but_empty() {
        let deploy = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: a}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: x:1}]}
"#;
        let o = run(ID, "", deploy);
        let Outcome::NotApplicable { reason } = &o else {
            panic!("not applicable expected: {o:?}");
        };
        assert!(reason.contains("argoproj.io/v1alpha1"), "{reason}");
        // The CRD alone shows Argo CD is installed: served, but no Application.
        let crd = r#"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: applications.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: Application, plural: applications}
  scope: Namespaced
  versions: [{name: v1alpha1, served: true, storage: true}]
"#;
        let o = run(ID, "", &format!("{deploy}{crd}"));
        assert_eq!(failing(&o), ["Cluster/gitops", "Deployment/a/api"]);
    }

    #[test]
    fn ownership_by_label_tracking_and_missing_owners() {
        let y = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd}
spec:
  source: {repoURL: "https://g/r.git", targetRevision: v1.4.0, path: shop}
  destination: {server: "https://other-cluster:6443", namespace: shop}
  syncPolicy: {automated: {}}
status: {sync: {status: Synced}, health: {status: Healthy}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, labels: {app.kubernetes.io/instance: shop}}
spec:
  selector: {matchLabels: {app: api}}
  template: {metadata: {labels: {app: api}}, spec: {containers: [{name: c, image: x:1}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis, namespace: shop, labels: {app.kubernetes.io/instance: redis}}
spec:
  selector: {matchLabels: {app: r}}
  template: {metadata: {labels: {app: r}}, spec: {containers: [{name: c, image: x:1}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gone
  namespace: shop
  annotations: {argocd.argoproj.io/tracking-id: "deleted-app:apps/Deployment:shop/gone"}
spec:
  selector: {matchLabels: {app: g}}
  template: {metadata: {labels: {app: g}}, spec: {containers: [{name: c, image: x:1}]}}
"#;
        let o = run(ID, "", y);
        // A Helm instance label naming no Application is not ownership; a tracking id naming
        // a deleted Application is not either.
        assert_eq!(
            failing(&o),
            ["Deployment/shop/gone", "Deployment/shop/redis"]
        );
        assert!(message(&o, "Deployment/shop/gone").contains("deleted-app"));
        // 3 workloads + the Application owning `api` (its destination is another cluster).
        assert_eq!(checked(&o), 4);
        assert_eq!(
            failing(&run(ID, "argoInstanceLabel: example.com/app", y)).len(),
            3
        );
        // Parameters: selfHeal and prune required.
        let strict = run(ID, "{requireSelfHeal: true, requirePrune: true}", y);
        let m = message(&strict, "Application/argocd/shop");
        assert!(m.contains("selfHeal") && m.contains("pruning"), "{m}");
        // Scope: nothing in shop is judged.
        let o = run_scoped(ID, "", y, &ScopeFilter::all().excluding(["shop"]));
        assert_eq!(checked(&o), 0);
        assert!(
            catalog()
                .get(ID)
                .expect("registered")
                .validate(Some(&json!({"bogus": 1})))
                .is_err()
        );
    }

    #[test]
    fn protected_revisions() {
        assert!(is_commit("4b7e1d9c02af83e56f1b2c3d4e5f60718293a4b5"));
        assert!(is_commit(&"a".repeat(64)));
        assert!(is_commit("sha1:4b7e1d9c02af83e56f1b2c3d4e5f60718293a4b5"));
        for ok in [
            "main",
            "v1.2.3",
            ">=1.0.0 <2.0.0",
            "HEAD",
            "4b7e1d9",
            "release/2025-06",
        ] {
            assert!(!is_commit(ok), "{ok}");
        }
        let y = ARGO_FAIL.replace(
            "targetRevision: c0ffee1234567890abcdef1234567890abcdef12",
            "targetRevision: release-4",
        );
        let m = message(&run(ID, "", &y), "Application/argocd/web-search");
        assert!(!m.contains("pinned"), "{m}");
        let y = FLUX_PASS.replace("branch: main", "tag: v2.0.1");
        assert!(failing(&run(ID, "", &y)).is_empty());
        let y = FLUX_PASS.replace(
            "branch: main",
            "commit: 9f2c4e1a7b3d5f60812c4a9e0d7b6c5a4f3e2d1c",
        );
        assert_eq!(
            failing(&run(ID, "", &y)),
            ["Kustomization/flux-system/payments"]
        );
        assert_eq!(
            failing(&run(ID, "requireGitSource: true", FLUX_PASS)),
            ["HelmRelease/web/session-cache"]
        );
    }

    #[test]
    fn applications_list_repo_revision_and_sync_time() {
        let apps = applications(&snapshot(ARGO_PASS));
        let a = &apps[0];
        assert_eq!(a.resource.to_string(), "Application/argocd/payments-api");
        assert_eq!(
            a.sources[0].url.as_deref(),
            Some("https://github.com/acme/platform-gitops.git")
        );
        assert_eq!(a.sources[0].reference.as_deref(), Some("main"));
        assert_eq!(
            a.revision.as_deref(),
            Some("9f2c4e1a7b3d5f60812c4a9e0d7b6c5a4f3e2d1c")
        );
        assert_eq!(a.synced_at.as_deref(), Some("2025-06-15T09:41:22Z"));
        assert_eq!(
            apps[1].generated_by.as_deref(),
            Some("ApplicationSet/argocd/web-apps")
        );
        let flux = applications(&snapshot(FLUX_PASS));
        let k = flux
            .iter()
            .find(|a| a.resource.kind == "Kustomization")
            .expect("kustomization");
        assert_eq!(
            k.sources[0].url.as_deref(),
            Some("https://github.com/acme/platform-gitops.git")
        );
        assert_eq!(k.sources[0].reference.as_deref(), Some("branch main"));
        assert_eq!(
            k.revision.as_deref(),
            Some("main@sha1:9f2c4e1a7b3d5f60812c4a9e0d7b6c5a4f3e2d1c")
        );
        assert_eq!(k.synced_at.as_deref(), Some("2025-06-15T09:41:30Z"));
    }
}
