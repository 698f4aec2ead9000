//! Trimming objects before they are cached or snapshotted: what no check reads is dropped so
//! that 100k objects fit in a small footprint.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation `kubectl apply` writes with the whole previous object in it.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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

/// Controller kinds whose pods are judged through their owner's template.
const POD_OWNERS: [&str; 4] = ["ReplicaSet", "StatefulSet", "DaemonSet", "Job"];

fn controlled_by(meta: &ObjectMeta, kinds: &[&str]) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && kinds.contains(&o.kind.as_str()))
}

/// Trims an object to what the checks read, before it is cached or snapshotted.
///
/// Besides [`trim_metadata`]: pods run by a built-in controller keep only what pod-level checks
/// read (labels, phase, host networking, container names and images) because every other check
/// reads their owner's template; ReplicaSets run by a Deployment drop their pod template for the
/// same reason. Static and bare pods stay whole. Inventory digests are of the trimmed object.
pub fn trim<K: kube::Resource + 'static>(obj: &mut K) {
    trim_metadata(obj.meta_mut());
    let any: &mut dyn std::any::Any = obj;
    if let Some(pod) = any.downcast_mut::<Pod>() {
        if controlled_by(&pod.metadata, &POD_OWNERS) {
            if let Some(spec) = pod.spec.as_mut() {
                *spec = PodSpec {
                    containers: spec
                        .containers
                        .iter()
                        .map(|c| Container {
                            name: c.name.clone(),
                            image: c.image.clone(),
                            ..Container::default()
                        })
                        .collect(),
                    host_network: spec.host_network,
                    node_name: spec.node_name.take(),
                    service_account_name: spec.service_account_name.take(),
                    ..PodSpec::default()
                };
            }
            if let Some(status) = pod.status.as_mut() {
                *status = PodStatus {
                    phase: status.phase.take(),
                    ..PodStatus::default()
                };
            }
        }
    } else if let Some(rs) = any.downcast_mut::<ReplicaSet>()
        && controlled_by(&rs.metadata, &["Deployment"])
        && let Some(template) = rs.spec.template.as_mut()
    {
        template.spec = None;
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
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]},
            "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "i:1", "env": [{"name": "X", "value": "y"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }))
        .unwrap();
        trim(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.containers[0].image.as_deref(), Some("i:1"));
        assert!(spec.containers[0].env.is_none());
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
        assert!(pod.status.as_ref().unwrap().pod_ip.is_none());
        assert!(pod.metadata.annotations.is_none());
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "a");
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
}
