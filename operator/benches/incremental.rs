//! The cost of one changed object at 100k objects: applying it to the snapshot and the
//! incremental evaluation of the baseline, per kind, against the full path (rebuild the
//! snapshot, evaluate everything). Results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kube::Resource;
use soc2_core::engine::{Incremental, evaluate};
use soc2_core::snapshot::{ClusterSnapshot, KindId, ObjectChange};
use soc2_core::synth::generate;
use soc2_operator::cli::baseline_controls;

/// Two versions of one object (a label flips between them), as watch events would bring.
fn versions<K: Resource + Clone + Send + Sync + 'static>(obj: &Arc<K>) -> [ObjectChange; 2] {
    ["a", "b"].map(|v| {
        let mut o = K::clone(obj);
        o.meta_mut()
            .labels
            .get_or_insert_default()
            .insert("bench.soc2.evidence.dev/flip".into(), v.into());
        ObjectChange::upsert(Arc::new(o))
    })
}

fn bench(c: &mut Criterion) {
    let controls = baseline_controls().expect("baseline parses");
    let now: jiff::Timestamp = "2026-06-15T12:00:00Z".parse().expect("time");
    let objects = generate(100_000, 42);
    let n = objects.len();
    let base = ClusterSnapshot::new(objects.clone());
    let mid = |len: usize| len / 2;
    let changes: Vec<(&str, KindId, [ObjectChange; 2])> = vec![
        (
            "Pod",
            KindId::Pod,
            versions(&objects.pods[mid(objects.pods.len())]),
        ),
        (
            "RoleBinding",
            KindId::RoleBinding,
            versions(&objects.role_bindings[mid(objects.role_bindings.len())]),
        ),
        (
            "Namespace",
            KindId::Namespace,
            versions(&objects.namespaces[mid(objects.namespaces.len())]),
        ),
        (
            "NetworkPolicy",
            KindId::NetworkPolicy,
            versions(&objects.network_policies[mid(objects.network_policies.len())]),
        ),
        (
            "ConfigMap",
            KindId::ConfigMap,
            versions(&objects.config_maps[mid(objects.config_maps.len())]),
        ),
    ];

    let mut group = c.benchmark_group("change_100k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, kind, versions) in &changes {
        let mut snapshot = base.clone();
        let incremental = Incremental::new();
        incremental.evaluate(&controls, &snapshot, None, now);
        let (ran0, reused0) = incremental.counts();
        snapshot.apply(*kind, versions[0].clone()).expect("kind");
        incremental.evaluate(&controls, &snapshot, None, now);
        let (ran, reused) = incremental.counts();
        eprintln!(
            "{name} changed ({n} objects): {} check runs, {} outcomes reused",
            ran - ran0,
            reused - reused0
        );
        let mut flip = 0;
        group.bench_function(BenchmarkId::new("apply", name), |b| {
            b.iter(|| {
                flip ^= 1;
                snapshot.apply(*kind, versions[flip].clone()).expect("kind")
            })
        });
        group.bench_function(BenchmarkId::new("apply_shared", name), |b| {
            b.iter_batched(
                || Arc::new(snapshot.clone()),
                |mut shared| {
                    let keep = shared.clone();
                    flip ^= 1;
                    Arc::make_mut(&mut shared)
                        .apply(*kind, versions[flip].clone())
                        .expect("kind");
                    (keep, shared)
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.bench_function(BenchmarkId::new("apply_and_evaluate", name), |b| {
            b.iter(|| {
                flip ^= 1;
                snapshot.apply(*kind, versions[flip].clone()).expect("kind");
                black_box(incremental.evaluate(&controls, &snapshot, None, now))
            })
        });
    }
    group.bench_function("full_rebuild_and_evaluate", |b| {
        b.iter_batched(
            || objects.clone(),
            |o| black_box(evaluate(&controls, &ClusterSnapshot::new(o), now)),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
