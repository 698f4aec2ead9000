//! Evidence over synthetic clusters of 10k and 100k objects: bundle build (canonical JSON of
//! results, access review and inventory with per-object digests), then hash + sign + write to
//! the local filesystem store; and verification of a chain. Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use soc2_core::crd::EvidenceInclude;
use soc2_core::engine::evaluate;
use soc2_core::snapshot::ClusterSnapshot;
use soc2_core::synth::generate;
use soc2_evidence::verify::{VerifyOptions, verify};
use soc2_evidence::{Bundle, RetryPolicy, Schedule, SigningKey, Store, Writer, WriterConfig};
use soc2_operator::cli::baseline_controls;

fn config(key: &SigningKey) -> WriterConfig {
    WriterConfig {
        cluster: "bench".into(),
        policy: "hourly".into(),
        schedule: Schedule::parse(None, Some("1h")).expect("interval"),
        signing_key: Some(key.clone()),
        retry: RetryPolicy::default(),
        include: EvidenceInclude::default(),
        retention: None,
        oscal: false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let controls = baseline_controls().expect("baseline parses");
    let start: Timestamp = "2026-06-15T00:00:00Z".parse().expect("time");
    let key = SigningKey::generate().expect("key");
    let include = EvidenceInclude::default();
    let mut group = c.benchmark_group("evidence");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in [10_000usize, 100_000] {
        let snapshot = ClusterSnapshot::new(generate(n, 42));
        let evaluation = evaluate(&controls, &snapshot, start);
        group.throughput(Throughput::Elements(snapshot.len() as u64));

        group.bench_with_input(BenchmarkId::new("bundle_build", n), &snapshot, |b, s| {
            b.iter(|| black_box(Bundle::build(&evaluation, s, &include).expect("bundle")))
        });

        // Build + hash + sign + write, one new snapshot per iteration in one chain.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::from_url(&format!("file://{}", dir.path().display())).expect("store");
        let mut writer = rt
            .block_on(Writer::open(store.clone(), config(&key)))
            .expect("writer");
        let mut at = start;
        let mut written_bytes = 0;
        group.bench_with_input(
            BenchmarkId::new("snapshot_write_local", n),
            &snapshot,
            |b, s| {
                b.iter_custom(|iters| {
                    let begin = Instant::now();
                    for _ in 0..iters {
                        at = at.checked_add(SignedDuration::from_hours(1)).expect("time");
                        let w = rt
                            .block_on(writer.write(&evaluation, s, at))
                            .expect("write");
                        written_bytes = w.bytes;
                    }
                    begin.elapsed()
                })
            },
        );
        eprintln!("evidence/{n}: {written_bytes} bytes per snapshot");

        // Verify a chain of 5 snapshots of this size (every document read and hashed).
        let vdir = tempfile::tempdir().expect("tempdir");
        let vstore = Store::from_url(&format!("file://{}", vdir.path().display())).expect("store");
        let mut w = rt
            .block_on(Writer::open(vstore.clone(), config(&key)))
            .expect("writer");
        for i in 1..=5 {
            let t = start
                .checked_add(SignedDuration::from_hours(i))
                .expect("time");
            rt.block_on(w.write(&evaluation, &snapshot, t))
                .expect("write");
        }
        let mut options = VerifyOptions::all(
            start
                .checked_add(SignedDuration::from_hours(6))
                .expect("time"),
        );
        options.public_key = Some(key.public());
        group.throughput(Throughput::Elements(5));
        group.bench_with_input(BenchmarkId::new("verify_chain_of_5", n), &vstore, |b, s| {
            b.iter(|| {
                let r = rt.block_on(verify(s, &options)).expect("verify");
                assert!(r.ok());
                black_box(r)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
