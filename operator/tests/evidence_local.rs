//! Evidence against the local directory store: writing, determinism, the planted secret,
//! faults, retention, and verification catching every kind of tampering.

mod evidence_support;

use std::path::{Path, PathBuf};

use evidence_support::*;
use soc2_evidence::bundle::{Bundle, INVENTORY, RESULTS};
use soc2_evidence::verify::{VerifyOptions, VerifyReport, verify};
use soc2_evidence::{Error, PublicKey, SigningKey, Store, Writer};

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    manifests: PathBuf,
    store: Store,
    key: SigningKey,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = write_fixture(tmp.path());
    let root = tmp.path().join("store");
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    Setup {
        _tmp: tmp,
        root,
        manifests,
        store,
        key: SigningKey::generate().unwrap(),
    }
}

/// Writes one snapshot per time; returns the manifest keys.
async fn write_chain(s: &Setup, times: &[&str]) -> Vec<String> {
    let mut writer = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    let mut keys = Vec::new();
    for at in times {
        let (snap, eval) = evaluate(&s.manifests, t(at));
        keys.push(
            writer
                .write(&eval, &snap, t(at))
                .await
                .unwrap()
                .snapshot
                .key,
        );
    }
    keys
}

async fn check(s: &Setup) -> VerifyReport {
    let mut o = VerifyOptions::all(t("2026-06-15T14:30:00Z"));
    o.public_key = Some(s.key.public());
    verify(&s.store, &o).await.unwrap()
}

fn folder_of(key: &str) -> &str {
    key.rsplit_once('/').unwrap().0
}

fn path(s: &Setup, key: &str) -> PathBuf {
    s.root.join(key)
}

fn kinds(r: &VerifyReport) -> Vec<(&'static str, String)> {
    r.chains
        .iter()
        .flat_map(|c| c.problems.iter().map(|p| (p.kind, p.key.clone())))
        .collect()
}

#[tokio::test]
async fn clean_chain_verifies_with_links_signatures_and_no_secret() {
    let s = setup();
    let keys = write_chain(&s, &TIMES).await;
    let r = check(&s).await;
    assert!(r.ok(), "{}", r.to_text());
    let c = &r.chains[0];
    assert_eq!((c.snapshots, c.signed), (5, 5));
    assert!(c.anchor.as_ref().unwrap().genesis);
    assert_eq!(c.head.as_deref(), Some(keys[4].as_str()));
    assert!(c.gaps.is_empty(), "{:?}", c.gaps);
    // Layout: <cluster>/<policy>/YYYY/MM/DD/<time>-<digest>/manifest.json
    assert!(keys[0].starts_with("prod/hourly/2026/06/15/20260615T100005Z-"));
    assert_no_planted(&s.store).await;
    // A new writer finds the head in the store and continues the chain.
    let w = Writer::open(s.store.clone(), config("prod", "hourly", None))
        .await
        .unwrap();
    assert_eq!(w.head().unwrap().key, keys[4]);
    assert_eq!(w.head().unwrap().sequence, 4);
}

#[tokio::test]
async fn same_cluster_state_gives_the_same_bytes() {
    let s = setup();
    let (snap, eval) = evaluate(&s.manifests, t(TIMES[0]));
    let (snap2, eval2) = evaluate(&s.manifests, t(TIMES[0]));
    let include = Default::default();
    let a = Bundle::build(&eval, &snap, &include).unwrap();
    let b = Bundle::build(&eval2, &snap2, &include).unwrap();
    assert_eq!(a, b);
    // Only times differ at a later evaluation.
    let (snap3, eval3) = evaluate(&s.manifests, t(TIMES[1]));
    let c = Bundle::build(&eval3, &snap3, &include).unwrap();
    let doc = |b: &Bundle, n: &str| {
        b.documents
            .iter()
            .find(|d| d.name == n)
            .unwrap()
            .bytes
            .clone()
    };
    assert_eq!(doc(&a, INVENTORY), doc(&c, INVENTORY));
    let text = String::from_utf8(doc(&c, RESULTS)).unwrap();
    let back = text.replace("2026-06-15T11:00:03Z", "2026-06-15T10:00:05Z");
    assert_eq!(back.as_bytes(), doc(&a, RESULTS).as_slice());
    // Canonical: keys sorted, compact.
    let inv = String::from_utf8(doc(&a, INVENTORY)).unwrap();
    assert!(inv.starts_with(r#"{"items":[{"apiVersion":"#), "{inv}");
    assert!(
        !inv.contains("Secret"),
        "Secrets never appear in the inventory"
    );
}

#[tokio::test]
async fn oscal_format_adds_a_verified_document() {
    let s = setup();
    let mut cfg = config("prod", "hourly", Some(s.key.clone()));
    cfg.oscal = true;
    let mut w = Writer::open(s.store.clone(), cfg).await.unwrap();
    let (snap, eval) = evaluate(&s.manifests, t(TIMES[0]));
    let k = w
        .write(&eval, &snap, t(TIMES[0]))
        .await
        .unwrap()
        .snapshot
        .key;
    let doc = format!("{}/assessment-results.oscal.json", folder_of(&k));
    let v: serde_json::Value = serde_json::from_slice(&s.store.get(&doc).await.unwrap()).unwrap();
    assert_eq!(
        v["assessment-results"]["metadata"]["oscal-version"],
        "1.1.2"
    );
    assert!(check(&s).await.ok());
    assert_no_planted(&s.store).await;
}

#[tokio::test]
async fn flipped_byte_in_a_document_is_caught() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..3]).await;
    let doc = format!("{}/results.json", folder_of(&keys[1]));
    let p = path(&s, &doc);
    let mut bytes = std::fs::read(&p).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&p, bytes).unwrap();
    let r = check(&s).await;
    assert!(!r.ok());
    assert_eq!(kinds(&r), vec![("digest", doc)], "{}", r.to_text());
}

