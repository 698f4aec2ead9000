//! Memory of the watch caches holding a large synthetic cluster as a real API server serves it,
//! and the time from a change to an updated status (in process).
//!
//! `cargo run --profile bench -p soc2-operator --example cache_memory -- [objects] [seed]`
//!
//! The parent generates `soc2_core::synth::generate(n, seed)`, dresses every object as an API
//! server serves it (`synth::served`: managedFields with fieldsV1, defaults, status, pods with
//! and without controller owners) and writes the result as LIST pages of 500 items, one page
//! per line. A fresh child process then decodes each page as `kube::core::ObjectList<K>` (what
//! the watcher's paginated LIST decodes), trims each item (`snapshot::trim`, the caches'
//! `.modify()` step) and feeds it to a `reflector::store::Writer` as `InitApply`. So the child's
//! RSS is what an operator pays for its caches, not what the generator allocated. The child then
//! builds a snapshot, evaluates the baseline controls, applies one change and measures change →
//! debounce → snapshot → evaluate → status patch computed.

use std::io::{BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use soc2_core::snapshot::kinds::*;
use soc2_core::snapshot::{ClusterSnapshot, Objects, trim};
use soc2_operator::controller::{debounce, status};

/// The operator binary's allocator (mimalloc), wrapped to count the bytes alive, so the
/// figures are what the operator pays and show how much of the RSS is live data.
struct Counting;
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_mib() -> f64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
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
    let pages = soc2_core::synth::served::list_pages(&objects, 500);
    let mut bytes = 0usize;
    {
        let mut out = BufWriter::new(std::fs::File::create(&path).expect("temp file"));
        for (field, page) in &pages {
            bytes += page.len();
            writeln!(out, "{field}\t{page}").unwrap();
        }
        out.flush().unwrap();
    }
    println!(
        "{} LIST pages, {:.1} MB of JSON as served",
        pages.len(),
        bytes as f64 / 1e6
    );
    drop(pages);
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
            let mut last_rss = live_mib();
            for line in file.lines() {
                let line = line.unwrap();
                let (kind, json) = line.split_once('\t').unwrap();
                if per_kind.last().map(|(k, _, _)| k.as_str()) != Some(kind) {
                    let now = live_mib();
                    if let Some(last) = per_kind.last_mut() { last.2 = now - last_rss; }
                    last_rss = now;
                    per_kind.push((kind.to_string(), 0, 0.0));
                }
                match kind {
                    $( stringify!($field) => {
                        let page: kube::core::ObjectList<$ty> = serde_json::from_str(json).unwrap();
                        for mut obj in page.items {
                            trim(&mut obj);
                            w.$field.apply_watcher_event(&Event::InitApply(obj));
                            count += 1;
                            if let Some(last) = per_kind.last_mut() { last.1 += 1; }
                        }
                    } )*
                    other => panic!("unknown kind {other}"),
                }
            }
            $( w.$field.apply_watcher_event(&Event::InitDone); )*
            let loaded = start.elapsed();
            if let Some(last) = per_kind.last_mut() { last.2 = live_mib() - last_rss; }
            for (kind, n, mib) in &per_kind {
                if *n > 100 {
                    println!("  {kind:<24} {n:>7} objects  +{mib:>6.1} MiB alive  ({:.0} B/object)", mib * 1048576.0 / *n as f64);
                }
            }
            let stores_rss = rss_mib();
            println!("cached {count} objects in {:.2?}", loaded);
            println!("RSS: {:.1} MiB before, {:.1} MiB with the caches filled (+{:.1} MiB), peak {:.1} MiB while listing; {:.1} MiB allocated and alive", base, stores_rss, stores_rss - base, peak_rss_mib(), live_mib());

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
