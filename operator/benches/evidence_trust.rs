//! Write and verify time of evidence with the issue-9 protections: RFC 3161 time stamps (a
//! test TSA: OpenSSL's `ts -reply` on loopback), S3 Object Lock and a witness, on a local
//! directory and on a local S3 server (moto). Not criterion: each case writes a chain of
//! `SNAPSHOTS` snapshots of a 10k-object synthetic cluster and verifies it a few times; the
//! table printed at the end goes to BENCHMARKS.md.
//!
//! `cargo bench -p soc2-operator --bench evidence_trust` (needs moto, see
//! scripts/install-tools.sh, and the `openssl` command).

#[path = "../tests/evidence_support/mod.rs"]
mod evidence_support;
#[path = "../../evidence/tests/support/tsa.rs"]
mod tsa;

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use soc2_core::crd::{EvidenceInclude, ObjectLockMode, ObjectLockSpec};
use soc2_core::engine::evaluate;
use soc2_core::snapshot::ClusterSnapshot;
use soc2_core::synth::generate;
use soc2_evidence::checkpoint::{self, Source};
use soc2_evidence::timestamp::{Timestamper, TrustAnchors};
use soc2_evidence::verify::{ObjectLockOptions, VerifyOptions, verify};
use soc2_evidence::{RetryPolicy, Schedule, SigningKey, Store, Writer, WriterConfig};
use soc2_operator::cli::baseline_controls;

const OBJECTS: usize = 10_000;
const SNAPSHOTS: i64 = 7;
const VERIFY_RUNS: usize = 7;

fn config(key: &SigningKey, policy: &str) -> WriterConfig {
    WriterConfig {
        cluster: "bench".into(),
        policy: policy.into(),
        schedule: Schedule::parse(None, Some("1h")).expect("interval"),
        signing_key: Some(key.clone()),
        retry: RetryPolicy::default(),
        include: EvidenceInclude::default(),
        retention: None,
        oscal: false,
    }
}

struct Case {
    name: &'static str,
    store: Store,
    witness: Option<Store>,
    tsa: bool,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let controls = baseline_controls().expect("baseline parses");
    let snapshot = ClusterSnapshot::new(generate(OBJECTS, 42));
    let key = SigningKey::generate().expect("key");
    let tsa = tsa::TestTsa::start("bench");
    let anchors = TrustAnchors::read(&tsa.ca_pem).expect("CA");
    let moto = evidence_support::Moto::start("plain");
    moto.create_locked_bucket("locked");
    moto.create_locked_bucket("witness");
    let lock = Some(ObjectLockSpec {
        mode: ObjectLockMode::COMPLIANCE,
        duration: "400d".into(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let local = |sub: &str| {
        Store::from_url(&format!("file://{}/{sub}", dir.path().display())).expect("store")
    };
    let locked = {
        let mut s = moto.spec("locked", "ev");
        s.object_lock = lock.clone();
        moto.open(&s)
    };
    let witness = {
        let mut s = moto.spec("witness", "w");
        s.object_lock = lock.clone();
        moto.open(&s)
    };
    let cases = vec![
        Case {
            name: "local directory, signed",
            store: local("a"),
            witness: None,
            tsa: false,
        },
        Case {
            name: "local directory, signed + time stamps",
            store: local("b"),
            witness: None,
            tsa: true,
        },
        Case {
            name: "moto S3, signed",
            store: moto.store("plain", "a"),
            witness: None,
            tsa: false,
        },
        Case {
            name: "moto S3, signed + time stamps",
            store: moto.store("plain", "b"),
            witness: None,
            tsa: true,
        },
        Case {
            name: "moto S3, signed + time stamps + Object Lock + locked witness",
            store: locked,
            witness: Some(witness),
            tsa: true,
        },
    ];
    // The TSA round trip alone (request, `openssl ts -reply`, checks of the answer).
    let stamper = Timestamper::new(&tsa.url)
        .expect("tsa")
        .with_anchors(Some(anchors.clone()));
    let mut stamps = Vec::new();
    for i in 0..10u8 {
        let begin = Instant::now();
        rt.block_on(stamper.stamp(&[i; 64])).expect("stamp");
        stamps.push(begin.elapsed());
    }
    let stamp = median(stamps);
    let mut rows = Vec::new();
    for case in cases {
        // Snapshot times a minute ago, a second apart: the TSA's clock is now.
        let base = Timestamp::now() - SignedDuration::from_mins(1);
        let evaluation = evaluate(&controls, &snapshot, base);
        let mut writer = rt
            .block_on(Writer::open(case.store.clone(), config(&key, "hourly")))
            .expect("writer");
        if case.tsa {
            writer = writer.with_timestamper(Some(
                Timestamper::new(&tsa.url)
                    .expect("tsa")
                    .with_anchors(Some(anchors.clone())),
            ));
        }
        if let Some(w) = &case.witness {
            writer.set_witness(w.clone());
        }
        let mut writes = Vec::new();
        let mut bytes = 0;
        for i in 0..SNAPSHOTS {
            let at = base + SignedDuration::from_secs(i);
            let begin = Instant::now();
            let w = rt
                .block_on(writer.write(&evaluation, &snapshot, at))
                .expect("write");
            writes.push(begin.elapsed());
            assert_eq!(w.timestamp_error, None);
            assert_eq!(w.witness_error, None);
            bytes = w.bytes;
        }
        let objects = rt.block_on(case.store.list("")).expect("list").len();
        let mut options = VerifyOptions::all(Timestamp::now());
        options.public_key = Some(key.public());
        if case.tsa {
            options.timestamps.anchors = Some(anchors.clone());
            options.timestamps.required = true;
        }
        let lock = case.store.object_lock().is_some();
        options.object_lock = ObjectLockOptions {
            report: case.store.reports_retention(),
            required: lock,
            min_duration: lock.then(|| SignedDuration::from_hours(24 * 400)),
        };
        let mut verifies = Vec::new();
        // One warm-up run (page cache, connections), then the measured ones.
        for run in 0..=VERIFY_RUNS {
            let begin = Instant::now();
            let mut r = rt.block_on(verify(&case.store, &options)).expect("verify");
            if let Some(w) = &case.witness {
                let loaded = rt
                    .block_on(checkpoint::load(&Source::Store(w.clone())))
                    .expect("checkpoints");
                checkpoint::check(&mut r, &loaded, &options);
            }
            if run > 0 {
                verifies.push(begin.elapsed());
            }
            assert!(r.ok(), "{}", r.to_text());
        }
        let row = format!(
            "| {} | {objects} | {:.1} MB | {:.0} ms | {:.0} ms |",
            case.name,
            bytes as f64 / 1e6,
            median(writes).as_secs_f64() * 1e3,
            median(verifies).as_secs_f64() * 1e3,
        );
        eprintln!("{row}");
        rows.push(row);
    }
    println!(
        "\n{OBJECTS} objects, {SNAPSHOTS} snapshots per chain; median write of one snapshot, median of {VERIFY_RUNS} verifications of the chain\n"
    );
    println!(
        "| case | objects stored | bytes per snapshot | write one snapshot | verify the chain |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nTSA round trip (loopback, openssl ts -reply, token checked against the CA): median {:.1} ms",
        stamp.as_secs_f64() * 1e3
    );
}
