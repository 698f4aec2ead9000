//! The synthetic cluster as an API server serves it: what the API server and the controllers add
//! to every object (`managedFields` with `fieldsV1` trees, uid, resourceVersion, defaults,
//! status), so that benchmarks decode what a real list page carries, not the trimmed objects the
//! generator keeps.
//!
//! Shapes follow what `kubectl get -o json` returns from Kubernetes 1.28+: a Deployment's pod
//! template with the API server's defaults and a `status` with conditions; ReplicaSets with the
//! revision annotations; pods with the `kube-api-access-*` projected volume, default tolerations,
//! every container default and a full `status`. Half the pods have no controller owner (bare
//! pods, as in a cluster whose pods were created directly), the other half keep theirs.

use serde_json::{Value, json};

use crate::snapshot::Objects;
use crate::snapshot::kinds::*;

/// Every object of `objects` as JSON, in the order of the core kinds, then Velero.
pub fn values(objects: &Objects) -> Vec<Value> {
    let mut out = Vec::with_capacity(objects.len());
    macro_rules! dump {
        ($($field:ident: $ty:ty,)*) => {
            $( for o in &objects.$field {
                out.push(serde_json::to_value(o.as_ref()).expect("serialisable"));
            } )*
        };
    }
    crate::for_each_core_kind!(dump);
    for list in [
        &objects.velero_backups,
        &objects.velero_schedules,
        &objects.velero_restores,
    ] {
        for o in list.iter().flatten() {
            out.push(serde_json::to_value(o.as_ref()).expect("serialisable"));
        }
    }
    out
}

/// The container defaults the API server fills in, and the service-account token mount.
fn serve_container(c: &mut Value, i: usize) {
    let Some(c) = c.as_object_mut() else { return };
    c.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
    c.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    c.entry("terminationMessagePolicy").or_insert(json!("File"));
    c.entry("resources").or_insert(
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}),
    );
    c.entry("ports")
        .or_insert(json!([{"containerPort": 8080, "name": "http", "protocol": "TCP"}]));
    c.entry("volumeMounts").or_insert(json!([{
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "name": format!("kube-api-access-{:05x}", i % 0xfffff),
        "readOnly": true
    }]));
}

/// The pod-spec defaults of the API server (template and pod alike).
fn serve_pod_spec(spec: &mut Value, i: usize, pod: bool) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    for (key, value) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
        ("terminationGracePeriodSeconds", json!(30)),
    ] {
        s.entry(key).or_insert(value);
    }
    if let Some(containers) = s.get_mut("containers").and_then(Value::as_array_mut) {
        for c in containers {
            serve_container(c, i);
        }
    }
    if !pod {
        return;
    }
    let account = s
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!("default"));
    for (key, value) in [
        ("enableServiceLinks", json!(true)),
        ("preemptionPolicy", json!("PreemptLowerPriority")),
        ("priority", json!(0)),
        ("serviceAccount", account.clone()),
        ("serviceAccountName", account),
        ("nodeName", json!(format!("node-{:04}", i % 200))),
    ] {
        s.entry(key).or_insert(value);
    }
    s.insert(
        "tolerations".into(),
        json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
        ]),
    );
    s.insert(
        "volumes".into(),
        json!([{
            "name": format!("kube-api-access-{:05x}", i % 0xfffff),
            "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}
            ]}
        }]),
    );
}

