//! Builds a snapshot from a live cluster by listing each kind once (paged). Secrets are never
//! listed. Optional APIs are discovered, not assumed.

use std::sync::Arc;

use kube::{
    Api, Client,
    api::ListParams,
    core::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde::de::DeserializeOwned;
use soc2_core::snapshot::kinds::*;

use crate::Result;
use soc2_core::snapshot::dynamic::{DynKind, ServedDyn};
use soc2_core::snapshot::{Objects, VELERO_GROUP, VELERO_KINDS, trim};

/// Which optional APIs the cluster serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalApis {
    /// `velero.io/v1` with backups, schedules and restores.
    pub velero: bool,
    /// `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy (Kubernetes 1.30+).
    pub admission_policies: bool,
    /// The Cilium and Calico policy kinds served, each with the group/version to read it from.
    pub dynamic: ServedDyn,
}

/// The resource names a group/version serves; empty when the group/version is not served (404).
async fn served_resources(client: &Client, group_version: &str) -> Result<Vec<String>> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(list.resources.into_iter().map(|r| r.name).collect()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the operator may list a served kind. The chart grants the optional sources (Trivy,
/// cert-manager, Argo CD, Flux, prometheus-operator) only when they are enabled, so a 403 means "not ours to read": the kind is
/// then treated as not served (its checks say `NotApplicable`) instead of failing every
/// snapshot. A 404 (the CRD went away since discovery) counts as not served too.
async fn readable(client: &Client, kind: DynKind, source: (&str, &str)) -> Result<bool> {
    let api = Api::<DynamicObject>::all_with(client.clone(), &kind.resource(source));
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {
            tracing::warn!(
                kind = kind.api().label,
                code = e.code,
                "optional API is served but may not be listed; its checks will be NotApplicable"
            );
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// For each [`DynKind`], the first of its sources that serves it (and that the operator may
/// list, see [`readable`]). Each group/version is asked once, and a later source only when no
/// earlier one serves the kind.
async fn discover_dynamic(client: &Client) -> Result<ServedDyn> {
    let mut asked: Vec<(String, Vec<String>)> = Vec::new();
    let mut served = ServedDyn::default();
    for kind in DynKind::ALL {
        let api = kind.api();
        for &(group, version) in api.sources {
            let gv = format!("{group}/{version}");
            let idx = match asked.iter().position(|(g, _)| *g == gv) {
                Some(i) => i,
                None => {
                    let names = served_resources(client, &gv).await?;
                    asked.push((gv, names));
                    asked.len() - 1
                }
            };
            if asked[idx].1.iter().any(|n| n == api.plural) {
                if readable(client, kind, (group, version)).await? {
                    served.set(kind, (group, version));
                }
                break;
            }
        }
    }
    Ok(served)
}

/// Asks the API server which optional APIs it serves.
pub async fn discover(client: &Client) -> Result<OptionalApis> {
    let velero = match client.list_api_group_resources("velero.io/v1").await {
        Ok(list) => VELERO_KINDS
            .iter()
            .all(|(_, plural)| list.resources.iter().any(|r| r.name == *plural)),
        Err(kube::Error::Api(e)) if e.code == 404 => false,
        Err(e) => return Err(e.into()),
    };
    let admission_policies = match client
        .list_api_group_resources("admissionregistration.k8s.io/v1")
        .await
    {
        Ok(list) => list
            .resources
            .iter()
            .any(|r| r.name == "validatingadmissionpolicies"),
        Err(kube::Error::Api(e)) if e.code == 404 => false,
        Err(e) => return Err(e.into()),
    };
    let dynamic = discover_dynamic(client).await?;
    Ok(OptionalApis {
        velero,
        admission_policies,
        dynamic,
    })
}

/// The `ApiResource` of a Velero kind.
pub fn velero_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(VELERO_GROUP, "v1", kind), plural)
}

const PAGE: u32 = 500;

async fn list_all<K>(api: Api<K>) -> Result<Vec<Arc<K>>>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + 'static,
    K: kube::ResourceExt,
{
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        for mut item in page.items {
            trim(&mut item);
            out.push(Arc::new(item));
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(out)
}

/// Lists every kind the checks read. Secrets are not among them.
pub async fn load(client: &Client) -> Result<Objects> {
    let apis = discover(client).await?;
    let mut objects = Objects::default();
    macro_rules! list_kinds {
        ($($field:ident: $ty:ty,)*) => {
            $( objects.$field = list_all(Api::<$ty>::all(client.clone())).await?; )*
        };
    }
    soc2_core::for_each_core_kind!(list_kinds);
    if apis.admission_policies {
        objects.admission_policies =
            Some(list_all(Api::<ValidatingAdmissionPolicy>::all(client.clone())).await?);
        objects.admission_policy_bindings =
            Some(list_all(Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())).await?);
    }
    if apis.velero {
        for (kind, plural) in VELERO_KINDS {
            let ar = velero_resource(kind, plural);
            let list = list_all(Api::<DynamicObject>::all_with(client.clone(), &ar)).await?;
            match kind {
                "Backup" => objects.velero_backups = Some(list),
                "Schedule" => objects.velero_schedules = Some(list),
                _ => objects.velero_restores = Some(list),
            }
        }
    }
    for (kind, source) in apis.dynamic.iter() {
        let ar = kind.resource(source);
        let list = list_all(Api::<DynamicObject>::all_with(client.clone(), &ar)).await?;
        *objects.dynamic.get_mut(kind) = Some(list);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    fn not_found() -> (u16, serde_json::Value) {
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
        )
    }

    fn resource_list(
        group_version: &str,
        kinds: &[(&str, &str, bool)],
    ) -> (u16, serde_json::Value) {
        let resources: Vec<_> = kinds
            .iter()
            .map(|(name, kind, namespaced)| json!({"name": name, "namespaced": namespaced, "kind": kind, "verbs": ["list", "watch"], "singularName": ""}))
            .collect();
        (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
        )
    }

    /// Answers like an API server without Velero, with VAP served, with two pages of pods,
    /// with Cilium, with Calico on native projectcalico.org/v3 CRDs (no
    /// crd.projectcalico.org/v1), without Trivy, Argo CD, Flux or prometheus-operator, and with
    /// cert-manager served but forbidden.
    async fn serve(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let uri = req.uri().to_string();
            seen.push(uri.clone());
            let path = req.uri().path().to_string();
            let (status, body) = if path == "/apis/velero.io/v1"
                || path == "/apis/crd.projectcalico.org/v1"
                || path == "/apis/aquasecurity.github.io/v1alpha1"
                // No Argo CD, Flux or prometheus-operator either.
                || path.starts_with("/apis/argoproj.io/")
                || path.contains(".toolkit.fluxcd.io/")
                || path.starts_with("/apis/monitoring.coreos.com/")
            {
                not_found()
            } else if path == "/apis/cert-manager.io/v1" {
                resource_list(
                    "cert-manager.io/v1",
                    &[("certificates", "Certificate", true)],
                )
            } else if path == "/apis/cert-manager.io/v1/certificates" {
                // Served, but the role does not grant it (source disabled in the chart).
                (
                    403,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": "forbidden"}),
                )
            } else if path == "/apis/cilium.io/v2" {
                resource_list(
                    "cilium.io/v2",
                    &[
                        ("ciliumnetworkpolicies", "CiliumNetworkPolicy", true),
                        (
                            "ciliumclusterwidenetworkpolicies",
                            "CiliumClusterwideNetworkPolicy",
                            false,
                        ),
                        ("ciliumnodes", "CiliumNode", false),
                    ],
                )
            } else if path == "/apis/projectcalico.org/v3" {
                resource_list(
                    "projectcalico.org/v3",
                    &[
                        ("networkpolicies", "NetworkPolicy", true),
                        ("globalnetworkpolicies", "GlobalNetworkPolicy", false),
                    ],
                )
            } else if path == "/apis/cilium.io/v2/ciliumnetworkpolicies" {
                (
                    200,
                    json!({"kind": "CiliumNetworkPolicyList", "apiVersion": "cilium.io/v2", "metadata": {"resourceVersion": "5"},
                    "items": [{"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                               "metadata": {"name": "deny", "namespace": "x"},
                               "spec": {"endpointSelector": {}, "ingress": [{}]},
                               "status": {"conditions": [{"type": "Valid", "status": "True"}]}}]}),
                )
            } else if path == "/apis/admissionregistration.k8s.io/v1" {
                (
                    200,
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "admissionregistration.k8s.io/v1",
                    "resources": [{"name": "validatingadmissionpolicies", "namespaced": false, "kind": "ValidatingAdmissionPolicy", "verbs": ["list"], "singularName": ""}]}),
                )
            } else if path == "/api/v1/pods" && !uri.contains("continue=") {
                (
                    200,
                    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"continue": "page2", "resourceVersion": "5"},
                    "items": [{"metadata": {"name": "a", "namespace": "x", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}]}),
                )
            } else if path == "/api/v1/pods" {
                (
                    200,
                    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "5"},
                    "items": [{"metadata": {"name": "b", "namespace": "x"}}]}),
                )
            } else if path.contains("secrets") {
                panic!("Secrets must never be requested: {uri}");
            } else {
                (
                    200,
                    json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "5"}, "items": []}),
                )
            };
            let response = Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            send.send_response(response);
        }
        seen
    }

    #[tokio::test]
    async fn lists_every_kind_pages_through_and_skips_absent_apis() {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(serve(handle));
        let client = Client::new(service, "default");
        let objects = load(&client).await.expect("loads");
        drop(client);
        let seen = server.await.unwrap();
        assert_eq!(objects.pods.len(), 2, "both pages of pods");
        assert!(
            objects.pods[0].metadata.annotations.is_none(),
            "last-applied trimmed"
        );
        assert!(objects.velero_backups.is_none(), "velero absent");
        assert_eq!(
            objects.admission_policies.as_ref().map(Vec::len),
            Some(0),
            "VAP served, empty"
        );
        assert!(
            seen.iter().all(|u| u.contains("limit=500")
                || u.contains("limit=1&") // the readability probe
                || u.ends_with("limit=1")
                || u.starts_with("/apis/") && !u.contains('?')),
            "{seen:?}"
        );
        assert!(
            objects
                .dynamic
                .get(DynKind::CertManagerCertificate)
                .is_none(),
            "served but forbidden counts as not served"
        );
        assert!(!seen.iter().any(|u| u.contains("velero.io/v1/")));

        let cnp = objects
            .dynamic
            .get(DynKind::CiliumNetworkPolicy)
            .expect("Cilium served");
        assert_eq!(cnp.len(), 1);
        assert!(cnp[0].data.get("status").is_none(), "status trimmed");
        assert!(cnp[0].data.get("spec").is_some());
        assert_eq!(
            objects
                .dynamic
                .get(DynKind::CalicoGlobalNetworkPolicy)
                .map(<[_]>::len),
            Some(0),
            "Calico read from projectcalico.org/v3 when crd.projectcalico.org/v1 is absent"
        );
        assert!(
            seen.iter()
                .any(|u| u.starts_with("/apis/projectcalico.org/v3/globalnetworkpolicies?"))
        );
        assert_eq!(
            seen.iter()
                .filter(|u| u.as_str() == "/apis/cilium.io/v2")
                .count(),
            1,
            "each group/version is discovered once"
        );
    }

    #[tokio::test]
    async fn calico_prefers_the_crd_group_the_api_server_stores_in() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((req, send)) = handle.next_request().await {
                let path = req.uri().path().to_string();
                seen.push(path.clone());
                let (status, body) = match path.as_str() {
                    "/apis/crd.projectcalico.org/v1" => resource_list(
                        "crd.projectcalico.org/v1",
                        &[
                            ("networkpolicies", "NetworkPolicy", true),
                            ("globalnetworkpolicies", "GlobalNetworkPolicy", false),
                        ],
                    ),
                    "/apis/admissionregistration.k8s.io/v1" => {
                        resource_list("admissionregistration.k8s.io/v1", &[])
                    }
                    // The readability probe of each served kind.
                    p if p.starts_with("/apis/crd.projectcalico.org/v1/") => (
                        200,
                        json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}),
                    ),
                    _ => not_found(),
                };
                let response = Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
            seen
        });
        let client = Client::new(service, "default");
        let apis = discover(&client).await.expect("discovers");
        drop(client);
        let seen = server.await.unwrap();
        assert_eq!(
            apis.dynamic.get(DynKind::CalicoNetworkPolicy),
            Some(("crd.projectcalico.org", "v1"))
        );
        assert_eq!(apis.dynamic.get(DynKind::CiliumNetworkPolicy), None);
        assert_eq!(apis.dynamic.count(), 2);
        assert!(
            !seen.iter().any(|p| p == "/apis/projectcalico.org/v3"),
            "the aggregated v3 API is not asked when v1 serves: {seen:?}"
        );
    }

    #[tokio::test]
    async fn a_served_kind_the_operator_may_not_read_is_not_served() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let path = req.uri().path().to_string();
                let (status, body) = match path.as_str() {
                    "/apis/argoproj.io/v1alpha1" => resource_list(
                        "argoproj.io/v1alpha1",
                        &[("applications", "Application", true)],
                    ),
                    "/apis/monitoring.coreos.com/v1" => resource_list(
                        "monitoring.coreos.com/v1",
                        &[
                            ("prometheusrules", "PrometheusRule", true),
                            ("alertmanagers", "Alertmanager", true),
                        ],
                    ),
                    "/apis/argoproj.io/v1alpha1/applications" => (
                        403,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": "forbidden"}),
                    ),
                    p if p.starts_with("/apis/monitoring.coreos.com/v1/") => (
                        200,
                        json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}),
                    ),
                    _ => not_found(),
                };
                let response = Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        let client = Client::new(service, "default");
        let apis = discover(&client).await.expect("discovers");
        drop(client);
        server.await.unwrap();
        assert_eq!(
            apis.dynamic.get(DynKind::ArgoApplication),
            None,
            "403: not read"
        );
        assert_eq!(
            apis.dynamic.get(DynKind::PrometheusRule),
            Some(("monitoring.coreos.com", "v1"))
        );
        assert_eq!(
            apis.dynamic.get(DynKind::Alertmanager),
            Some(("monitoring.coreos.com", "v1"))
        );
    }
}
