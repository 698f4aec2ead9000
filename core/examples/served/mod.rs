//! A synthetic manifests folder shaped like what an API server serves, shared by the
//! `manifests` example (which writes and times 100k objects) and `tests/manifests_fast_path.rs`
//! (which reads a few hundred through both YAML readers).
//!
//! Each object of `synth::generate(objects, 1)` is dressed as a real API server serves it
//! (`soc2_core::synth::served`: `managedFields` with `fieldsV1` trees, uid, defaults, full pod
//! status, half the pods without a controller owner), or kept plain. Objects are spread
//! round-robin over multi-document YAML files in 100 folders.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;

use soc2_core::synth::served::{as_served, values};

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
