//! Memory of the watch caches holding a large synthetic cluster as a real API server serves it,
//! and the time from a change to an updated status (in process).
//!
//! `cargo run --profile bench -p soc2-operator --example cache_memory -- [objects] [seed]`
//!
//! The child process runs with the operator image's mimalloc settings
//! (`soc2_operator::MIMALLOC_ENV`) unless they are set in the environment already.
//!
//! The parent generates `soc2_core::synth::generate(n, seed)`, dresses every object as an API
//! server serves it (`synth::served`: managedFields with fieldsV1, defaults, status, pods with
//! and without controller owners) and writes the result as LIST pages of 500 items, one page
//! per line. A fresh child process then decodes each page as `kube::core::ObjectList<K>` (what
//! the watcher's paginated LIST decodes) and feeds each item to the operator's cache path
//! (`controller::caches::admit`: the trim, then the store) as `InitApply`. So the child's
//! RSS is what an operator pays for its caches, not what the generator allocated. The child then
//! builds the snapshot and evaluates the baseline controls as the operator's first reconcile
//! does (RSS again: caches + snapshot + evaluation state), and times one changed object of each
//! of seven kinds through the operator's path: store, recorded change, snapshot updated in
//! place, incremental evaluation, status computed.

use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use kube::runtime::watcher::Event;
use soc2_core::engine::Incremental;
use soc2_core::snapshot::kinds::*;
use soc2_core::snapshot::{KindId, ObjectChange};
use soc2_operator::controller::caches::store::{Applied, Writer};
use soc2_operator::controller::caches::{CacheState, Stores, admit, updated_snapshot};
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
    // The child runs with the allocator settings of the image and the chart (unless they are
    // set here already, to compare).
    let mut child = std::process::Command::new(&args[0]);
    for (name, value) in soc2_operator::MIMALLOC_ENV {
        if std::env::var_os(name).is_none() {
            child.env(name, value);
        }
    }
    let settings: Vec<String> = soc2_operator::MIMALLOC_ENV
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}={}",
                std::env::var(name).unwrap_or(value.to_string())
            )
        })
        .collect();
    println!("allocator settings: {}", settings.join(" "));
    let status = child.arg("--load").arg(&path).status().expect("child");
    let _ = std::fs::remove_file(&path);
    std::process::exit(status.code().unwrap_or(1));
}

/// How many times each kind's object is changed.
const ROUNDS: usize = 7;

/// Changes the middle object of a store `ROUNDS` times (a label flips) through the cache path
/// and times each change with `round`.
macro_rules! flip {
    ($round:ident, $writer:expr, $label:literal, $kind:ident) => {{
        let objects = $writer.as_reader().state();
        let mid = objects.len() / 2;
        let original = (*objects[mid]).clone();
        drop(objects);
        $round($label, &mut |i| {
            let mut o = original.clone();
            o.metadata
                .labels
                .get_or_insert_default()
                .insert("bench.soc2.evidence.dev/flip".into(), (i % 2).to_string());
            let change = match admit(&mut $writer, Event::Apply(o)) {
                Applied::Upserted(obj) => ObjectChange::upsert(obj),
                other => panic!("an upsert, not {other:?}"),
            };
            (KindId::$kind, change)
        });
    }};
}

