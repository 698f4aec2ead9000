//! The one trim: what no check reads is dropped before an object is cached or snapshotted, so
//! that 100k objects fit in a small footprint.
//!
//! Every front door uses [`trim`]: the operator's watch caches (`controller::caches`), the live
//! snapshot of `audit` ([`super::live`]), the manifests loader ([`super::manifests`]) and the
//! synthetic generator. So `audit` and the operator judge the same objects. Tests run every
//! check's fixtures both untrimmed and trimmed and require identical outcomes
//! (`checks::testing::run_scoped`, `tests/trim.rs`), so a trim that drops a field some check
//! reads fails the suite.

use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::slim::{
    Container, CronJob, DaemonSet, Deployment, Job, Pod, PodSpec, ReplicaSet, StatefulSet,
};
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

/// Drops the bulky parts of metadata: the field sets of `managedFields` and the entries of status
/// writers (the manager names, operations and times of the others stay, for the
/// change-management check), the last-applied annotation, and the `uid` and `generateName`
/// that nothing reads (owner references carry their own uid; the inventory keys objects by
/// kind, namespace and name and keeps the resourceVersion).
pub fn trim_metadata(meta: &mut ObjectMeta) {
    meta.uid = None;
    meta.generate_name = None;
    if let Some(fields) = meta.managed_fields.as_mut() {
        // Status writers are not changes (`change.gitops-managed`) nor enforcement's applies.
        fields.retain(|entry| entry.subresource.as_deref() != Some("status"));
        for entry in fields.iter_mut() {
            entry.fields_v1 = None;
            entry.fields_type = None;
            entry.api_version = None;
        }
        if fields.is_empty() {
            meta.managed_fields = None;
        }
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Whether this object keeps its `managedFields`, on a kind that [`keeps_managed_fields`]:
/// of the ServiceAccounts only the `default` ones, the only ones enforcement sets a field on
/// (`automountServiceAccountToken`).
fn keeps_managed_fields_of<K: kube::Resource + 'static>(obj: &K) -> bool {
    std::any::TypeId::of::<K>() != std::any::TypeId::of::<ServiceAccount>()
        || obj.meta().name.as_deref() == Some("default")
}

/// Whether objects of type `K` keep their `managedFields` (manager, operation, time): the
/// workloads `change.gitops-managed` judges, the Namespaces, NetworkPolicies and ServiceAccounts
/// whose remediated fields enforcement recognises by field manager, and the dynamic kinds. On
/// every other kind no check reads them, and two entries cost about 550 bytes an object.
pub fn keeps_managed_fields<K: 'static>() -> bool {
    use std::any::TypeId;
    let kind = TypeId::of::<K>();
    [
        TypeId::of::<Deployment>(),
        TypeId::of::<StatefulSet>(),
        TypeId::of::<DaemonSet>(),
        TypeId::of::<CronJob>(),
        TypeId::of::<Namespace>(),
        TypeId::of::<NetworkPolicy>(),
        TypeId::of::<ServiceAccount>(),
        TypeId::of::<kube::core::DynamicObject>(),
    ]
    .contains(&kind)
}

/// The annotations a workload keeps: Argo CD's tracking id (`change.gitops-managed`). A
/// Deployment's revision, Helm's release notes and the like are read by no check.
pub const WORKLOAD_ANNOTATIONS: [&str; 1] = ["argocd.argoproj.io/tracking-id"];

fn is_workload<K: 'static>() -> bool {
    use std::any::TypeId;
    let kind = TypeId::of::<K>();
    [
        TypeId::of::<Deployment>(),
        TypeId::of::<StatefulSet>(),
        TypeId::of::<DaemonSet>(),
        TypeId::of::<CronJob>(),
    ]
    .contains(&kind)
}

