//! Builds a synthetic cluster, snapshots and evaluates it once, and prints time and memory.
//! `cargo run --profile bench --example scale -- 100000`

use std::time::Instant;

use soc2_core::engine::evaluate;
use soc2_core::snapshot::ClusterSnapshot;
use soc2_core::synth::generate;
use soc2_operator::cli::baseline_controls;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let base = rss_kib("VmRSS:");
    let objects = generate(n, 42);
    let count = objects.len();
    let after_objects = rss_kib("VmRSS:");
    let controls = baseline_controls().expect("baseline");
    let now = jiff::Timestamp::now();
    let t = Instant::now();
    let snapshot = ClusterSnapshot::new(objects);
    let built = t.elapsed();
    let t = Instant::now();
    let evaluation = evaluate(&controls, &snapshot, now);
    let evaluated = t.elapsed();
    let failing: usize = evaluation.controls.iter().map(|c| c.failing).sum();
    println!(
        "objects={count} snapshot_build={built:?} evaluate={evaluated:?} findings={failing} \
         rss_objects_mib={:.1} rss_total_mib={:.1} peak_mib={:.1}",
        (after_objects - base) as f64 / 1024.0,
        rss_kib("VmRSS:") as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
    );
}
