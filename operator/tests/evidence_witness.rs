//! Attacks by someone who can write to the evidence store (issue 9): deleting snapshots at the
//! head, at the start or a whole chain (caught by witnessed checkpoints), planting a head for
//! the writer to sign a link to (refused), and guessing values from inventory digests (keyed).

mod evidence_support;

use std::path::{Path, PathBuf};

use evidence_support::*;
use soc2_evidence::checkpoint::{self, Source};
use soc2_evidence::verify::{VerifyOptions, VerifyReport, verify};
use soc2_evidence::{Error, SigningKey, Store, Writer};

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    manifests: PathBuf,
    store: Store,
    witness: Store,
    key: SigningKey,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let root = tmp.path().join("store");
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    let witness =
        Store::from_url(&format!("file://{}", tmp.path().join("witness").display())).unwrap();
    Setup {
        _tmp: tmp,
        root,
        manifests,
        store,
        witness,
        key: SigningKey::generate().unwrap(),
    }
}

/// Writes one live snapshot per time with checkpoints to the witness; prunes with
/// `retention` after the last one. Returns the manifest keys.
async fn write_chain(s: &Setup, retention: Option<&str>) -> Vec<String> {
    let mut cfg = config("prod", "hourly", Some(s.key.clone()));
    cfg.retention = retention.map(|r| soc2_core::crd::parse_duration(r).unwrap());
    let mut w = Writer::open(s.store.clone(), cfg).await.unwrap();
    w.set_provenance(live());
    w.set_witness(s.witness.clone());
    let mut keys = Vec::new();
    for at in TIMES {
        let (snap, eval) = evaluate(&s.manifests, t(at));
        let written = w.write(&eval, &snap, t(at)).await.unwrap();
        assert!(written.checkpoint.is_some(), "{:?}", written.witness_error);
        keys.push(written.snapshot.key);
    }
    w.prune(t(TIMES[4])).await.unwrap();
    keys
}

fn options(s: &Setup) -> VerifyOptions {
    let mut o = VerifyOptions::all(t("2026-06-15T14:30:00Z"));
    o.public_key = Some(s.key.public());
    o
}

/// Verifies the store, then against the witness.
async fn check(s: &Setup) -> (VerifyReport, VerifyReport) {
    let o = options(s);
    let plain = verify(&s.store, &o).await.unwrap();
    let mut witnessed = plain.clone();
    let loaded = checkpoint::load(&Source::Store(s.witness.clone()))
        .await
        .unwrap();
    checkpoint::check(&mut witnessed, &loaded, &o);
    (plain, witnessed)
}

fn delete_snapshot(root: &Path, manifest_key: &str) {
    let folder = manifest_key.rsplit_once('/').unwrap().0;
    std::fs::remove_dir_all(root.join(folder)).unwrap();
}

fn deleted(r: &VerifyReport) -> Vec<String> {
    r.chains
        .iter()
        .flat_map(|c| c.problems.iter())
        .filter(|p| p.kind == "deleted")
        .map(|p| p.key.clone())
        .collect()
}

#[tokio::test]
async fn a_clean_witnessed_chain_verifies() {
    let s = setup();
    write_chain(&s, None).await;
    let (_, witnessed) = check(&s).await;
    assert!(witnessed.ok(), "{}", witnessed.to_text());
    let objects = s.witness.list("").await.unwrap();
    assert_eq!(objects.len(), 5, "one checkpoint per sequence");
    assert!(
        objects[0]
            .key
            .ends_with("prod/hourly/checkpoints/00000000000000000000.json")
    );
}

#[tokio::test]
async fn deleting_the_newest_snapshots_is_caught_by_the_witness() {
    for n in 1..=3 {
        let s = setup();
        let keys = write_chain(&s, None).await;
        for k in &keys[5 - n..] {
            delete_snapshot(&s.root, k);
        }
        let (plain, witnessed) = check(&s).await;
        assert!(plain.ok(), "without a witness the store alone looks fine");
        assert!(
            !witnessed.ok(),
            "{n} newest deleted: {}",
            witnessed.to_text()
        );
        assert_eq!(deleted(&witnessed), keys[5 - n..].to_vec());
        assert!(
            witnessed
                .to_text()
                .contains("the newest snapshot(s) were deleted"),
            "{}",
            witnessed.to_text()
        );
    }
}