fn pod_status(spec: &Value, i: usize) -> Value {
    let containers: Vec<Value> = spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c["name"], "image": c["image"],
                        "imageID": format!("docker.io/library/app@sha256:{:064x}", i),
                        "containerID": format!("containerd://{:064x}", i * 31),
                        "ready": true, "restartCount": 0, "started": true,
                        "state": {"running": {"startedAt": "2026-06-01T10:00:07Z"}},
                        "lastState": {}
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let ip = format!("10.244.{}.{}", (i / 250) % 250, i % 250);
    json!({
        "phase": "Running", "qosClass": "Burstable",
        "hostIP": "10.0.0.12", "hostIPs": [{"ip": "10.0.0.12"}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": "2026-06-01T10:00:05Z",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-06-01T10:00:06Z"},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-06-01T10:00:05Z"},
            {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-06-01T10:00:08Z"},
            {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-06-01T10:00:08Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-06-01T10:00:05Z"}
        ],
        "containerStatuses": containers
    })
}

/// Adds what an API server and its controllers put on object number `i` (`v` as the generator
/// made it).
pub fn as_served(mut v: Value, i: usize) -> Value {
    let kind = v["kind"].as_str().unwrap_or("").to_string();
    let api_version = v["apiVersion"].as_str().unwrap_or("v1").to_string();
    let meta = &mut v["metadata"];
    meta["uid"] = json!(format!("{:08x}-1b2c-4d3e-8f90-{:012x}", i, i * 7919));
    meta["resourceVersion"] = json!((100_000 + i).to_string());
    meta["creationTimestamp"] = json!("2026-06-01T10:00:00Z");
    meta["managedFields"] = json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": api_version,
         "time": "2026-06-01T10:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                      "f:labels": {".": {}, "f:app": {}, "f:team": {}}},
                      "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                      "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": api_version,
         "time": "2026-06-01T10:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}}}}}
    ]);
    match kind.as_str() {
        "Pod" => {
            if let Some(m) = meta.as_object_mut() {
                if i.is_multiple_of(2) {
                    m.remove("ownerReferences");
                }
                m.entry("generateName")
                    .or_insert(json!(format!("app-{:x}-", i % 4096)));
            }
            serve_pod_spec(&mut v["spec"], i, true);
            v["status"] = pod_status(&v["spec"], i);
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let annotations = &mut v["metadata"]["annotations"];
            if annotations.is_null() {
                *annotations = json!({});
            }
            annotations["deployment.kubernetes.io/revision"] = json!("1");
            v["metadata"]["generation"] = json!(1);
            if kind == "Deployment" {
                let spec = &mut v["spec"];
                spec["progressDeadlineSeconds"] = json!(600);
                spec["revisionHistoryLimit"] = json!(10);
                spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            }
            if v["spec"]["template"]["spec"].is_object() {
                serve_pod_spec(&mut v["spec"]["template"]["spec"], i, false);
            }
            let replicas = v["spec"]["replicas"].as_i64().unwrap_or(1);
            v["status"] = json!({
                "availableReplicas": replicas, "readyReplicas": replicas, "replicas": replicas,
                "updatedReplicas": replicas, "observedGeneration": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability.",
                     "lastTransitionTime": "2026-06-01T10:00:08Z", "lastUpdateTime": "2026-06-01T10:00:08Z"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": "ReplicaSet has successfully progressed.",
                     "lastTransitionTime": "2026-06-01T10:00:00Z", "lastUpdateTime": "2026-06-01T10:00:08Z"}
                ]
            });
        }
        _ => {}
    }
    v
}

/// Every object of `objects` as served, wrapped in list pages of up to `page` items per kind, as
/// a paginated LIST returns them (`{"kind": "PodList", "items": [...], "metadata": {...}}`).
/// Returns `(field name of the kind in Objects, page JSON)` pairs.
pub fn list_pages(objects: &Objects, page: usize) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut i = 0usize;
    macro_rules! pages {
        ($($field:ident: $ty:ty,)*) => {
            $(
                let items: Vec<Value> = objects.$field.iter().map(|o| {
                    i += 1;
                    as_served(serde_json::to_value(o.as_ref()).expect("serialisable"), i)
                }).collect();
                for (n, chunk) in items.chunks(page.max(1)).enumerate() {
                    let list = json!({
                        "kind": format!("{}List", <$ty as k8s_openapi::Resource>::KIND),
                        "apiVersion": <$ty as k8s_openapi::Resource>::API_VERSION,
                        "metadata": {"resourceVersion": "200000", "continue": format!("page-{}", n + 1)},
                        "items": chunk,
                    });
                    out.push((stringify!($field), list.to_string()));
                }
            )*
        };
    }
    crate::for_each_core_kind!(pages);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_pods_carry_defaults_status_and_half_lose_their_owner() {
        let objects = crate::synth::generate(2_000, 1);
        let pods: Vec<Value> = objects
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| as_served(serde_json::to_value(p.as_ref()).unwrap(), i))
            .collect();
        let bare = pods
            .iter()
            .filter(|p| p["metadata"].get("ownerReferences").is_none())
            .count();
        assert!(bare > 0 && bare < pods.len(), "{bare} of {}", pods.len());
        let p = &pods[0];
        assert_eq!(p["status"]["conditions"].as_array().map(Vec::len), Some(5));
        assert!(p["spec"]["volumes"][0]["projected"].is_object());
        assert!(p["metadata"]["managedFields"][0]["fieldsV1"].is_object());
        // What the API server serves decodes as the typed object.
        let typed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(p.clone()).unwrap();
        assert_eq!(typed.spec.unwrap().tolerations.map(|t| t.len()), Some(2));
    }

    #[test]
    fn list_pages_hold_every_object_once() {
        let objects = crate::synth::generate(2_000, 1);
        let pages = list_pages(&objects, 100);
        let mut items = 0;
        for (_, page) in &pages {
            let v: Value = serde_json::from_str(page).unwrap();
            assert!(v["kind"].as_str().unwrap().ends_with("List"));
            items += v["items"].as_array().unwrap().len();
        }
        let core: usize = objects.len()
            - objects.velero_backups.as_ref().map_or(0, Vec::len)
            - objects.velero_schedules.as_ref().map_or(0, Vec::len)
            - objects.velero_restores.as_ref().map_or(0, Vec::len)
            - objects.dynamic.len()
            - objects.admission_policies.as_ref().map_or(0, Vec::len)
            - objects
                .admission_policy_bindings
                .as_ref()
                .map_or(0, Vec::len);
        assert_eq!(items, core);
    }
}
