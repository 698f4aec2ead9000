//! The one trim: what no check reads is dropped before an object is cached or snapshotted, so
//! that 100k objects fit in a small footprint.
//!
//! Every front door uses [`trim`]: the operator's watch caches (`controller::caches`), the live
//! snapshot of `audit` ([`super::live`]), the manifests loader ([`super::manifests`]) and the
//! synthetic generator. So `audit` and the operator judge the same objects. Tests run every
//! check's fixtures both untrimmed and trimmed and require identical outcomes
//! (`checks::testing::run_scoped`, `tests/trim.rs`), so a trim that drops a field some check
//! reads fails the suite.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation `kubectl apply` writes with the whole previous object in it.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Built-in controllers whose pods are judged through the controller's pod template.
pub const POD_CONTROLLERS: [&str; 4] = ["ReplicaSet", "StatefulSet", "DaemonSet", "Job"];

/// Whether a controller of one of `kinds` controls the object (an owner reference with
/// `controller: true`). The one owner test of the crate: trimming and
/// [`super::ClusterSnapshot::workloads`] must agree on which objects are judged through an
/// owner.
pub fn controlled_by(meta: &ObjectMeta, kinds: &[&str]) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && kinds.contains(&o.kind.as_str()))
}

/// Drops the bulky parts of metadata: the field sets of `managedFields` (the manager names,
/// operations and times stay, for the change-management check) and the last-applied annotation.
pub fn trim_metadata(meta: &mut ObjectMeta) {
    if let Some(fields) = meta.managed_fields.as_mut() {
        for entry in fields.iter_mut() {
            entry.fields_v1 = None;
            entry.fields_type = None;
            entry.api_version = None;
        }
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Trims an object to what the checks read, before it is cached or snapshotted. Works for any
/// kind (dynamic objects lose only the bulky metadata).
///
/// Besides [`trim_metadata`]:
/// - every pod keeps only its phase of its status;
/// - pods run by a built-in controller ([`POD_CONTROLLERS`]) keep only what pod-level checks read
///   (labels, host networking, node, service account, container names and images), because every
///   other check reads their owner's template; static and bare pods keep their whole spec;
/// - ReplicaSets run by a Deployment and Jobs run by a CronJob drop their pod template's spec,
///   judged through the owner's;
/// - nodes drop their image list, attached volumes and addresses;
/// - Cilium and Calico policies drop their `status`, Trivy vulnerability reports keep only ids,
///   severities, packages, versions, images and timestamps, cert-manager Certificates keep only
///   `spec.secretName`, readiness and expiry ([`super::dynamic`]); Velero objects stay whole.
///
/// Inventory digests are of the trimmed object.
pub fn trim<K: kube::Resource + 'static>(obj: &mut K) {
    trim_metadata(obj.meta_mut());
    let any: &mut dyn std::any::Any = obj;
    if let Some(pod) = any.downcast_mut::<Pod>() {
        trim_pod(pod);
    } else if let Some(rs) = any.downcast_mut::<ReplicaSet>() {
        if controlled_by(&rs.metadata, &["Deployment"])
            && let Some(template) = rs.spec.template.as_mut()
        {
            template.spec = None;
        }
    } else if let Some(job) = any.downcast_mut::<Job>() {
        if controlled_by(&job.metadata, &["CronJob"])
            && let Some(spec) = job.spec.as_mut()
        {
            spec.template.spec = None;
        }
    } else if let Some(obj) = any.downcast_mut::<kube::core::DynamicObject>() {
        super::dynamic::trim_data(obj);
    } else if let Some(node) = any.downcast_mut::<Node>()
        && let Some(status) = node.status.as_mut()
    {
        status.images = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.addresses = None;
    }
}

fn trim_pod(pod: &mut Pod) {
    if let Some(status) = pod.status.as_mut() {
        *status = PodStatus {
            phase: status.phase.take(),
            ..PodStatus::default()
        };
    }
    if controlled_by(&pod.metadata, &POD_CONTROLLERS)
        && let Some(spec) = pod.spec.as_mut()
    {
        *spec = PodSpec {
            containers: spec
                .containers
                .iter_mut()
                .map(|c| Container {
                    name: std::mem::take(&mut c.name),
                    image: c.image.take(),
                    ..Container::default()
                })
                .collect(),
            host_network: spec.host_network,
            node_name: spec.node_name.take(),
            service_account_name: spec.service_account_name.take(),
            ..PodSpec::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controlled_pods_keep_only_what_checks_read() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "a"},
                         "annotations": {LAST_APPLIED: "{}"},
                         "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]},
            "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "i:1", "env": [{"name": "X", "value": "y"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                       "containerStatuses": [{"name": "c", "image": "i:1", "imageID": "sha256:abc", "ready": true, "restartCount": 0, "state": {}}]}
        }))
        .unwrap();
        trim(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.containers[0].name, "c");
        assert_eq!(spec.containers[0].image.as_deref(), Some("i:1"));
        assert!(spec.containers[0].env.is_none());
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.is_none());
        assert!(status.container_statuses.is_none());
        assert!(pod.metadata.annotations.is_none());
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "a");
        let mf = &pod.metadata.managed_fields.as_ref().unwrap()[0];
        assert_eq!(mf.manager.as_deref(), Some("kubectl-edit"));
        assert!(mf.fields_v1.is_none());
    }

    #[test]
    fn static_pods_and_bare_replicasets_stay_whole() {
        let static_pod = json!({
            "metadata": {"name": "kube-apiserver-a", "namespace": "kube-system",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "a", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "kube-apiserver", "command": ["kube-apiserver", "--x"]}]}
        });
        let mut pod: Pod = serde_json::from_value(static_pod.clone()).unwrap();
        trim(&mut pod);
        assert_eq!(
            serde_json::to_value(&pod).unwrap()["spec"],
            static_pod["spec"]
        );

        let rs = |owned: bool| -> ReplicaSet {
            let mut meta = json!({"name": "r", "namespace": "n"});
            if owned {
                meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "u", "controller": true}]);
            }
            serde_json::from_value(json!({"metadata": meta, "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c"}]}}}})).unwrap()
        };
        let (mut owned, mut bare) = (rs(true), rs(false));
        trim(&mut owned);
        trim(&mut bare);
        assert!(owned.spec.template.unwrap().spec.is_none());
        assert!(bare.spec.template.unwrap().spec.is_some());
    }

    #[test]
    fn cronjob_jobs_and_node_images_are_dropped_config_map_data_is_not() {
        let mut job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "n",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "c", "uid": "u", "controller": true}]},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}
        }))
        .unwrap();
        trim(&mut job);
        assert!(job.spec.unwrap().template.spec.is_none());

        let mut node: Node = serde_json::from_value(json!({
            "metadata": {"name": "a"}, "spec": {"unschedulable": true},
            "status": {"images": [{"names": ["x"]}], "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}
        }))
        .unwrap();
        trim(&mut node);
        assert!(node.status.as_ref().unwrap().images.is_none());
        assert_eq!(node.spec.unwrap().unschedulable, Some(true));

        let mut cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "n"},
            "data": {"a": "b"}, "binaryData": {"k": "aHVudGVyMg=="}
        }))
        .unwrap();
        trim(&mut cm);
        assert!(
            cm.binary_data.is_some(),
            "data.credentials-in-plain-config reads binaryData"
        );
    }
}
