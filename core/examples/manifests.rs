//! A synthetic manifests folder shaped like what an API server serves, and the time and memory
//! it takes to load it (`audit --manifests` without the evaluation).
//!
//! ```text
//! cargo run --release -p soc2-core --example manifests -- write DIR [objects] [files]
//! cargo run --release -p soc2-core --example manifests -- load DIR
//! ```
//!
//! `write` takes `synth::generate(objects, 1)` and makes each object look like what `kubectl get
//! -o yaml` returns from a real API server: every object gets `managedFields` (two managers with
//! a `fieldsV1` tree), a `uid`, `resourceVersion` and `creationTimestamp`; pods get a full
//! `status` (conditions, IPs, container statuses); half the pods lose their controller owner
//! (bare pods, as the issue's cluster had none). Objects are spread round-robin over `files`
//! multi-document YAML files.
//!
//! `load` reads the folder with `snapshot::manifests::load` and prints objects, wall time, CPU
//! time and peak RSS; `parse` only parses the YAML (one thread), to show where the time goes.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use soc2_core::snapshot::{Objects, manifests};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") => {
            let dir = Path::new(args.get(2).expect("DIR"));
            let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            let files = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5_000);
            write(dir, n, files);
        }
        Some("load") => load(Path::new(args.get(2).expect("DIR"))),
        Some("parse") => parse(Path::new(args.get(2).expect("DIR"))),
        _ => eprintln!("usage: manifests write DIR [objects] [files] | manifests load|parse DIR"),
    }
}

fn values(objects: &Objects) -> Vec<Value> {
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
fn as_served(mut v: Value, i: usize) -> Value {
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

fn write(dir: &Path, n: usize, files: usize) {
    std::fs::create_dir_all(dir).expect("create DIR");
    let objects = soc2_core::synth::generate(n, 1);
    let all = values(&objects);
    let files = files.max(1);
    let mut buckets: Vec<String> = vec![String::new(); files];
    for (i, v) in all.into_iter().enumerate() {
        let text = serde_saphyr::to_string(&as_served(v, i)).expect("yaml");
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
    println!(
        "wrote {} objects in {files} files, {:.1} MB",
        objects.len(),
        bytes as f64 / 1e6
    );
}

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn load(dir: &Path) {
    let (t, c) = (Instant::now(), cpu_seconds());
    let report = manifests::load(dir).expect("folder loads");
    println!(
        "loaded {} objects from {} files: {:.2} s wall, {:.2} s CPU, peak RSS {:.0} MiB",
        report.objects.len(),
        report.files,
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        peak_rss_mib()
    );
}

fn parse(dir: &Path) {
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut docs = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(
                std::fs::read_dir(&p)
                    .expect("dir")
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            let text = std::fs::read_to_string(&p).expect("file");
            docs += manifests::parse_documents(&p, &text).expect("parses").len();
        }
    }
    println!(
        "parsed {docs} documents: {:.2} s wall, {:.2} s CPU, peak RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        peak_rss_mib()
    );
}
