//! Issue 9, done-when: a chain written by the operator's writer (signing key, RFC 3161 time
//! stamps from a test TSA, a witness, S3 Object Lock) on a local S3 server (moto) verifies with
//! a pinned key, `--tsa-ca`, `--require-timestamps`, `--checkpoint` and
//! `--require-object-lock`; deleting its newest snapshot, its oldest one and all of it is each
//! reported. Also: a chain written without Object Lock fails `--require-object-lock`, and the
//! configurations that cannot work (Object Lock off S3, with pruning) are refused.
//!
//! Needs moto (`scripts/install-tools.sh`) and the `openssl` command (the test TSA).

mod evidence_support;
#[path = "../../evidence/tests/support/tsa.rs"]
mod tsa;

use evidence_support::*;
use jiff::{SignedDuration, Timestamp};
use soc2_core::crd::{ObjectLockMode, ObjectLockSpec};
use soc2_evidence::checkpoint::{self, Source};
use soc2_evidence::timestamp::{Timestamper, TrustAnchors};
use soc2_evidence::verify::{ObjectLockOptions, VerifyOptions, VerifyReport, verify};
use soc2_evidence::{SigningKey, Store, Writer};

const LOCKED: &str = "evidence-locked";
const WITNESS: &str = "witness-locked";
const LOCK_DAYS: i64 = 400;

fn lock() -> Option<ObjectLockSpec> {
    Some(ObjectLockSpec {
        mode: ObjectLockMode::COMPLIANCE,
        duration: format!("{LOCK_DAYS}d"),
    })
}

/// Four hourly snapshot times ending in the current hour, so that the TSA's clock (now) is
/// within the tolerance given below.
fn times() -> Vec<Timestamp> {
    let hour = Timestamp::now().as_second() / 3600 * 3600;
    (0..4)
        .map(|i| Timestamp::from_second(hour - (3 - i) * 3600 + 5).unwrap())
        .collect()
}

struct Setup {
    moto: Moto,
    tsa: tsa::TestTsa,
    key: SigningKey,
    store: Store,
    witness: Store,
    keys: Vec<String>,
}

/// Writes a chain as the operator does (`WriterConfig` of a policy, signing key, time stamps,
/// witness, provenance of a live cluster), everything under Object Lock.
async fn setup(policy: &str) -> Setup {
    let moto = Moto::start("unused");
    moto.create_locked_bucket(LOCKED);
    moto.create_locked_bucket(WITNESS);
    let tsa = tsa::TestTsa::start("trust-s3");
    let mut spec = moto.spec(LOCKED, "soc2");
    spec.object_lock = lock();
    let store = moto.open(&spec);
    let mut wspec = moto.spec(WITNESS, "w");
    wspec.object_lock = lock();
    let witness = moto.open(&wspec);
    let key = SigningKey::generate().unwrap();
    let keys = write_chain(&store, &witness, &tsa, &key, policy).await;
    Setup {
        moto,
        tsa,
        key,
        store,
        witness,
        keys,
    }
}

async fn write_chain(
    store: &Store,
    witness: &Store,
    tsa: &tsa::TestTsa,
    key: &SigningKey,
    policy: &str,
) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let anchors = TrustAnchors::read(&tsa.ca_pem).unwrap();
    let mut w = Writer::open(store.clone(), config("prod", policy, Some(key.clone())))
        .await
        .unwrap()
        .with_timestamper(Some(
            Timestamper::new(&tsa.url)
                .unwrap()
                .with_anchors(Some(anchors)),
        ));
    w.set_provenance(live());
    w.set_witness(witness.clone());
    let mut keys = Vec::new();
    for at in times() {
        let (snap, eval) = evaluate(&manifests, at);
        let written = w.write(&eval, &snap, at).await.unwrap();
        assert_eq!(written.timestamp_error, None);
        assert_eq!(written.witness_error, None);
        if store.object_lock().is_some() {
            let until = written.retain_until.expect("a retain-until date");
            assert!(until > Timestamp::now() + SignedDuration::from_hours(24 * (LOCK_DAYS - 1)));
        } else {
            assert_eq!(written.retain_until, None);
        }
        keys.push(written.snapshot.key);
    }
    keys
}

/// Every check an auditor can ask for.
fn strict(s: &Setup) -> VerifyOptions {
    let mut o = VerifyOptions::all(Timestamp::now());
    o.public_key = Some(s.key.public());
    o.timestamps.anchors = Some(TrustAnchors::read(&s.tsa.ca_pem).unwrap());
    o.timestamps.required = true;
    // The chain is backdated by up to three hours (written in seconds); the TSA's clock is now.
    o.timestamps.tolerance = Some(SignedDuration::from_hours(4));
    o.object_lock = ObjectLockOptions {
        report: true,
        required: true,
        min_duration: Some(SignedDuration::from_hours(24 * LOCK_DAYS)),
    };
    o
}

