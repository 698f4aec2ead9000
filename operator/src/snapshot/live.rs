//! Builds a snapshot from a live cluster by listing each kind once (paged). Secrets are never
//! listed. Optional APIs are discovered, not assumed.

use std::sync::Arc;

use super::kinds::*;
use kube::{
    Api, Client,
    api::ListParams,
    core::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde::de::DeserializeOwned;

use super::{Objects, VELERO_GROUP, VELERO_KINDS, trim};
use crate::Result;

/// Which optional APIs the cluster serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalApis {
    /// `velero.io/v1` with backups, schedules and restores.
    pub velero: bool,
    /// `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy (Kubernetes 1.30+).
    pub admission_policies: bool,
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
    Ok(OptionalApis {
        velero,
        admission_policies,
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
    crate::for_each_core_kind!(list_kinds);
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
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    /// Answers like an API server without Velero, with VAP served, and with two pages of pods.
    async fn serve(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let uri = req.uri().to_string();
            seen.push(uri.clone());
            let path = req.uri().path().to_string();
            let (status, body) = if path == "/apis/velero.io/v1" {
                (
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
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
            seen.iter()
                .all(|u| u.contains("limit=500") || u.starts_with("/apis/") && !u.contains('?'))
        );
        assert!(!seen.iter().any(|u| u.contains("velero.io/v1/")));
    }
}