#[tokio::test]
async fn deleting_the_oldest_snapshots_inside_the_retention_is_caught() {
    let s = setup();
    let keys = write_chain(&s, Some("400d")).await;
    delete_snapshot(&s.root, &keys[0]);
    delete_snapshot(&s.root, &keys[1]);
    let (plain, witnessed) = check(&s).await;
    assert!(plain.ok(), "the store alone takes it for retention");
    assert_eq!(deleted(&witnessed), keys[..2].to_vec());
    assert!(
        witnessed
            .to_text()
            .contains("the oldest snapshot(s) were deleted")
    );
}

#[tokio::test]
async fn retention_is_not_mistaken_for_deletion() {
    let s = setup();
    // 2h retention at 14:00:09 deletes 10:00 and 11:00; verify at 14:30 (cutoff 12:30).
    let keys = write_chain(&s, Some("2h")).await;
    assert!(!s.root.join(keys[0].rsplit_once('/').unwrap().0).exists());
    let (_, witnessed) = check(&s).await;
    assert!(witnessed.ok(), "{}", witnessed.to_text());
    // But deleting 13:00, inside the retention, is caught.
    delete_snapshot(&s.root, &keys[3]);
    let (_, witnessed) = check(&s).await;
    assert_eq!(deleted(&witnessed), vec![keys[3].clone()]);
}

#[tokio::test]
async fn deleting_a_whole_chain_is_caught() {
    let s = setup();
    let keys = write_chain(&s, None).await;
    std::fs::remove_dir_all(s.root.join("prod")).unwrap();
    let (plain, witnessed) = check(&s).await;
    assert!(plain.chains.is_empty());
    assert!(!witnessed.ok());
    assert_eq!(witnessed.chains.len(), 1);
    assert_eq!(deleted(&witnessed), keys);
    assert!(witnessed.to_text().contains("the whole chain is gone"));
}

#[tokio::test]
async fn a_forged_checkpoint_is_a_break_not_evidence() {
    let s = setup();
    write_chain(&s, None).await;
    let k = checkpoint::key("prod", "hourly", 9);
    let mut cp = checkpoint::Checkpoint::parse(
        "x",
        &s.witness
            .get(&checkpoint::key("prod", "hourly", 4))
            .await
            .unwrap(),
    )
    .unwrap();
    cp.sequence = 9;
    s.witness
        .put_create(&k, cp.to_bytes().unwrap())
        .await
        .unwrap();
    let (_, witnessed) = check(&s).await;
    let problems = &witnessed.chains[0].problems;
    assert_eq!(problems.len(), 1, "{}", witnessed.to_text());
    assert_eq!(problems[0].kind, "witness");
}

#[tokio::test]
async fn the_writer_refuses_to_extend_a_head_it_did_not_write() {
    let s = setup();
    let keys = write_chain(&s, None).await;
    // Plant an unsigned manifest just after the newest (a copy, relinked, unsigned).
    let head = s.store.get(&keys[4]).await.unwrap();
    let mut m = soc2_evidence::Manifest::parse(&keys[4], &head).unwrap();
    m.sequence = 5;
    m.previous = Some(soc2_evidence::sha256_hex(&head));
    m.time = "2026-06-15T14:30:00Z".into();
    m.documents.clear();
    m.signature = None;
    let planted = "prod/hourly/2026/06/15/20260615T143000Z-000000000000/manifest.json";
    s.store
        .put_create(planted, m.to_bytes().unwrap())
        .await
        .unwrap();
    let err = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::UntrustedHead { .. }), "{err}");
    assert_eq!(err.metric_label(), "untrusted_head");
    assert!(err.to_string().contains(planted), "{err}");
    // Signed by another key: refused too.
    let other = SigningKey::generate().unwrap();
    m.sign(&other).unwrap();
    std::fs::write(s.root.join(planted), m.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        Writer::open(
            s.store.clone(),
            config("prod", "hourly", Some(s.key.clone()))
        )
        .await,
        Err(Error::UntrustedHead { .. })
    ));
    // Removing the planted snapshot lets the writer continue the chain.
    std::fs::remove_dir_all(s.root.join(planted.rsplit_once('/').unwrap().0)).unwrap();
    let w = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    assert_eq!(w.head().unwrap().key, keys[4]);
}

