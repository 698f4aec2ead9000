//! Optional APIs read as untyped objects, described by one table: the network policy kinds of
//! the Cilium and Calico CNIs, Trivy Operator's vulnerability reports and cert-manager's
//! Certificates.
//!
//! Each [`DynKind`] names the API groups that may serve it ([`DynApi::sources`]); a snapshot
//! holds `None` for a kind its cluster does not serve, and the (possibly empty) objects when it
//! does. Live discovery (the operator's live discovery (`soc2_operator::live::discover`)) reads a kind from the first group in its
//! list the cluster serves; the manifest loader accepts the kind from any of them.
//!
//! This module owns the table, the per-kind lists ([`DynObjects`]) and which source discovery
//! picked ([`ServedDyn`]). It does not interpret the objects: the checks that read them do
//! (`checks::network::cni`, `checks::vulnerability`, `checks::tls_certificates`). Velero still
//! has its own fields in [`super::Objects`].
//!
//! Calico, decided: `crd.projectcalico.org/v1` comes first. With the Calico API server (the
//! default operator install) `projectcalico.org/v3` is an aggregated view whose storage *is*
//! the `crd.projectcalico.org/v1` objects, so reading v1 sees every policy without Calico's
//! tier pseudo-resources in RBAC (`tier.networkpolicies`), and does not depend on the
//! aggregated server being up. Without the API server (manifest installs, `calicoctl`) v1 is
//! the only API. Only a cluster on native `projectcalico.org/v3` CRDs (Calico 3.32+, no v1
//! CRDs) is read through v3. Manifests written for `kubectl`/GitOps use `projectcalico.org/v3`
//! and are accepted as they are.

use std::sync::Arc;

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// An optional kind read as [`DynamicObject`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DynKind {
    /// `CiliumNetworkPolicy` (cilium.io/v2), namespaced.
    CiliumNetworkPolicy,
    /// `CiliumClusterwideNetworkPolicy` (cilium.io/v2), cluster-scoped.
    CiliumClusterwideNetworkPolicy,
    /// Calico `NetworkPolicy` (crd.projectcalico.org/v1 or projectcalico.org/v3), namespaced.
    CalicoNetworkPolicy,
    /// Calico `GlobalNetworkPolicy` (crd.projectcalico.org/v1 or projectcalico.org/v3).
    CalicoGlobalNetworkPolicy,
    /// Trivy Operator `VulnerabilityReport` (aquasecurity.github.io/v1alpha1), namespaced.
    TrivyVulnerabilityReport,
    /// Trivy Operator `ClusterVulnerabilityReport` (aquasecurity.github.io/v1alpha1),
    /// cluster-scoped.
    TrivyClusterVulnerabilityReport,
    /// cert-manager `Certificate` (cert-manager.io/v1), namespaced.
    CertManagerCertificate,
    // GitOps and alerting sources (`change.gitops-reconciled`, `monitoring.alerting`); trimmed
    // by [`super::gitops_alerting::trim`].
    /// Argo CD `Application` (argoproj.io/v1alpha1), namespaced.
    ArgoApplication,
    /// Flux `Kustomization` (kustomize.toolkit.fluxcd.io/v1, or v1beta2), namespaced.
    FluxKustomization,
    /// Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2, or v2beta2), namespaced.
    FluxHelmRelease,
    /// Flux `GitRepository` (source.toolkit.fluxcd.io/v1, or v1beta2), namespaced.
    FluxGitRepository,
    /// prometheus-operator `PrometheusRule` (monitoring.coreos.com/v1), namespaced.
    PrometheusRule,
    /// prometheus-operator `Alertmanager` (monitoring.coreos.com/v1), namespaced.
    Alertmanager,
}

/// How one [`DynKind`] is served.
#[derive(Debug)]
pub struct DynApi {
    /// The kind as its API spells it.
    pub kind: &'static str,
    /// The resource (plural) name.
    pub plural: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// (group, version) pairs that serve the kind, preferred first.
    pub sources: &'static [(&'static str, &'static str)],
    /// A name unique among all kinds of a snapshot, for counts, metrics and cache bookkeeping.
    pub label: &'static str,
    /// How findings name the kind (`Calico NetworkPolicy`, not just `NetworkPolicy`).
    pub display: &'static str,
}

/// The Cilium API group.
pub const CILIUM_GROUP: &str = "cilium.io";
/// The Calico CRD group (the storage of the Calico API server).
pub const CALICO_CRD_GROUP: &str = "crd.projectcalico.org";
/// The Calico API group served by its API server or by native v3 CRDs.
pub const CALICO_GROUP: &str = "projectcalico.org";

