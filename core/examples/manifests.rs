//! Writes a synthetic manifests folder ([`served`]) and measures loading it (`audit
//! --manifests` without the evaluation).
//!
//! ```text
//! cargo run --profile bench -p soc2-core --example manifests -- write DIR [objects] [files] [served|plain]
//! cargo run --profile bench -p soc2-core --example manifests -- load|load-reference DIR
//! cargo run --profile bench -p soc2-core --example manifests -- parse|parse-reference DIR
//! ```
//!
//! `write` takes `synth::generate(objects, 1)`, as an API server serves it (`served`, the
//! default: `managedFields`, pod status) or as written in Git (`plain`).
//!
//! `load` reads the folder with `snapshot::manifests::load` and prints objects, wall time, CPU
//! time and peak RSS; `load-reference` does the same with the loader as it was before the fast
//! YAML reader (serde-saphyr only, one thread). `parse` and `parse-reference` only parse the
//! YAML into values (one thread, fast reader or serde-saphyr), to show where the time goes.

use std::path::Path;
use std::time::Instant;

use soc2_core::snapshot::manifests;

mod served;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") => {
            let dir = Path::new(args.get(2).expect("DIR"));
            let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            let files = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5_000);
            let shape = match args.get(5).map(String::as_str) {
                Some("plain") => served::Shape::Plain,
                _ => served::Shape::Served,
            };
            let (objects, bytes) = served::write(dir, n, files, shape);
            println!(
                "wrote {objects} objects in {files} files, {:.1} MB",
                bytes as f64 / 1e6
            );
        }
        Some("load") => load(Path::new(args.get(2).expect("DIR")), manifests::load),
        Some("load-reference") => load(Path::new(args.get(2).expect("DIR")), |dir| {
            manifests::load_reference(dir, manifests::Trim::Yes)
        }),
        Some("parse") => parse(
            Path::new(args.get(2).expect("DIR")),
            manifests::parse_documents,
        ),
        Some("parse-reference") => parse(
            Path::new(args.get(2).expect("DIR")),
            manifests::parse_documents_reference,
        ),
        _ => eprintln!(
            "usage: manifests write DIR [objects] [files] [served|plain] | manifests load|load-reference|parse|parse-reference DIR"
        ),
    }
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

type Loader = fn(&Path) -> soc2_core::Result<manifests::LoadReport>;
type Parser = fn(&Path, &str) -> soc2_core::Result<Vec<serde_json::Value>>;

fn load(dir: &Path, loader: Loader) {
    let (t, c) = (Instant::now(), cpu_seconds());
    let report = loader(dir).expect("folder loads");
    println!(
        "loaded {} objects from {} files: {:.2} s wall, {:.2} s CPU, peak RSS {:.0} MiB",
        report.objects.len(),
        report.files,
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        peak_rss_mib()
    );
}

fn parse(dir: &Path, parser: Parser) {
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
            docs += parser(&p, &text).expect("parses").len();
        }
    }
    println!(
        "parsed {docs} documents: {:.2} s wall, {:.2} s CPU, peak RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        peak_rss_mib()
    );
}