#[tokio::test]
async fn deleted_snapshot_in_the_middle_is_caught() {
    let s = setup();
    let keys = write_chain(&s, &TIMES).await;
    std::fs::remove_dir_all(path(&s, folder_of(&keys[2]))).unwrap();
    let r = check(&s).await;
    assert!(!r.ok());
    let k = kinds(&r);
    assert!(k.contains(&("chain", keys[3].clone())), "{}", r.to_text());
    assert!(
        k.contains(&("sequence", keys[3].clone())),
        "{}",
        r.to_text()
    );
    // The gap is visible against the schedule, but was not recorded by the writer.
    assert!(
        r.chains[0]
            .gaps
            .iter()
            .any(|g| !g.recorded && g.key == keys[3])
    );
}

#[tokio::test]
async fn swapped_snapshots_are_caught() {
    let s = setup();
    let keys = write_chain(&s, &TIMES).await;
    let (a, b) = (path(&s, folder_of(&keys[1])), path(&s, folder_of(&keys[2])));
    let tmp = a.with_extension("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    let r = check(&s).await;
    assert!(!r.ok());
    let k = kinds(&r);
    assert!(k.contains(&("time", keys[1].clone())), "{}", r.to_text());
    assert!(k.contains(&("chain", keys[1].clone())), "{}", r.to_text());
}

#[tokio::test]
async fn replaced_signature_is_caught() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..3]).await;
    let p = path(&s, &keys[1]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    // A well-formed signature, by the right key, over different bytes.
    manifest["signature"] = serde_json::Value::String(s.key.sign(b"something else"));
    std::fs::write(&p, soc2_evidence::canonical::value_to_vec(&manifest)).unwrap();
    let r = check(&s).await;
    let k = kinds(&r);
    assert!(
        k.contains(&("signature", keys[1].clone())),
        "{}",
        r.to_text()
    );
    // The manifest bytes changed, so the next link breaks too.
    assert!(k.contains(&("chain", keys[2].clone())), "{}", r.to_text());
}

#[tokio::test]
async fn resigned_by_another_key_is_caught_with_a_pinned_key() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..2]).await;
    let p = path(&s, &keys[1]);
    let mut m = soc2_evidence::Manifest::parse("m", &std::fs::read(&p).unwrap()).unwrap();
    m.sign(&SigningKey::generate().unwrap()).unwrap();
    std::fs::write(&p, m.to_bytes().unwrap()).unwrap();
    let r = check(&s).await;
    assert!(
        kinds(&r).contains(&("signature", keys[1].clone())),
        "{}",
        r.to_text()
    );
}