const CILIUM: &[(&str, &str)] = &[(CILIUM_GROUP, "v2")];
const CALICO: &[(&str, &str)] = &[(CALICO_CRD_GROUP, "v1"), (CALICO_GROUP, "v3")];
/// The Trivy Operator API group.
pub const TRIVY_GROUP: &str = "aquasecurity.github.io";
/// The cert-manager API group.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";
const TRIVY: &[(&str, &str)] = &[(TRIVY_GROUP, "v1alpha1")];
const CERT_MANAGER: &[(&str, &str)] = &[(CERT_MANAGER_GROUP, "v1")];

/// The Argo CD API group.
pub const ARGO_GROUP: &str = "argoproj.io";
/// The Flux kustomize-controller API group.
pub const FLUX_KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// The Flux helm-controller API group.
pub const FLUX_HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// The Flux source-controller API group.
pub const FLUX_SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// The prometheus-operator API group.
pub const MONITORING_GROUP: &str = "monitoring.coreos.com";

const ARGO: &[(&str, &str)] = &[(ARGO_GROUP, "v1alpha1")];
const FLUX_KUSTOMIZE: &[(&str, &str)] = &[
    (FLUX_KUSTOMIZE_GROUP, "v1"),
    (FLUX_KUSTOMIZE_GROUP, "v1beta2"),
];
const FLUX_HELM: &[(&str, &str)] = &[(FLUX_HELM_GROUP, "v2"), (FLUX_HELM_GROUP, "v2beta2")];
const FLUX_SOURCE: &[(&str, &str)] = &[(FLUX_SOURCE_GROUP, "v1"), (FLUX_SOURCE_GROUP, "v1beta2")];
const MONITORING: &[(&str, &str)] = &[(MONITORING_GROUP, "v1")];

/// Number of [`DynKind`]s.
pub const DYN_KIND_COUNT: usize = 13;

impl DynKind {
    /// Every kind, in table order.
    pub const ALL: [DynKind; DYN_KIND_COUNT] = [
        DynKind::CiliumNetworkPolicy,
        DynKind::CiliumClusterwideNetworkPolicy,
        DynKind::CalicoNetworkPolicy,
        DynKind::CalicoGlobalNetworkPolicy,
        DynKind::TrivyVulnerabilityReport,
        DynKind::TrivyClusterVulnerabilityReport,
        DynKind::CertManagerCertificate,
        DynKind::ArgoApplication,
        DynKind::FluxKustomization,
        DynKind::FluxHelmRelease,
        DynKind::FluxGitRepository,
        DynKind::PrometheusRule,
        DynKind::Alertmanager,
    ];