/// Whether objects of type `K` keep their annotations: Services (`network.restricted-exposure`
/// allowlists load-balancer annotations), Ingresses (`tls.ingress` reads the class annotation),
/// the workloads (only [`WORKLOAD_ANNOTATIONS`]), Namespaces,
/// ValidatingAdmissionPolicies (enforcement's spec hash) and the dynamic kinds. Pods,
/// ReplicaSets, Jobs, RBAC objects, ConfigMaps and the rest drop them: no check reads them, and
/// each map costs a 540-byte B-tree node plus its strings.
pub fn keeps_annotations<K: 'static>() -> bool {
    use super::slim::Service;
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use k8s_openapi::api::networking::v1::Ingress;
    use std::any::TypeId;
    let kind = TypeId::of::<K>();
    [
        TypeId::of::<Service>(),
        TypeId::of::<Ingress>(),
        TypeId::of::<Deployment>(),
        TypeId::of::<StatefulSet>(),
        TypeId::of::<DaemonSet>(),
        TypeId::of::<CronJob>(),
        TypeId::of::<Namespace>(),
        TypeId::of::<ValidatingAdmissionPolicy>(),
        TypeId::of::<ValidatingAdmissionPolicyBinding>(),
        TypeId::of::<kube::core::DynamicObject>(),
    ]
    .contains(&kind)
}

/// Trims an object to what the checks read, before it is cached or snapshotted. Works for any
/// kind (dynamic objects lose only the bulky metadata).
///
/// Besides [`trim_metadata`]:
/// - every pod keeps only its phase of its status;
/// - pods run by a built-in controller ([`POD_CONTROLLERS`]) keep only what pod-level checks read
///   (labels, host networking, node, service account, container names and images), because every
///   other check reads their owner's template; static and bare pods keep their whole spec;
/// - ReplicaSets run by a Deployment drop their pod template and Jobs run by a CronJob their
///   template's spec, judged through the owner's;
/// - nodes drop their status (checks read their name and `spec.unschedulable`);
/// - PersistentVolumeClaims keep only their metadata: no check reads a claim's spec or status
///   (volumes are judged through the PersistentVolume and the pod's volume source);
/// - Cilium and Calico policies drop their `status`, Trivy vulnerability reports keep only ids,
///   severities, packages, versions, images and timestamps, cert-manager Certificates keep only
///   `spec.secretName`, readiness and expiry ([`super::dynamic`]); Velero objects stay whole.
///
/// - `managedFields` and annotations stay only on the kinds something reads them from
///   ([`keeps_managed_fields`], [`keeps_annotations`]).
///
/// Inventory digests are of the trimmed object.
pub fn trim<K: kube::Resource + 'static>(obj: &mut K) {
    trim_metadata(obj.meta_mut());
    if !keeps_managed_fields::<K>() || !keeps_managed_fields_of(obj) {
        obj.meta_mut().managed_fields = None;
    }
    if !keeps_annotations::<K>() {
        obj.meta_mut().annotations = None;
    } else if is_workload::<K>() {
        let meta = obj.meta_mut();
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.retain(|k, _| WORKLOAD_ANNOTATIONS.contains(&k.as_str()));
            if annotations.is_empty() {
                meta.annotations = None;
            }
        }
    }
    let any: &mut dyn std::any::Any = obj;
    if let Some(pod) = any.downcast_mut::<Pod>() {
        trim_pod(pod);
    } else if let Some(rs) = any.downcast_mut::<ReplicaSet>() {
        if controlled_by(&rs.metadata, &["Deployment"]) {
            rs.spec.template = None;
        }
    } else if let Some(job) = any.downcast_mut::<Job>() {
        if controlled_by(&job.metadata, &["CronJob"])
            && let Some(spec) = job.spec.as_mut()
        {
            spec.template.spec = None;
        }
    } else if let Some(obj) = any.downcast_mut::<kube::core::DynamicObject>() {
        super::dynamic::trim_data(obj);
    } else if let Some(node) = any.downcast_mut::<Node>() {
        node.status = None;
    } else if let Some(claim) = any.downcast_mut::<PersistentVolumeClaim>() {
        claim.spec = None;
        claim.status = None;
    }
}