#[tokio::test]
async fn half_written_snapshot_is_incomplete_and_ignored_as_head() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..2]).await;
    // A crash after the documents of a third snapshot, before its manifest.
    let half = "prod/hourly/2026/06/15/20260615T120004Z-0123456789ab";
    std::fs::create_dir_all(path(&s, half)).unwrap();
    std::fs::write(path(&s, &format!("{half}/results.json")), b"{}").unwrap();
    let r = check(&s).await;
    assert_eq!(
        kinds(&r),
        vec![("incomplete", half.to_string())],
        "{}",
        r.to_text()
    );
    assert_eq!(r.chains[0].snapshots, 2);
    // The writer links past it to the last complete snapshot.
    let mut w = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    assert_eq!(w.head().unwrap().key, keys[1]);
    let (snap, eval) = evaluate(&s.manifests, t(TIMES[3]));
    let written = w.write(&eval, &snap, t(TIMES[3])).await.unwrap();
    assert_eq!(written.sequence, 2);
    assert_eq!(written.gaps.len(), 1, "the 12:00 slot was missed");
}

#[tokio::test]
async fn unsigned_manifests_fail_when_a_key_is_pinned() {
    let s = setup();
    let mut w = Writer::open(s.store.clone(), config("prod", "hourly", None))
        .await
        .unwrap();
    let (snap, eval) = evaluate(&s.manifests, t(TIMES[0]));
    let k = w
        .write(&eval, &snap, t(TIMES[0]))
        .await
        .unwrap()
        .snapshot
        .key;
    let mut o = VerifyOptions::all(t(TIMES[0]));
    assert!(verify(&s.store, &o).await.unwrap().ok());
    o.public_key = Some(s.key.public());
    assert_eq!(
        kinds(&verify(&s.store, &o).await.unwrap()),
        vec![("unsigned", k)]
    );
}

#[tokio::test]
async fn writes_are_create_only_and_failures_are_surfaced_then_gap_recorded() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..1]).await;
    // Block the day folder of the next snapshot with a plain file: every put fails.
    let blocker = s.root.join("prod/hourly/2026/06/16");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let mut w = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    let at = t("2026-06-16T09:00:01Z");
    let (snap, eval) = evaluate(&s.manifests, at);
    let err = w.write(&eval, &snap, at).await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("prod/hourly/2026/06/16/"), "{err}");
    assert_eq!(
        w.head().unwrap().key,
        keys[0],
        "a failed write does not move the head"
    );
    std::fs::remove_file(&blocker).unwrap();
    let at = t("2026-06-16T10:00:02Z");
    let (snap, eval) = evaluate(&s.manifests, at);
    let written = w.write(&eval, &snap, at).await.unwrap();
    assert_eq!(written.sequence, 1);
    assert_eq!(written.gaps.len(), 1);
    assert_eq!(written.gaps[0].from, "2026-06-15T11:00:00Z");
    assert_eq!(written.gaps[0].to, "2026-06-16T10:00:00Z");
    assert_eq!(written.gaps[0].missed, 23);
    let r = check(&s).await;
    assert!(r.ok(), "{}", r.to_text());
    assert!(
        r.chains[0]
            .gaps
            .iter()
            .any(|g| g.recorded && g.gap.missed == 23)
    );
    // Create-only: the same object cannot be written twice.
    let err = s
        .store
        .put_create(&written.snapshot.key, b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { key } if *key == written.snapshot.key),
        "{err}"
    );
    // Time must move forward.
    assert!(w.write(&eval, &snap, at).await.is_err());
}

#[tokio::test]
async fn a_failed_manifest_write_removes_the_documents_it_wrote() {
    let s = setup();
    let keys = write_chain(&s, &TIMES[..1]).await;
    let at = t(TIMES[1]);
    let (snap, eval) = evaluate(&s.manifests, at);
    // The writer keys inventory digests with its signing key; the folder name follows.
    let inventory_key = soc2_evidence::keyed::InventoryKey::from_signing_key(&s.key);
    let bundle =
        Bundle::build_keyed(&eval, &snap, &Default::default(), Some(&inventory_key)).unwrap();
    let folder =
        soc2_evidence::layout::snapshot_folder("prod", "hourly", at, &bundle.content_digest());
    // Something already sits where the manifest goes: the manifest write fails.
    std::fs::create_dir_all(path(&s, &format!("{folder}/manifest.json"))).unwrap();
    let mut w = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    let err = w.write(&eval, &snap, at).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("{folder}/manifest.json")),
        "{err}"
    );
    for doc in ["results.json", "access-review.json", "inventory.json"] {
        assert!(
            !path(&s, &format!("{folder}/{doc}")).exists(),
            "{doc} left behind"
        );
    }
    assert_eq!(w.head().unwrap().key, keys[0]);
}