    /// How the kind is served.
    pub const fn api(self) -> &'static DynApi {
        match self {
            DynKind::CiliumNetworkPolicy => &DynApi {
                kind: "CiliumNetworkPolicy",
                plural: "ciliumnetworkpolicies",
                namespaced: true,
                sources: CILIUM,
                label: "CiliumNetworkPolicy.cilium.io",
                display: "CiliumNetworkPolicy",
            },
            DynKind::CiliumClusterwideNetworkPolicy => &DynApi {
                kind: "CiliumClusterwideNetworkPolicy",
                plural: "ciliumclusterwidenetworkpolicies",
                namespaced: false,
                sources: CILIUM,
                label: "CiliumClusterwideNetworkPolicy.cilium.io",
                display: "CiliumClusterwideNetworkPolicy",
            },
            DynKind::CalicoNetworkPolicy => &DynApi {
                kind: "NetworkPolicy",
                plural: "networkpolicies",
                namespaced: true,
                sources: CALICO,
                label: "NetworkPolicy.projectcalico.org",
                display: "Calico NetworkPolicy",
            },
            DynKind::CalicoGlobalNetworkPolicy => &DynApi {
                kind: "GlobalNetworkPolicy",
                plural: "globalnetworkpolicies",
                namespaced: false,
                sources: CALICO,
                label: "GlobalNetworkPolicy.projectcalico.org",
                display: "Calico GlobalNetworkPolicy",
            },
            DynKind::TrivyVulnerabilityReport => &DynApi {
                kind: "VulnerabilityReport",
                plural: "vulnerabilityreports",
                namespaced: true,
                sources: TRIVY,
                label: "VulnerabilityReport.aquasecurity.github.io",
                display: "VulnerabilityReport",
            },
            DynKind::TrivyClusterVulnerabilityReport => &DynApi {
                kind: "ClusterVulnerabilityReport",
                plural: "clustervulnerabilityreports",
                namespaced: false,
                sources: TRIVY,
                label: "ClusterVulnerabilityReport.aquasecurity.github.io",
                display: "ClusterVulnerabilityReport",
            },
            DynKind::CertManagerCertificate => &DynApi {
                kind: "Certificate",
                plural: "certificates",
                namespaced: true,
                sources: CERT_MANAGER,
                label: "Certificate.cert-manager.io",
                display: "Certificate",
            },
            DynKind::ArgoApplication => &DynApi {
                kind: "Application",
                plural: "applications",
                namespaced: true,
                sources: ARGO,
                label: "Application.argoproj.io",
                display: "Argo CD Application",
            },
            DynKind::FluxKustomization => &DynApi {
                kind: "Kustomization",
                plural: "kustomizations",
                namespaced: true,
                sources: FLUX_KUSTOMIZE,
                label: "Kustomization.kustomize.toolkit.fluxcd.io",
                display: "Flux Kustomization",
            },
            DynKind::FluxHelmRelease => &DynApi {
                kind: "HelmRelease",
                plural: "helmreleases",
                namespaced: true,
                sources: FLUX_HELM,
                label: "HelmRelease.helm.toolkit.fluxcd.io",
                display: "Flux HelmRelease",
            },
            DynKind::FluxGitRepository => &DynApi {
                kind: "GitRepository",
                plural: "gitrepositories",
                namespaced: true,
                sources: FLUX_SOURCE,
                label: "GitRepository.source.toolkit.fluxcd.io",
                display: "Flux GitRepository",
            },
            DynKind::PrometheusRule => &DynApi {
                kind: "PrometheusRule",
                plural: "prometheusrules",
                namespaced: true,
                sources: MONITORING,
                label: "PrometheusRule.monitoring.coreos.com",
                display: "PrometheusRule",
            },
            DynKind::Alertmanager => &DynApi {
                kind: "Alertmanager",
                plural: "alertmanagers",
                namespaced: true,
                sources: MONITORING,
                label: "Alertmanager.monitoring.coreos.com",
                display: "Alertmanager",
            },
        }
    }

    /// Whether the kind is a Cilium or Calico network policy (what the network checks read).
    pub const fn is_network_policy(self) -> bool {
        matches!(
            self,
            DynKind::CiliumNetworkPolicy
                | DynKind::CiliumClusterwideNetworkPolicy
                | DynKind::CalicoNetworkPolicy
                | DynKind::CalicoGlobalNetworkPolicy
        )
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// The kind an object of this API group and kind is, if it is one of the table's.
    pub fn of(group: &str, kind: &str) -> Option<DynKind> {
        DynKind::ALL.into_iter().find(|k| {
            let api = k.api();
            api.kind == kind && api.sources.iter().any(|(g, _)| *g == group)
        })
    }

    /// The kind a CustomResourceDefinition (as JSON) defines, if it is one of the table's.
    pub fn of_crd(crd: &Value) -> Option<DynKind> {
        let group = crd.pointer("/spec/group").and_then(Value::as_str)?;
        let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str)?;
        DynKind::of(group, kind)
    }

    /// The kinds installed together with this one (same API groups, e.g. both Cilium policy
    /// kinds), this one included.
    pub fn family(self) -> impl Iterator<Item = DynKind> {
        DynKind::ALL
            .into_iter()
            .filter(move |k| std::ptr::eq(k.api().sources, self.api().sources))
    }

    /// The `ApiResource` to list or watch the kind from one of its sources.
    pub fn resource(self, (group, version): (&str, &str)) -> ApiResource {
        let api = self.api();
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, api.kind),
            api.plural,
        )
    }
}

/// Which source live discovery picked for each kind (`None`: not served).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServedDyn([Option<(&'static str, &'static str)>; DYN_KIND_COUNT]);

impl ServedDyn {
    /// The (group, version) a kind is read from, when served.
    pub fn get(&self, kind: DynKind) -> Option<(&'static str, &'static str)> {
        self.0[kind.index()]
    }

    /// Records the (group, version) a kind is read from.
    pub fn set(&mut self, kind: DynKind, source: (&'static str, &'static str)) {
        self.0[kind.index()] = Some(source);
    }

    /// Every served kind with its source.
    pub fn iter(&self) -> impl Iterator<Item = (DynKind, (&'static str, &'static str))> + '_ {
        DynKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|s| (k, s)))
    }

    /// How many kinds are served.
    pub fn count(&self) -> usize {
        self.0.iter().flatten().count()
    }
}

