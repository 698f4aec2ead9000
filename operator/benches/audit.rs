//! Snapshot build plus full baseline evaluation over synthetic clusters of 10k and 100k
//! objects. Results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use soc2_core::checks::{Ctx, ScopeFilter, catalog};
use soc2_core::engine::evaluate;
use soc2_core::snapshot::ClusterSnapshot;
use soc2_core::synth::{add_ecosystem, generate};
use soc2_operator::cli::baseline_controls;

fn bench(c: &mut Criterion) {
    let controls = baseline_controls().expect("baseline parses");
    let now: jiff::Timestamp = "2026-06-15T12:00:00Z".parse().expect("time");
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in [10_000usize, 100_000] {
        let objects = generate(n, 42);
        group.throughput(Throughput::Elements(objects.len() as u64));
        group.bench_with_input(BenchmarkId::new("snapshot_build", n), &objects, |b, o| {
            b.iter_batched(
                || o.clone(),
                |o| black_box(ClusterSnapshot::new(o)),
                criterion::BatchSize::LargeInput,
            )
        });
        let snapshot = ClusterSnapshot::new(objects.clone());
        group.bench_with_input(
            BenchmarkId::new("evaluate_baseline", n),
            &snapshot,
            |b, s| b.iter(|| black_box(evaluate(&controls, s, now))),
        );
        group.bench_with_input(
            BenchmarkId::new("build_and_evaluate", n),
            &objects,
            |b, o| {
                b.iter_batched(
                    || o.clone(),
                    |o| black_box(evaluate(&controls, &ClusterSnapshot::new(o), now)),
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

/// Each catalog check alone over the 100k-object cluster with the ecosystem sources (10k
/// VulnerabilityReports, Certificates, Applications, PrometheusRules), to find the expensive
/// ones.
fn per_check(c: &mut Criterion) {
    let now: jiff::Timestamp = "2026-06-15T12:00:00Z".parse().expect("time");
    let mut objects = generate(100_000, 42);
    add_ecosystem(&mut objects, 10_000, 42);
    let snapshot = ClusterSnapshot::new(objects);
    let scope = ScopeFilter::all().excluding(["kube-system"]);
    let ctx = Ctx {
        snapshot: &snapshot,
        scope: &scope,
        now,
        control: "",
        attestations: &[],
        activity: None,
    };
    let mut group = c.benchmark_group("check_100k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for check in catalog().iter() {
        group.bench_function(check.meta().id, |b| {
            b.iter(|| black_box(check.run(&ctx, None)))
        });
    }
    group.finish();
}

/// The baseline over 100k objects plus 10k Trivy VulnerabilityReports (about twenty
/// vulnerabilities each), a cert-manager Certificate per Ingress TLS Secret, and an Argo CD
/// Application and a PrometheusRule per namespace with one Alertmanager.
fn with_sources(c: &mut Criterion) {
    let controls = baseline_controls().expect("baseline parses");
    let now: jiff::Timestamp = "2026-06-15T12:00:00Z".parse().expect("time");
    let mut objects = generate(100_000, 42);
    add_ecosystem(&mut objects, 10_000, 42);
    let snapshot = ClusterSnapshot::new(objects);
    let mut group = c.benchmark_group("audit_sources");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("evaluate_baseline_100k_plus_10k_reports", |b| {
        b.iter(|| black_box(evaluate(&controls, &snapshot, now)))
    });
    group.finish();
}

criterion_group!(benches, bench, per_check, with_sources);
criterion_main!(benches);
