//! Memory of the watch caches holding a large synthetic cluster, and the time from a change to
//! an updated status (in process).
//!
//! `cargo run --release -p soc2-operator --example cache_memory -- [objects] [seed]`
//!
//! The parent generates `soc2_core::synth::generate(n, seed)` and writes it as JSON lines
//! (one watch event per object); a fresh child process then decodes each line the way a watch
//! stream does, trims it (`snapshot::trim`, as the caches do) and feeds it to a `reflector::store::Writer`
//! through watcher events. So the child's RSS is what an operator pays for its caches, not
//! what the generator allocated. The child then builds a snapshot, evaluates the baseline
//! controls, applies one change and measures change → debounce → snapshot → evaluate →
//! status patch computed.

use std::io::{BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::{CronJob, Job},
    core::v1::{
        ConfigMap, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
        ServiceAccount,
    },
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    storage::v1::StorageClass,
};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use soc2_core::snapshot::{ClusterSnapshot, Objects, trim};
use soc2_operator::controller::{debounce, status};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--load") {
        load(&args[2]);
        return;
    }
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let objects = soc2_core::synth::generate(n, seed);
    let path = std::env::temp_dir().join(format!("soc2-cache-memory-{n}-{seed}.jsonl"));
    {
        let mut out = BufWriter::new(std::fs::File::create(&path).expect("temp file"));
        macro_rules! dump {
            ($($field:ident: $ty:ty,)*) => {
                $( for o in &objects.$field {
                    writeln!(out, "{}\t{}", stringify!($field), serde_json::to_string(o.as_ref()).unwrap()).unwrap();
                } )*
            };
        }
        soc2_core::for_each_core_kind!(dump);
        out.flush().unwrap();
    }
    println!(
        "generated {} objects (core kinds: the caches under test)",
        objects.len()
    );
    drop(objects);
    let status = std::process::Command::new(&args[0])
        .arg("--load")
        .arg(&path)
        .status()
        .expect("child");
    let _ = std::fs::remove_file(&path);
    std::process::exit(status.code().unwrap_or(1));
}

fn load(path: &str) {
    let base = rss_mib();
    macro_rules! writers {
        ($($field:ident: $ty:ty,)*) => {
            #[allow(non_snake_case)]
            struct Writers { $( $field: Writer<$ty>, )* }
            let mut w = Writers { $( $field: Writer::default(), )* };
            $( w.$field.apply_watcher_event(&Event::Init); )*
            let file = std::io::BufReader::new(std::fs::File::open(path).expect("input"));
            let mut count = 0usize;
            let start = Instant::now();
            let mut per_kind: Vec<(String, usize, f64)> = Vec::new();
            let mut last_rss = rss_mib();
            for line in file.lines() {
                let line = line.unwrap();
                let (kind, json) = line.split_once('\t').unwrap();
                if per_kind.last().map(|(k, _, _)| k.as_str()) != Some(kind) {
                    let now = rss_mib();
                    if let Some(last) = per_kind.last_mut() { last.2 = now - last_rss; }
                    last_rss = now;
                    per_kind.push((kind.to_string(), 0, 0.0));
                }
                if let Some(last) = per_kind.last_mut() { last.1 += 1; }
                match kind {
                    $( stringify!($field) => {
                        let mut obj: $ty = serde_json::from_str(json).unwrap();
                        trim(&mut obj);
                        w.$field.apply_watcher_event(&Event::InitApply(obj));
                    } )*
                    other => panic!("unknown kind {other}"),
                }
                count += 1;
            }
            $( w.$field.apply_watcher_event(&Event::InitDone); )*
            let loaded = start.elapsed();
            if let Some(last) = per_kind.last_mut() { last.2 = rss_mib() - last_rss; }
            for (kind, n, mib) in &per_kind {
                if *n > 100 {
                    println!("  {kind:<24} {n:>7} objects  +{mib:>6.1} MiB  ({:.0} B/object)", mib * 1048576.0 / *n as f64);
                }
            }
            let stores_rss = rss_mib();
            println!("cached {count} objects in {:.2?}", loaded);
            println!("RSS: {:.1} MiB before, {:.1} MiB with the caches filled (+{:.1} MiB)", base, stores_rss, stores_rss - base);

            let readers = ( $( w.$field.as_reader(), )* );
            let objects = || {
                let ( $( $field, )* ) = &readers;
                Objects { $( $field: $field.state(), )* ..Objects::default() }
            };

            let controls = soc2_operator::cli::baseline_controls().expect("baseline");
            let t = Instant::now();
            let snapshot = ClusterSnapshot::new(objects());
            let build = t.elapsed();
            let t = Instant::now();
            let evaluation = soc2_core::engine::evaluate(&controls, &snapshot, jiff::Timestamp::now());
            let eval = t.elapsed();
            let peak = rss_mib();
            println!("snapshot of {} objects built in {:.2?}; {} controls evaluated in {:.2?}", snapshot.len(), build, evaluation.controls.len(), eval);
            println!("RSS with caches + snapshot + evaluation: {:.1} MiB", peak);
            let statuses: Vec<_> = evaluation.controls.iter().map(|r| status::desired(r, None, &Default::default(), jiff::Timestamp::now())).collect();
            drop(snapshot);

            // One change: a namespace gets a label. Watch event -> store -> tick -> debounce ->
            // snapshot -> evaluate -> status patch computed.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
            let t0 = Instant::now();
            let mut ns: Namespace = (*w.namespaces.as_reader().state()[0]).clone();
            ns.metadata.labels.get_or_insert_default().insert("changed".into(), "yes".into());
            trim(&mut ns);
            w.namespaces.apply_watcher_event(&Event::Apply(ns));
            tx.unbounded_send(()).unwrap();
            let debounced_at = rt.block_on(async {
                use futures::StreamExt;
                let s = debounce::debounced(rx, debounce::QUIET, debounce::MAX_DELAY);
                futures::pin_mut!(s);
                s.next().await;
                Instant::now()
            });
            let snapshot = ClusterSnapshot::new(objects());
            let evaluation = soc2_core::engine::evaluate(&controls, &snapshot, jiff::Timestamp::now());
            let mut writes = 0;
            for (r, prev) in evaluation.controls.iter().zip(&statuses) {
                let desired = status::desired(r, Some(prev), &Default::default(), jiff::Timestamp::now());
                if status::needs_write(Some(prev), &desired) {
                    writes += 1;
                    let _body = status::apply_body(&desired);
                }
            }
            let total = t0.elapsed();
            let work = total - debounced_at.duration_since(t0);
            println!(
                "change -> status computed: {:.2?} total ({:.2?} debounce quiet period + {:.2?} snapshot/evaluate/status; {} status write(s) needed)",
                total, debounced_at.duration_since(t0), work, writes
            );
            let _ = Duration::ZERO;
        };
    }
    soc2_core::for_each_core_kind!(writers);
}
