//! A synthetic manifests folder shaped like what an API server serves, shared by the
//! `manifests` example (which writes and times 100k objects) and `tests/manifests_fast_path.rs`
//! (which reads a few hundred through both YAML readers).
//!
//! Each object of `synth::generate(objects, 1)` is made to look like what `kubectl get -o
//! yaml` returns from a real API server: `managedFields` (two managers with a `fieldsV1` tree),
//! a `uid`, `resourceVersion` and `creationTimestamp`; pods get a full `status` (conditions,
//! IPs, container statuses); half the pods lose their controller owner (bare pods, as the
//! issue's cluster had none). Objects are spread round-robin over multi-document YAML files in
//! 100 folders.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use soc2_core::snapshot::Objects;

/// Every typed and Velero object of `objects` as JSON.
pub fn values(objects: &Objects) -> Vec<Value> {
    let mut out = Vec::new();
    macro_rules! dump {
        ($($field:ident: $ty:ty,)*) => {
            $( for o in &objects.$field {
                out.push(serde_json::to_value(o.as_ref()).expect("serialisable"));
            } )*
        };
    }
    soc2_core::for_each_core_kind!(dump);
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

/// What an API server adds to every object.
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
    if kind == "Pod" {
        if let Some(m) = meta.as_object_mut().filter(|_| i.is_multiple_of(2)) {
            m.remove("ownerReferences");
        }
        let containers: Vec<Value> = v["spec"]["containers"]
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
        v["status"] = json!({
            "phase": "Running", "qosClass": "Burstable",
            "hostIP": "10.0.0.12", "hostIPs": [{"ip": "10.0.0.12"}],
            "podIP": format!("10.244.{}.{}", (i / 250) % 250, i % 250),
            "podIPs": [{"ip": format!("10.244.{}.{}", (i / 250) % 250, i % 250)}],
            "startTime": "2026-06-01T10:00:05Z",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-06-01T10:00:06Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-06-01T10:00:05Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-06-01T10:00:08Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-06-01T10:00:08Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-06-01T10:00:05Z"}
            ],
            "containerStatuses": containers
        });
    }
    v
}

/// How objects are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As an API server serves them ([`as_served`]): what `kubectl get -o yaml` exports.
    Served,
    /// As `synth::generate` makes them: no `managedFields`, no pod status, like manifests kept
    /// in Git.
    Plain,
}

/// Writes `synth::generate(n, 1)` in `shape` into `files` YAML files below `dir`; returns the
/// object count and the bytes written.
pub fn write(dir: &Path, n: usize, files: usize, shape: Shape) -> (usize, usize) {
    std::fs::create_dir_all(dir).expect("create DIR");
    let objects = soc2_core::synth::generate(n, 1);
    let all = values(&objects);
    let files = files.max(1);
    let mut buckets: Vec<String> = vec![String::new(); files];
    for (i, v) in all.into_iter().enumerate() {
        let v = match shape {
            Shape::Served => as_served(v, i),
            Shape::Plain => v,
        };
        let text = serde_saphyr::to_string(&v).expect("yaml");
        let b = &mut buckets[i % files];
        b.push_str("---\n");
        b.push_str(&text);
    }
    let mut bytes = 0;
    for (i, b) in buckets.iter().enumerate() {
        let sub = dir.join(format!("ns-{:03}", i % 100));
        std::fs::create_dir_all(&sub).expect("create subdir");
        let mut f = std::fs::File::create(sub.join(format!("part-{i:05}.yaml"))).expect("file");
        f.write_all(b.as_bytes()).expect("write");
        bytes += b.len();
    }
    (objects.len(), bytes)
}