/// The objects of every [`DynKind`]; `None` for a kind the cluster does not serve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DynObjects([Option<Vec<Arc<DynamicObject>>>; DYN_KIND_COUNT]);

impl DynObjects {
    /// The objects of a kind, or `None` when its API is not served.
    pub fn get(&self, kind: DynKind) -> Option<&[Arc<DynamicObject>]> {
        self.0[kind.index()].as_deref()
    }

    /// The list of a kind, for loaders.
    pub fn get_mut(&mut self, kind: DynKind) -> &mut Option<Vec<Arc<DynamicObject>>> {
        &mut self.0[kind.index()]
    }

    /// Records that a kind and its [`DynKind::family`] are served (as for Velero, a manifest
    /// folder showing one kind of an installation shows the installation).
    pub fn mark_served(&mut self, kind: DynKind) {
        for k in kind.family() {
            self.get_mut(k).get_or_insert_default();
        }
    }

    /// Whether a kind is served.
    pub fn served(&self, kind: DynKind) -> bool {
        self.get(kind).is_some()
    }

    /// Every served kind with its objects, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (DynKind, &[Arc<DynamicObject>])> {
        DynKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|l| (k, l)))
    }

    /// Total number of objects.
    pub fn len(&self) -> usize {
        self.iter().map(|(_, l)| l.len()).sum()
    }

    /// True when no kind holds an object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves every object of `other` after this one's; a kind served in either stays served.
    pub fn append(&mut self, other: DynObjects) {
        for (into, from) in self.0.iter_mut().zip(other.0) {
            super::append_served(into, from);
        }
    }

    pub(super) fn lists_mut(&mut self) -> impl Iterator<Item = &mut Vec<Arc<DynamicObject>>> {
        self.0.iter_mut().flatten()
    }
}

impl From<[Option<Vec<Arc<DynamicObject>>>; DYN_KIND_COUNT]> for DynObjects {
    fn from(lists: [Option<Vec<Arc<DynamicObject>>>; DYN_KIND_COUNT]) -> Self {
        Self(lists)
    }
}

/// Drops what no check reads of a table kind's object. Called by [`super::trim`], the one trim;
/// objects of other dynamic kinds (Velero's, whose status checks read) are left alone.
/// - Cilium and Calico policies drop their `status` (Cilium reports per-node enforcement
///   there; the checks read only `spec`/`specs`);
/// - Trivy vulnerability reports keep of `report` only the update time, the image
///   (`registry.server`, `artifact.{repository,tag,digest}`) and, per vulnerability, its id,
///   severity, package (`resource`), installed and fixed versions and `publishedDate`: titles,
///   descriptions, links, scores, the summary, OS and scanner go;
/// - cert-manager Certificates keep `spec.secretName` and, of `status`, the conditions' type,
///   status and reason and `notAfter`;
/// - the GitOps and alerting kinds keep only the fields their checks and evidence read
///   ([`super::gitops_alerting::trim`]).
pub(super) fn trim_data(obj: &mut DynamicObject) {
    let Some(kind) = obj.types.as_ref().and_then(|t| {
        let (group, _) = super::legacy::split_api_version(&t.api_version);
        DynKind::of(group, &t.kind)
    }) else {
        return;
    };
    if super::gitops_alerting::trim(kind, &mut obj.data) {
        return;
    }
    let Value::Object(map) = &mut obj.data else {
        return;
    };
    match kind {
        DynKind::CiliumNetworkPolicy
        | DynKind::CiliumClusterwideNetworkPolicy
        | DynKind::CalicoNetworkPolicy
        | DynKind::CalicoGlobalNetworkPolicy => {
            map.remove("status");
        }
        DynKind::TrivyVulnerabilityReport | DynKind::TrivyClusterVulnerabilityReport => {
            if let Some(report) = map.remove("report") {
                map.insert("report".to_string(), trim_report(&report));
            }
        }
        DynKind::CertManagerCertificate => {
            let secret = map.get("spec").and_then(|s| s.get("secretName")).cloned();
            let status = map.get("status").map(trim_certificate_status);
            map.clear();
            if let Some(secret) = secret {
                map.insert("spec".to_string(), json!({ "secretName": secret }));
            }
            if let Some(status) = status {
                map.insert("status".to_string(), status);
            }
        }
        // Trimmed by `gitops_alerting::trim` above.
        DynKind::ArgoApplication
        | DynKind::FluxKustomization
        | DynKind::FluxHelmRelease
        | DynKind::FluxGitRepository
        | DynKind::PrometheusRule
        | DynKind::Alertmanager => {}
    }
}