/// Verify, then the witness check (`--checkpoint <witness store>`).
async fn verify_witnessed(s: &Setup) -> VerifyReport {
    let o = strict(s);
    let mut r = verify(&s.store, &o).await.unwrap();
    let loaded = checkpoint::load(&Source::Store(s.witness.clone()))
        .await
        .unwrap();
    checkpoint::check(&mut r, &loaded, &o);
    r
}

fn kinds(r: &VerifyReport) -> Vec<(&'static str, String)> {
    r.chains
        .iter()
        .flat_map(|c| c.problems.iter().map(|p| (p.kind, p.key.clone())))
        .collect()
}

/// Deletes every object of a snapshot through the S3 API (on a versioned, locked bucket this
/// adds delete markers: the locked versions stay, but listings no longer show them).
async fn delete_snapshot(store: &Store, manifest_key: &str) {
    let folder = manifest_key.trim_end_matches("/manifest.json");
    for o in store.list(folder).await.unwrap() {
        store.delete(&o.key).await.unwrap();
    }
    assert!(store.list(folder).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_timestamped_witnessed_chain_verifies_and_deletions_are_reported() {
    let s = setup("hourly").await;

    // Everything an auditor can require holds.
    let r = verify_witnessed(&s).await;
    assert!(r.ok(), "{}", r.to_text());
    let c = &r.chains[0];
    assert_eq!((c.snapshots, c.signed, c.timestamped), (4, 4, 4));
    let lock = c.object_lock.as_ref().expect("retention was read");
    // results, access-review, inventory, manifest and manifest.tsr per snapshot.
    assert_eq!((lock.objects, lock.retained), (20, 20), "{lock:?}");
    assert_eq!(lock.modes, vec!["COMPLIANCE".to_string()]);
    for e in &c.entries {
        assert_eq!(e.retention.len(), 5);
        for o in &e.retention {
            let ret = o.retention.as_ref().expect("retained");
            assert!(ret.retain_until >= e.time + SignedDuration::from_hours(24 * LOCK_DAYS));
        }
    }
    let text = r.to_text();
    assert!(
        text.contains("object lock: 20 of 20 object(s) retained (COMPLIANCE)"),
        "{text}"
    );
    // The checkpoints in the witness are locked too.
    for o in s.witness.list("").await.unwrap() {
        let ret = s.witness.retention(&o.key).await.unwrap();
        assert_eq!(
            ret.map(|r| r.mode),
            Some("COMPLIANCE".to_string()),
            "{}",
            o.key
        );
    }
    // Asking for a longer retention than was written is a break on every object.
    let mut longer = strict(&s);
    longer.object_lock.min_duration = Some(SignedDuration::from_hours(24 * (LOCK_DAYS + 30)));
    let r = verify(&s.store, &longer).await.unwrap();
    assert_eq!(
        kinds(&r)
            .iter()
            .filter(|(k, _)| *k == "object-lock")
            .count(),
        20,
        "{}",
        r.to_text()
    );

    // The newest snapshot deleted: reported with the witness.
    delete_snapshot(&s.store, &s.keys[3]).await;
    let r = verify_witnessed(&s).await;
    assert!(!r.ok());
    let k = kinds(&r);
    assert_eq!(
        k.iter().filter(|(kind, _)| *kind == "deleted").count(),
        1,
        "{}",
        r.to_text()
    );
    assert!(r.to_text().contains("newest"), "{}", r.to_text());

    // The oldest one too.
    delete_snapshot(&s.store, &s.keys[0]).await;
    let r = verify_witnessed(&s).await;
    let text = r.to_text();
    assert_eq!(
        kinds(&r)
            .iter()
            .filter(|(kind, _)| *kind == "deleted")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("oldest"), "{text}");

    // All of it.
    for k in &s.keys[1..3] {
        delete_snapshot(&s.store, k).await;
    }
    assert!(s.store.list("").await.unwrap().is_empty());
    let r = verify_witnessed(&s).await;
    let text = r.to_text();
    assert!(!r.ok());
    assert_eq!(
        kinds(&r)
            .iter()
            .filter(|(kind, _)| *kind == "deleted")
            .count(),
        4,
        "{text}"
    );
    assert!(text.contains("whole chain"), "{text}");
    drop(s.moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_object_lock_fails_require_object_lock() {
    let moto = Moto::start("plain");
    moto.create_locked_bucket(LOCKED);
    let tsa = tsa::TestTsa::start("no-lock");
    let key = SigningKey::generate().unwrap();
    // A lock-enabled bucket, but the writer sets no retention (nor does the bucket by default).
    let store = moto.open(&moto.spec(LOCKED, "soc2"));
    let witness = moto.open(&moto.spec("plain", "w"));
    write_chain(&store, &witness, &tsa, &key, "hourly").await;
    let s = Setup {
        moto,
        tsa,
        key,
        store,
        witness,
        keys: Vec::new(),
    };
    let r = verify(&s.store, &strict(&s)).await.unwrap();
    let k = kinds(&r);
    assert_eq!(
        k.iter().filter(|(kind, _)| *kind == "object-lock").count(),
        20,
        "{}",
        r.to_text()
    );
    assert!(k.iter().all(|(kind, _)| *kind == "object-lock"), "{k:?}");
    let lock = r.chains[0].object_lock.as_ref().unwrap();
    assert_eq!((lock.objects, lock.retained), (20, 0));
    assert!(
        r.to_text()
            .contains("object lock: 0 of 20 object(s) retained"),
        "{}",
        r.to_text()
    );
    // The checkpoints in an unlocked witness fail it too, with the witness check.
    let mut r = r;
    let loaded = checkpoint::load(&Source::Store(s.witness.clone()))
        .await
        .unwrap();
    assert_eq!(loaded.retention.as_ref().map(|r| r.len()), Some(4));
    checkpoint::check(&mut r, &loaded, &strict(&s));
    let witness_breaks = kinds(&r)
        .into_iter()
        .filter(|(kind, key)| *kind == "object-lock" && key.starts_with("witness:"))
        .count();
    assert_eq!(witness_breaks, 4, "{}", r.to_text());
    // Reported but not required: no break.
    let mut o = strict(&s);
    o.object_lock.required = false;
    let r = verify(&s.store, &o).await.unwrap();
    assert!(r.ok(), "{}", r.to_text());

    // A file store cannot show retention: required, that is a break, never a silent pass.
    let dir = tempfile::tempdir().unwrap();
    let local = Store::from_url(dir.path().to_str().unwrap()).unwrap();
    write_chain(&local, &s.witness, &s.tsa, &s.key, "local").await;
    let r = verify(&local, &strict(&s)).await.unwrap();
    assert_eq!(kinds(&r).len(), 1, "{}", r.to_text());
    assert_eq!(kinds(&r)[0].0, "object-lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_off_s3_and_with_pruning_is_refused() {
    // Off S3: an error naming objectLock, before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = soc2_evidence::store::storage_spec(dir.path().to_str().unwrap());
    spec.object_lock = lock();
    let err = Store::open(&spec, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("objectLock") && err.contains("s3://"), "{err}");
    spec.url = "gs://bucket/prefix".into();
    let err = Store::open(&spec, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("objectLock"), "{err}");
    // A bad duration names the field.
    let moto = Moto::start(LOCKED);
    let mut spec = moto.spec(LOCKED, "soc2");
    spec.object_lock = Some(ObjectLockSpec {
        mode: ObjectLockMode::GOVERNANCE,
        duration: "forever".into(),
    });
    let err = Store::open(&spec, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("objectLock.duration"), "{err}");

    // With retention (pruning): the writer refuses to open, naming spec.retention.
    spec.object_lock = lock();
    let store = moto.open(&spec);
    let mut config = config("prod", "hourly", None);
    config.retention = Some(SignedDuration::from_hours(24));
    let err = Writer::open(store.clone(), config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spec.retention") && err.contains("objectLock"),
        "{err}"
    );
    assert!(store.list("").await.unwrap().is_empty());
}

/// `report` passes `--tsa-ca`, `--require-timestamps` and `--timestamp-tolerance` to verify:
/// a snapshot whose token was removed fails the report only when tokens are required, and the
/// report counts the verified tokens.
#[test]
fn report_checks_time_stamps_like_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let tsa = tsa::TestTsa::start("report");
    let key = SigningKey::generate().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let keys = rt.block_on(async {
        let store = Store::from_url(dir.to_str().unwrap()).unwrap();
        let witness = Store::from_url(tmp.path().join("witness").to_str().unwrap()).unwrap();
        let keys = write_chain(&store, &witness, &tsa, &key, "hourly").await;
        // The oldest snapshot loses its token.
        store
            .delete(&keys[0].replace("manifest.json", "manifest.tsr"))
            .await
            .unwrap();
        keys
    });
    assert_eq!(keys.len(), 4);
    let pubkey = tmp.path().join("ed25519.pub");
    std::fs::write(&pubkey, key.public().to_file_text()).unwrap();
    let from = soc2_evidence::rfc3339(times()[0] - SignedDuration::from_hours(1));
    let to = soc2_evidence::rfc3339(times()[3] + SignedDuration::from_mins(30));
    let report = |extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
            .args(["report", "--store", dir.to_str().unwrap(), "--from", &from])
            .args(["--to", &to, "--format", "json", "--public-key"])
            .arg(&pubkey)
            .arg("--tsa-ca")
            .arg(&tsa.ca_pem)
            .args(["--timestamp-tolerance", "4h"])
            .args(extra)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&o.stderr));
        });
        (o.status.code(), json["clusters"][0]["integrity"].clone())
    };
    let (code, integrity) = report(&[]);
    assert_eq!(code, Some(0), "{integrity}");
    assert_eq!(integrity["timestamped"], 3, "{integrity}");
    assert!(
        integrity["tsas"][0]
            .as_str()
            .unwrap()
            .contains("report Test TSA"),
        "{integrity}"
    );
    let (code, integrity) = report(&["--require-timestamps"]);
    assert_eq!(code, Some(1), "{integrity}");
    assert_eq!(integrity["verified"], false);
    let problems = integrity["problems"].to_string();
    assert!(
        problems.contains("timestamp") && problems.contains("required"),
        "{problems}"
    );
    // Object Lock cannot be required of a file store: a usage error, not a silent pass.
    let (code, _) = {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
            .args(["report", "--store", dir.to_str().unwrap(), "--from", &from])
            .args(["--to", &to, "--format", "json", "--public-key"])
            .arg(&pubkey)
            .arg("--require-object-lock")
            .output()
            .unwrap();
        (o.status.code(), ())
    };
    assert_eq!(code, Some(2));
}