fn load(path: &str) {
    let base = rss_mib();
    macro_rules! writers {
        ($($field:ident: $ty:ty,)*) => {
            #[allow(non_snake_case)]
            struct Writers { $( $field: Writer<$ty>, )* }
            let mut w = Writers { $( $field: Writer::default(), )* };
            $( admit(&mut w.$field, Event::Init); )*
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
                        for obj in page.items {
                            admit(&mut w.$field, Event::InitApply(obj));
                            count += 1;
                            if let Some(last) = per_kind.last_mut() { last.1 += 1; }
                        }
                    } )*
                    other => panic!("unknown kind {other}"),
                }
            }
            $( admit(&mut w.$field, Event::InitDone); )*
            let loaded = start.elapsed();
            if let Some(last) = per_kind.last_mut() { last.2 = live_mib() - last_rss; }
            for (kind, n, mib) in &per_kind {
                if *n > 100 {
                    println!("  {kind:<24} {n:>7} objects  +{mib:>6.1} MiB alive  ({:.0} B/object)", mib * 1048576.0 / *n as f64);
                }
            }
            let stores_rss = rss_mib();
            let stores_live = live_mib();
            println!("cached {count} objects in {:.2?}", loaded);
            println!("RSS: {:.1} MiB before, {:.1} MiB with the caches filled (+{:.1} MiB), peak {:.1} MiB while listing; {:.1} MiB allocated and alive", base, stores_rss, stores_rss - base, peak_rss_mib(), live_mib());

            let stores = Stores {
                $( $field: w.$field.as_reader(), )*
                admission_policies: None,
                admission_policy_bindings: None,
                velero_backups: None,
                velero_schedules: None,
                velero_restores: None,
                dynamic: Default::default(),
            };
            let (tick_tx, _ticks) = tokio::sync::mpsc::unbounded_channel();
            let state = CacheState::new(1, tick_tx);

            // The operator's first reconcile: a snapshot rebuilt from the stores (sorted lists
            // sharing the stores' `Arc`s, and the indexes), every control evaluated, statuses.
            let controls = soc2_operator::cli::baseline_controls().expect("baseline");
            let incremental = Incremental::new();
            let t = Instant::now();
            let mut snapshot = updated_snapshot(&stores, &state, None);
            let build = t.elapsed();
            let with_snapshot = live_mib();
            let t = Instant::now();
            let evaluation = incremental.evaluate(&controls, &snapshot, None, jiff::Timestamp::now());
            let eval = t.elapsed();
            let mut statuses: Vec<_> = evaluation.controls.iter().map(|r| status::desired(r, None, &Default::default(), jiff::Timestamp::now())).collect();
            let findings: usize = evaluation.controls.iter().map(|c| c.checks.iter().map(|k| k.findings.len()).sum::<usize>()).sum();
            drop(evaluation);
            println!(
                "snapshot of {} objects built in {:.2?} (+{:.1} MiB alive); {} controls evaluated in {:.2?} ({} findings; the evaluation memo and the statuses +{:.1} MiB alive)",
                snapshot.len(), build, with_snapshot - stores_live, statuses.len(), eval, findings, live_mib() - with_snapshot
            );
            println!("RSS with caches + snapshot + evaluation memo + statuses (the operator's steady state): {:.1} MiB; {:.1} MiB alive", rss_mib(), live_mib());

            // One change of each kind, through the operator's path: watch event -> trim ->
            // store -> recorded change -> snapshot updated in place -> incremental evaluation
            // -> status computed. Each kind is changed `ROUNDS` times (a label flips); the
            // median is reported.
            let now = jiff::Timestamp::now();
            let mut round = |label: &str, apply: &mut dyn FnMut(usize) -> (KindId, ObjectChange)| {
                let mut times = Vec::new();
                let mut parts = [std::time::Duration::ZERO; 3];
                let (ran0, _) = incremental.counts();
                for i in 0..ROUNDS {
                    let t = Instant::now();
                    let (kind, change) = apply(i);
                    state.record(kind, change);
                    state.changed();
                    // Nothing else holds the previous snapshot (as in the operator between
                    // reconciles), so the change is applied in place.
                    let previous = std::mem::take(&mut snapshot);
                    snapshot = updated_snapshot(&stores, &state, Some(previous));
                    parts[0] += t.elapsed();
                    let te = Instant::now();
                    let evaluation = incremental.evaluate(&controls, &snapshot, None, now);
                    parts[1] += te.elapsed();
                    let ts = Instant::now();
                    for (r, prev) in evaluation.controls.iter().zip(statuses.iter_mut()) {
                        let desired = status::desired(r, Some(prev), &Default::default(), now);
                        if status::needs_write(Some(prev), &desired) {
                            let _body = status::apply_body(&desired);
                            *prev = desired;
                        }
                    }
                    parts[2] += ts.elapsed();
                    times.push(t.elapsed());
                }
                times.sort();
                let (ran1, _) = incremental.counts();
                let mean = |d: std::time::Duration| d / ROUNDS as u32;
                println!(
                    "  {label:<14} {:>9.2?} median, {:>9.2?} max  ({} check runs per change; mean: change to snapshot {:.2?}, evaluation {:.2?}, statuses {:.2?})",
                    times[ROUNDS / 2], times[ROUNDS - 1], (ran1 - ran0) / ROUNDS as u64, mean(parts[0]), mean(parts[1]), mean(parts[2])
                );
            };
            println!("one changed object -> status computed (apply, snapshot update, incremental evaluation, status), {ROUNDS} rounds:");
            flip!(round, w.pods, "Pod", Pod);
            flip!(round, w.deployments, "Deployment", Deployment);
            flip!(round, w.role_bindings, "RoleBinding", RoleBinding);
            flip!(round, w.namespaces, "Namespace", Namespace);
            flip!(round, w.network_policies, "NetworkPolicy", NetworkPolicy);
            flip!(round, w.config_maps, "ConfigMap", ConfigMap);
            flip!(round, w.services, "Service", Service);
            println!("RSS after the changes: {:.1} MiB; {:.1} MiB alive", rss_mib(), live_mib());

            // The debounce the controller puts in front of the work above.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
            let t0 = Instant::now();
            tx.unbounded_send(()).unwrap();
            rt.block_on(async {
                use futures::StreamExt;
                let s = debounce::debounced(rx, debounce::QUIET, debounce::MAX_DELAY);
                futures::pin_mut!(s);
                s.next().await;
            });
            println!("debounce quiet period before a reconcile: {:.2?}", t0.elapsed());
        };
    }
    soc2_core::for_each_core_kind!(writers);
}
