//! Evidence against a real S3-compatible server (moto) on loopback: the chain, create-only
//! writes, the planted secret, tampering, and an outage in the middle of a run.
//!
//! The server comes from `scripts/install-tools.sh` (or `SOC2_MOTO_SERVER`); without it these
//! tests fail and say so.

mod evidence_support;

use evidence_support::*;
use soc2_evidence::verify::{VerifyOptions, verify};
use soc2_evidence::{Error, SigningKey, Writer};

const BUCKET: &str = "evidence";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_chain_verifies_and_holds_no_secret() {
    let moto = Moto::start(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let store = moto.store(BUCKET, "soc2/evidence");
    let key = SigningKey::generate().unwrap();
    let mut writer = Writer::open(
        store.clone(),
        config("prod-eu", "hourly", Some(key.clone())),
    )
    .await
    .unwrap();
    assert!(writer.head().is_none());
    let mut keys = Vec::new();
    for at in [
        "2026-06-15T10:00:05Z",
        "2026-06-15T11:00:03Z",
        "2026-06-15T12:00:04Z",
    ] {
        let (snap, eval) = evaluate(&manifests, t(at));
        keys.push(
            writer
                .write(&eval, &snap, t(at))
                .await
                .unwrap()
                .snapshot
                .key,
        );
    }
    assert!(keys[0].starts_with("prod-eu/hourly/2026/06/15/20260615T100005Z-"));
    // The prefix is applied in the bucket, and keys are relative to it.
    let all = store.list("").await.unwrap();
    assert_eq!(all.len(), 12, "{all:?}");
    assert_no_planted(&store).await;

    let mut o = VerifyOptions::all(t("2026-06-15T12:30:00Z"));
    o.public_key = Some(key.public());
    let r = verify(&store, &o).await.unwrap();
    assert!(r.ok(), "{}", r.to_text());
    assert_eq!((r.chains[0].snapshots, r.chains[0].signed), (3, 3));

    // A second writer finds the head by listing the bucket.
    let w2 = Writer::open(store.clone(), config("prod-eu", "hourly", None))
        .await
        .unwrap();
    assert_eq!(w2.head().unwrap().key, keys[2]);

    // Create-only on S3 (If-None-Match: *).
    let err = store
        .put_create(&keys[1], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { key } if *key == keys[1]),
        "{err}"
    );

    // Tampering through the S3 API is caught.
    let doc = keys[1].replace("manifest.json", "inventory.json");
    store.delete(&doc).await.unwrap();
    store
        .put_create(&doc, b"{\"items\":[]}".to_vec())
        .await
        .unwrap();
    let r = verify(&store, &o).await.unwrap();
    assert!(!r.ok());
    assert!(
        r.chains[0]
            .problems
            .iter()
            .any(|p| p.kind == "digest" && p.key == doc),
        "{}",
        r.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_surfaces_the_error_and_the_next_snapshot_records_the_gap() {
    let mut moto = Moto::start(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let store = moto.store(BUCKET, "");
    let key = SigningKey::generate().unwrap();
    let mut writer = Writer::open(store.clone(), config("prod", "hourly", Some(key.clone())))
        .await
        .unwrap();
    let at = t("2026-06-15T10:00:05Z");
    let (snap, eval) = evaluate(&manifests, at);
    let first = writer.write(&eval, &snap, at).await.unwrap();

    // moto keeps its state in memory: save the bucket so that it can be put back after the
    // restart, as a durable S3 would have kept it.
    let mut saved = Vec::new();
    for o in store.list("").await.unwrap() {
        saved.push((o.key.clone(), store.get(&o.key).await.unwrap()));
    }
    moto.stop();

    let at = t("2026-06-15T11:00:02Z");
    let (snap, eval) = evaluate(&manifests, at);
    let err = writer.write(&eval, &snap, at).await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "expected exhausted retries, got {err}"
    );
    assert!(
        err.to_string()
            .contains("prod/hourly/2026/06/15/20260615T110002Z-"),
        "{err}"
    );
    assert_eq!(err.metric_label(), "retries_exhausted");
    assert_eq!(writer.head().unwrap().key, first.snapshot.key);

    moto.restart();
    moto.create_bucket(BUCKET);
    for (k, bytes) in saved {
        store.put_create(&k, bytes).await.unwrap();
    }

    let at = t("2026-06-15T12:00:04Z");
    let (snap, eval) = evaluate(&manifests, at);
    let next = writer.write(&eval, &snap, at).await.unwrap();
    assert_eq!(next.sequence, 1, "links to the last good snapshot");
    assert_eq!(next.gaps.len(), 1);
    assert_eq!(
        (
            next.gaps[0].from.as_str(),
            next.gaps[0].to.as_str(),
            next.gaps[0].missed
        ),
        ("2026-06-15T11:00:00Z", "2026-06-15T12:00:00Z", 1)
    );
    let mut o = VerifyOptions::all(t("2026-06-15T12:30:00Z"));
    o.public_key = Some(key.public());
    let r = verify(&store, &o).await.unwrap();
    assert!(r.ok(), "{}", r.to_text());
    let gaps = &r.chains[0].gaps;
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0].recorded && gaps[0].key == next.snapshot.key);
    // A writer started now finds the same head in the bucket.
    let w2 = Writer::open(store.clone(), config("prod", "hourly", None))
        .await
        .unwrap();
    assert_eq!(w2.head().unwrap().digest, next.snapshot.digest);
}

#[test]
fn cli_snapshot_and_verify_against_s3() {
    let moto = Moto::start(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let bin = env!("CARGO_BIN_EXE_soc2-operator");
    let endpoint = moto.endpoint();
    let s3 = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .args([
                "--store",
                "s3://evidence/fleet",
                "--endpoint",
                &endpoint,
                "--region",
                "us-east-1",
                "--path-style",
                "--allow-http",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    for cluster in ["prod-eu", "prod-us"] {
        let (code, out) = s3(&[
            "evidence",
            "snapshot",
            "-m",
            manifests.to_str().unwrap(),
            "--cluster",
            cluster,
            "--policy",
            "hourly",
            "--at",
            "2026-06-15T10:00:05Z",
        ]);
        assert_eq!(code, 0, "{out}");
    }
    let (code, out) = s3(&[
        "evidence",
        "verify",
        "--insecure-no-pin",
        "--to",
        "2026-06-15T10:30:00Z",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("NOT PINNED"),
        "unsigned, unpinned: said so: {out}"
    );
    assert!(
        out.contains("OK prod-eu/hourly") && out.contains("OK prod-us/hourly"),
        "{out}"
    );
    assert!(!out.contains("testing"), "credentials never printed: {out}");
}