#[tokio::test]
async fn inventory_digests_do_not_confirm_guessed_values() {
    let s = setup();
    let keys = write_chain(&s, None).await;
    let folder = keys[0].rsplit_once('/').unwrap().0;
    let inventory: serde_json::Value = serde_json::from_slice(
        &s.store
            .get(&format!("{folder}/inventory.json"))
            .await
            .unwrap(),
    )
    .unwrap();
    let items = inventory["items"].as_array().unwrap();
    let cm = items
        .iter()
        .find(|i| i["kind"] == "ConfigMap" && i["name"] == "settings")
        .expect("the ConfigMap is in the inventory");
    let digest = cm["digest"].as_str().unwrap();
    assert!(digest.starts_with("hmac-sha256:"), "{digest}");
    // The plain SHA-256 of the object (what a guesser computes) is nowhere in the store.
    let snapshot = soc2_core::snapshot::ClusterSnapshot::new(
        soc2_core::snapshot::manifests::load(&s.manifests)
            .unwrap()
            .objects,
    );
    let plain = snapshot
        .inventory()
        .into_iter()
        .find(|i| i.resource.name == "settings")
        .unwrap()
        .digest;
    for o in s.store.list("").await.unwrap() {
        let text = String::from_utf8_lossy(&s.store.get(&o.key).await.unwrap()).into_owned();
        assert!(
            !text.contains(&plain),
            "{} holds a plain object digest",
            o.key
        );
    }
    // The holder of the signing key can recompute it.
    let key = soc2_evidence::keyed::InventoryKey::from_signing_key(&s.key);
    assert_eq!(key.digest(plain.as_bytes()), digest);
}

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_at_is_for_manifests_only_and_verify_checkpoint_catches_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let manifests = write_fixture(dir);
    let store = dir.join("store");
    let witness = dir.join("witness");
    let (s, w, m) = (
        store.to_str().unwrap(),
        witness.to_str().unwrap(),
        manifests.to_str().unwrap(),
    );
    // --at with a live cluster (no --manifests) is refused before anything is read.
    let (code, out) = run(&[
        "evidence",
        "snapshot",
        "--store",
        s,
        "--cluster",
        "prod",
        "--at",
        "2026-06-15T10:00:00Z",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--at is only for snapshots of a --manifests folder"),
        "{out}"
    );
    // From a manifests folder, with a witness.
    let mut keys = Vec::new();
    for at in ["2026-06-15T10:00:05Z", "2026-06-15T11:00:05Z"] {
        let (code, out) = run(&[
            "evidence",
            "snapshot",
            "-m",
            m,
            "--store",
            s,
            "--cluster",
            "prod",
            "--at",
            at,
            "--witness",
            w,
        ]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("checkpoint: prod/default/checkpoints/"),
            "{out}"
        );
        keys.push(out.split_whitespace().nth(2).unwrap().to_string());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join(&keys[1])).unwrap()).unwrap();
    assert_eq!(manifest["provenance"]["source"], "manifests");
    assert_eq!(manifest["provenance"]["writer"], "cli");
    std::fs::remove_dir_all(store.join(keys[1].rsplit_once('/').unwrap().0)).unwrap();
    let (code, out) = run(&["evidence", "verify", "--store", s, "--insecure-no-pin"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&[
        "evidence",
        "verify",
        "--store",
        s,
        "--insecure-no-pin",
        "--checkpoint",
        w,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BREAK [deleted]"), "{out}");
    // One checkpoint file (the newest, as an auditor keeps it) is enough for the head.
    let file = witness.join("prod/default/checkpoints/00000000000000000001.json");
    let (code, out) = run(&[
        "evidence",
        "verify",
        "--store",
        s,
        "--insecure-no-pin",
        "--checkpoint",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
}