/// The slim [`Pod`] keeps only the phase of the status; a controller's pod keeps only what
/// pod-level checks read of its spec.
fn trim_pod(pod: &mut Pod) {
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
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            json!({"phase": "Running"}),
            "the slim status keeps the phase only"
        );
        assert!(pod.metadata.annotations.is_none());
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "a");
        assert!(
            pod.metadata.managed_fields.is_none(),
            "no check reads a pod's managers"
        );
    }

    #[test]
    fn managers_and_annotations_stay_only_where_something_reads_them() {
        let meta = json!({"name": "x", "namespace": "n",
            "annotations": {"argocd.argoproj.io/tracking-id": "app:apps/Deployment:n/x",
                            "deployment.kubernetes.io/revision": "3"},
            "managedFields": [
                {"manager": "soc2-operator", "operation": "Apply", "time": "2026-06-01T10:00:00Z"},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "time": "2026-06-01T10:00:05Z"}]});
        fn trimmed<K: serde::de::DeserializeOwned + kube::Resource + 'static>(
            v: serde_json::Value,
        ) -> K {
            let mut o: K = serde_json::from_value(v).unwrap();
            trim(&mut o);
            o
        }
        let managers = |m: &ObjectMeta| -> Vec<String> {
            m.managed_fields
                .iter()
                .flatten()
                .filter_map(|e| e.manager.clone())
                .collect()
        };
        // Enforcement recognises its own applies by manager on these kinds.
        let ns: Namespace = trimmed(json!({"metadata": meta}));
        assert_eq!(
            managers(&ns.metadata),
            ["soc2-operator"],
            "status writer dropped"
        );
        let mut default_sa = meta.clone();
        default_sa["name"] = json!("default");
        let sa: ServiceAccount = trimmed(json!({"metadata": default_sa}));
        assert_eq!(managers(&sa.metadata), ["soc2-operator"]);
        // Enforcement sets fields on `default` ServiceAccounts only.
        let sa: ServiceAccount = trimmed(json!({"metadata": meta}));
        assert!(sa.metadata.managed_fields.is_none());
        let np: NetworkPolicy = trimmed(json!({"metadata": meta, "spec": {}}));
        assert_eq!(managers(&np.metadata), ["soc2-operator"]);
        // Workloads keep managers for change.gitops-managed, and only Argo CD's annotation.
        let d: Deployment = trimmed(json!({"metadata": meta, "spec": {}}));
        assert_eq!(managers(&d.metadata), ["soc2-operator"]);
        let kept: Vec<&String> = d
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, ["argocd.argoproj.io/tracking-id"]);
        // Nothing reads either on a ConfigMap or a pod.
        let cm: k8s_openapi::api::core::v1::ConfigMap = trimmed(json!({"metadata": meta}));
        assert!(cm.metadata.managed_fields.is_none() && cm.metadata.annotations.is_none());
        let pod: Pod = trimmed(json!({"metadata": meta}));
        assert!(pod.metadata.managed_fields.is_none() && pod.metadata.annotations.is_none());
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
        assert!(owned.spec.template.is_none());
        assert!(bare.spec.template.unwrap().spec.is_some());
    }

    #[test]
    fn cronjob_jobs_node_status_and_claim_contents_are_dropped_config_map_data_is_not() {
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
        assert!(node.status.is_none());
        assert_eq!(node.spec.unwrap().unschedulable, Some(true));

        let mut claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "n", "labels": {"app": "db"}},
            "spec": {"storageClassName": "gp3", "accessModes": ["ReadWriteOnce"]},
            "status": {"phase": "Bound"}
        }))
        .unwrap();
        trim(&mut claim);
        assert!(claim.spec.is_none() && claim.status.is_none());
        assert_eq!(claim.metadata.name.as_deref(), Some("data"));

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