/// The CLI: `evidence snapshot --object-lock-mode/--object-lock-duration` on moto, then
/// `evidence verify --require-object-lock --object-lock-min`; refused on a file store.
#[test]
fn cli_snapshot_with_object_lock_and_verify() {
    let moto = Moto::start("unused");
    moto.create_locked_bucket(LOCKED);
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let key = SigningKey::generate().unwrap();
    let (keyfile, pubkey) = (
        tmp.path().join("ed25519.key"),
        tmp.path().join("ed25519.pub"),
    );
    std::fs::write(&keyfile, key.to_file_text()).unwrap();
    std::fs::write(&pubkey, key.public().to_file_text()).unwrap();
    let endpoint = moto.endpoint();
    let s3 = [
        "--endpoint",
        endpoint.as_str(),
        "--region",
        "us-east-1",
        "--path-style",
        "--allow-http",
    ];
    let run = |args: &[&str], extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
            .args(args)
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let store = format!("s3://{LOCKED}/cli");
    let snapshot = [
        "evidence",
        "snapshot",
        "-m",
        manifests.to_str().unwrap(),
        "--store",
        &store,
        "--cluster",
        "prod",
        "--signing-key",
        keyfile.to_str().unwrap(),
    ];
    let lock = [
        "--object-lock-mode",
        "GOVERNANCE",
        "--object-lock-duration",
        "2d",
    ];
    let (code, out) = run(&snapshot, &[&s3[..], &lock[..]].concat());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("object lock: every object retained until"),
        "{out}"
    );
    let verify = [
        "evidence",
        "verify",
        "--store",
        &store,
        "--public-key",
        pubkey.to_str().unwrap(),
        "--require-object-lock",
    ];
    let (code, out) = run(
        &verify,
        &[&s3[..], &["--object-lock-min", "1d"][..]].concat(),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("object lock: 4 of 4 object(s) retained (GOVERNANCE)"),
        "{out}"
    );
    let (code, out) = run(
        &verify,
        &[&s3[..], &["--object-lock-min", "3d"][..]].concat(),
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.matches("BREAK [object-lock]").count(), 4, "{out}");

    // Not on a file store, and not with --retention.
    let dir = tmp.path().join("local");
    let mut local = snapshot;
    local[5] = dir.to_str().unwrap();
    let (code, out) = run(&local, &lock);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("objectLock"), "{out}");
    let (code, out) = run(
        &snapshot,
        &[&s3[..], &lock[..], &["--retention", "30d"][..]].concat(),
    );
    assert_eq!(code, Some(2), "{out}");
}