/// Copies the named fields of an object that are present.
fn pick(from: &Value, fields: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        if let Some(v) = from.get(f) {
            out.insert((*f).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The parts of a Trivy `report` the vulnerability checks read.
fn trim_report(report: &Value) -> Value {
    let mut out = pick(report, &["updateTimestamp"]);
    if let Some(registry) = report.get("registry") {
        out["registry"] = pick(registry, &["server"]);
    }
    if let Some(artifact) = report.get("artifact") {
        out["artifact"] = pick(artifact, &["repository", "tag", "digest"]);
    }
    if let Some(Value::Array(vulns)) = report.get("vulnerabilities") {
        out["vulnerabilities"] = Value::Array(
            vulns
                .iter()
                .map(|v| {
                    pick(
                        v,
                        &[
                            "vulnerabilityID",
                            "severity",
                            "resource",
                            "installedVersion",
                            "fixedVersion",
                            "publishedDate",
                        ],
                    )
                })
                .collect(),
        );
    }
    out
}

/// The parts of a Certificate's `status` the certificate check reads.
fn trim_certificate_status(status: &Value) -> Value {
    let mut out = pick(status, &["notAfter"]);
    if let Some(Value::Array(conds)) = status.get("conditions") {
        out["conditions"] = Value::Array(
            conds
                .iter()
                .map(|c| pick(c, &["type", "status", "reason"]))
                .collect(),
        );
    }
    out
}

/// Adds one decoded manifest object of a table kind (group and kind already matched by
/// [`DynKind::of`]) and marks its API served.
pub fn add_manifest_object(objects: &mut DynObjects, kind: DynKind, obj: Arc<DynamicObject>) {
    let mut obj = Arc::unwrap_or_clone(obj);
    if kind.api().namespaced && obj.metadata.namespace.is_none() {
        // `kubectl apply` puts such an object in the default namespace.
        obj.metadata.namespace = Some("default".to_string());
    }
    objects.mark_served(kind);
    objects
        .get_mut(kind)
        .get_or_insert_default()
        .push(Arc::new(obj));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_found_by_group_and_kind() {
        assert_eq!(
            DynKind::of("cilium.io", "CiliumNetworkPolicy"),
            Some(DynKind::CiliumNetworkPolicy)
        );
        assert_eq!(
            DynKind::of("crd.projectcalico.org", "NetworkPolicy"),
            Some(DynKind::CalicoNetworkPolicy)
        );
        assert_eq!(
            DynKind::of("projectcalico.org", "GlobalNetworkPolicy"),
            Some(DynKind::CalicoGlobalNetworkPolicy)
        );
        assert_eq!(DynKind::of("networking.k8s.io", "NetworkPolicy"), None);
        assert_eq!(DynKind::of("cilium.io", "CiliumNode"), None);
        let crd = json!({"spec": {"group": "cilium.io", "names": {"kind": "CiliumClusterwideNetworkPolicy"}}});
        assert_eq!(
            DynKind::of_crd(&crd),
            Some(DynKind::CiliumClusterwideNetworkPolicy)
        );
    }

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = DynKind::ALL.iter().map(|k| k.api().label).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DYN_KIND_COUNT);
        for (i, k) in DynKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "ALL is in declaration order");
        }
    }

    #[test]
    fn manifest_objects_are_trimmed_and_served() {
        let mut o = DynObjects::default();
        assert!(!o.served(DynKind::CiliumNetworkPolicy));
        let mut obj: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                   "metadata": {"name": "p"}, "spec": {"endpointSelector": {}}, "status": {"conditions": []}}),
        )
        .expect("valid");
        crate::snapshot::trim(&mut obj);
        add_manifest_object(&mut o, DynKind::CiliumNetworkPolicy, Arc::new(obj));
        let list = o.get(DynKind::CiliumNetworkPolicy).expect("served");
        assert_eq!(list[0].metadata.namespace.as_deref(), Some("default"));
        assert!(list[0].data.get("status").is_none());
        assert!(list[0].data.get("spec").is_some());
        assert_eq!(o.len(), 1);
        assert!(
            o.served(DynKind::CiliumClusterwideNetworkPolicy),
            "same installation"
        );
        assert!(!o.served(DynKind::CalicoNetworkPolicy));
        assert_eq!(
            DynKind::CalicoGlobalNetworkPolicy
                .family()
                .collect::<Vec<_>>(),
            [
                DynKind::CalicoNetworkPolicy,
                DynKind::CalicoGlobalNetworkPolicy
            ]
        );
    }
}