#[tokio::test]
async fn retention_deletes_whole_snapshots_and_verify_reports_the_anchor() {
    let s = setup();
    let keys = write_chain(&s, &TIMES).await;
    let mut cfg = config("prod", "hourly", Some(s.key.clone()));
    cfg.retention = Some(jiff::SignedDuration::from_hours(2));
    let w = Writer::open(s.store.clone(), cfg).await.unwrap();
    let pruned = w.prune(t("2026-06-15T14:00:00Z")).await.unwrap();
    assert_eq!(pruned.folders.len(), 2, "{pruned:?}");
    assert_eq!(pruned.anchor.as_deref(), Some(keys[2].as_str()));
    assert!(!path(&s, folder_of(&keys[0])).join("results.json").exists());
    let r = check(&s).await;
    assert!(r.ok(), "{}", r.to_text());
    let anchor = r.chains[0].anchor.as_ref().unwrap();
    assert_eq!(
        (anchor.key.as_str(), anchor.sequence, anchor.genesis),
        (keys[2].as_str(), 2, false)
    );
    assert!(anchor.note.contains("retention"), "{}", anchor.note);
    // Retention never removes the head.
    let pruned = w.prune(t("2027-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(pruned.anchor.as_deref(), Some(keys[4].as_str()));
    assert!(check(&s).await.ok());
}

#[tokio::test]
async fn verify_range_links_to_the_snapshot_before_it() {
    let s = setup();
    write_chain(&s, &TIMES).await;
    let mut o = VerifyOptions::all(t("2026-06-15T14:30:00Z"));
    o.from = Some(t("2026-06-15T11:30:00Z"));
    o.to = Some(t("2026-06-15T13:30:00Z"));
    o.public_key = Some(s.key.public());
    let r = verify(&s.store, &o).await.unwrap();
    assert!(r.ok(), "{}", r.to_text());
    assert_eq!(r.chains[0].snapshots, 2);
    assert!(
        r.chains[0].anchor.is_none(),
        "linked to 11:00, no anchor needed"
    );
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_soc2-operator")
}

fn run(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(bin())
        .args(args)
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
fn cli_keygen_snapshot_verify_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let manifests = write_fixture(dir);
    let keys = dir.join("keys");
    let (code, out) = run(&["keygen", "--out", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("kubectl -n soc2-operator create secret generic"),
        "{out}"
    );
    assert!(out.contains("--from-file=ed25519.key="), "{out}");
    let seed = std::fs::read_to_string(keys.join("ed25519.key")).unwrap();
    assert!(
        !out.contains(seed.lines().last().unwrap().trim()),
        "keygen must not print the private key"
    );
    assert_eq!(
        run(&["keygen", "--out", keys.to_str().unwrap()]).0,
        2,
        "no overwrite"
    );
    let store = format!("file://{}", dir.join("store").display());
    for at in ["2026-06-15T10:00:05Z", "2026-06-15T11:00:03Z"] {
        let (code, out) = run(&[
            "evidence",
            "snapshot",
            "--manifests",
            manifests.to_str().unwrap(),
            "--store",
            &store,
            "--cluster",
            "prod",
            "--policy",
            "hourly",
            "--signing-key",
            keys.join("ed25519.key").to_str().unwrap(),
            "--interval",
            "1h",
            "--at",
            at,
        ]);
        assert_eq!(code, 0, "{out}");
    }
    let pubkey = keys.join("ed25519.pub");
    let verify_args = [
        "evidence",
        "verify",
        "--store",
        &store,
        "--public-key",
        pubkey.to_str().unwrap(),
        "--to",
        "2026-06-15T11:30:00Z",
    ];
    let (code, out) = run(&verify_args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("OK prod/hourly: 2 snapshot(s), 2 signed"),
        "{out}"
    );
    // Usage errors exit 2.
    assert_eq!(
        run(&[
            "evidence",
            "verify",
            "--store",
            &store,
            "--from",
            "yesterday"
        ])
        .0,
        2
    );
    assert_eq!(run(&["evidence", "verify"]).0, 2);
    // A flipped byte exits 1 and names the object.
    let inv = walk(&dir.join("store"))
        .into_iter()
        .find(|p| p.ends_with("inventory.json"))
        .unwrap();
    let mut bytes = std::fs::read(&inv).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&inv, bytes).unwrap();
    let (code, out) = run(&verify_args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("BREAK [digest]") && out.contains("inventory.json"),
        "{out}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn public_key_file_round_trip() {
    let k = SigningKey::generate().unwrap();
    assert_eq!(
        PublicKey::from_base64(&k.public().to_base64()).unwrap(),
        k.public()
    );
}
