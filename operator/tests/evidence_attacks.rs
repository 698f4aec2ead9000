//! Evidence against the people who run the store: re-signed and stripped manifests, overflowing
//! sequence numbers, FIFOs and oversized objects, key files passed as the wrong kind, keygen
//! under a permissive umask, and the report reading what verification hashed.

mod evidence_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use evidence_support::*;
use serde_json::Value;
use soc2_evidence::keyring::{self, Keyring, RotationRecord};
use soc2_evidence::report::{self, ReportOptions};
use soc2_evidence::verify::{Limits, VerifyOptions, VerifyReport, verify};
use soc2_evidence::{SigningKey, Store, Writer, canonical, manifest};

const TIMES: [&str; 3] = [
    "2026-06-15T10:00:05Z",
    "2026-06-15T11:00:03Z",
    "2026-06-15T12:00:04Z",
];

struct Setup {
    tmp: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    key: SigningKey,
    manifests: Vec<String>,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = write_fixture(tmp.path());
    let root = tmp.path().join("store");
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    let key = SigningKey::generate().unwrap();
    let mut writer = Writer::open(store.clone(), config("prod", "hourly", Some(key.clone())))
        .await
        .unwrap();
    let mut manifests = Vec::new();
    for at in TIMES {
        let (snap, eval) = evaluate(&fixture, t(at));
        manifests.push(
            writer
                .write(&eval, &snap, t(at))
                .await
                .unwrap()
                .snapshot
                .key,
        );
    }
    Setup {
        tmp,
        root,
        store,
        key,
        manifests,
    }
}

fn pinned(s: &Setup) -> VerifyOptions {
    let mut o = VerifyOptions::all(t("2026-06-15T12:30:00Z"));
    o.keyring = Some(Keyring::single(s.key.public(), "test"));
    o
}

fn kinds(r: &VerifyReport) -> Vec<&'static str> {
    r.chains
        .iter()
        .flat_map(|c| c.problems.iter().map(|p| p.kind))
        .collect()
}

/// Rewrites every manifest: `edit` changes the JSON, then the chain links are recomputed and
/// each manifest is re-signed with `key` (or left unsigned): a consistent forgery.
fn rewrite_chain(s: &Setup, key: Option<&SigningKey>, edit: impl Fn(usize, &mut Value)) {
    let mut previous: Option<String> = None;
    for (i, k) in s.manifests.iter().enumerate() {
        let path = s.root.join(k);
        let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let obj = m.as_object_mut().unwrap();
        for f in ["signature", "publicKey", "keyFingerprint"] {
            obj.remove(f);
        }
        obj.insert(
            "previous".into(),
            previous.clone().map_or(Value::Null, Value::String),
        );
        edit(i, &mut m);
        if let Some(key) = key {
            m["publicKey"] = key.public().to_base64().into();
            m["keyFingerprint"] = key.public().fingerprint().into();
            let sig = key.sign(&manifest::signing_bytes_of(m.clone()));
            m["signature"] = sig.into();
        }
        let bytes = canonical::value_to_vec(&m);
        previous = Some(soc2_evidence::sha256_hex(&bytes));
        std::fs::write(&path, bytes).unwrap();
    }
}

#[tokio::test]
async fn a_chain_re_signed_with_another_key_fails_a_pinned_verify() {
    let s = setup().await;
    let mallory = SigningKey::generate().unwrap();
    rewrite_chain(&s, Some(&mallory), |_, _| {});
    // Unpinned, the forgery is consistent, and the report says it is not pinned.
    let loose = verify(&s.store, &VerifyOptions::all(t("2026-06-15T12:30:00Z")))
        .await
        .unwrap();
    assert!(!loose.trust.pinned);
    assert!(
        loose.to_text().contains("NOT PINNED"),
        "{}",
        loose.to_text()
    );
    // Pinned, every manifest is a break.
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    assert!(!r.ok());
    assert_eq!(kinds(&r), vec!["signature"; 3], "{}", r.to_text());
    assert!(r.to_text().contains("does not pin"), "{}", r.to_text());
    assert!(r.to_text().contains(&s.key.public().fingerprint()));
}

#[tokio::test]
async fn stripped_signatures_fail_a_pinned_verify() {
    let s = setup().await;
    rewrite_chain(&s, None, |_, _| {});
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    assert_eq!(kinds(&r), vec!["unsigned"; 3], "{}", r.to_text());
}

#[tokio::test]
async fn a_key_outside_its_window_or_rotated_in_without_a_record_fails() {
    let s = setup().await;
    let text = |not_after: &str, rotations: Vec<RotationRecord>| {
        serde_json::json!({
            "format": keyring::FORMAT,
            "keys": [{"publicKey": s.key.public().to_base64(), "notAfter": not_after}],
            "rotations": rotations,
        })
        .to_string()
    };
    let mut o = pinned(&s);
    o.keyring = Some(Keyring::parse(&text("2026-06-15T10:30:00Z", vec![]), "ring").unwrap());
    let r = verify(&s.store, &o).await.unwrap();
    assert_eq!(kinds(&r), vec!["signature"; 2], "{}", r.to_text());

    // The operator rotates to a new key at 11:30: without the record, its manifests fail;
    // with the record signed by the old key, they verify.
    let new = SigningKey::generate().unwrap();
    let old = s.key.clone();
    let mut previous: Option<String> = None;
    for (i, k) in s.manifests.iter().enumerate() {
        let path = s.root.join(k);
        let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        m["previous"] = previous.clone().map_or(Value::Null, Value::String);
        let key = if i == 2 { &new } else { &old };
        m.as_object_mut().unwrap().remove("signature");
        m["publicKey"] = key.public().to_base64().into();
        m["keyFingerprint"] = key.public().fingerprint().into();
        m["signature"] = key.sign(&manifest::signing_bytes_of(m.clone())).into();
        let bytes = canonical::value_to_vec(&m);
        previous = Some(soc2_evidence::sha256_hex(&bytes));
        std::fs::write(&path, bytes).unwrap();
    }
    o.keyring = Some(Keyring::single(old.public(), "ring"));
    let r = verify(&s.store, &o).await.unwrap();
    assert_eq!(kinds(&r), vec!["signature"], "{}", r.to_text());
    let record = RotationRecord::sign(&old, &new.public(), t("2026-06-15T11:30:00Z")).unwrap();
    o.keyring = Some(Keyring::parse(&text("2026-12-31T00:00:00Z", vec![record]), "ring").unwrap());
    let r = verify(&s.store, &o).await.unwrap();
    assert!(r.ok(), "{}", r.to_text());
    assert_eq!(r.chains[0].signed, 3);
}

#[tokio::test]
async fn a_sequence_of_u64_max_is_a_break_not_a_panic() {
    let s = setup().await;
    rewrite_chain(&s, Some(&s.key), |i, m| {
        if i == 0 {
            m["sequence"] = u64::MAX.into();
        }
    });
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    assert!(kinds(&r).contains(&"sequence"), "{}", r.to_text());
    // The writer refuses to continue the chain instead of overflowing.
    rewrite_chain(&s, Some(&s.key), |i, m| {
        if i == 2 {
            m["sequence"] = u64::MAX.into();
        }
    });
    let fixture = s.tmp.path().join("manifests");
    let mut writer = Writer::open(
        s.store.clone(),
        config("prod", "hourly", Some(s.key.clone())),
    )
    .await
    .unwrap();
    let at = t("2026-06-15T13:00:00Z");
    let (snap, eval) = evaluate(&fixture, at);
    let e = writer
        .write(&eval, &snap, at)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be followed"), "{e}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_or_symlink_in_place_of_a_document_is_reported_not_read() {
    let s = setup().await;
    let folder = Path::new(&s.manifests[1]).parent().unwrap();
    let doc = s.root.join(folder).join("results.json");
    std::fs::remove_file(&doc).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&doc)
        .status()
        .unwrap();
    assert!(status.success());
    let inv = s
        .root
        .join(Path::new(&s.manifests[2]).parent().unwrap())
        .join("inventory.json");
    std::fs::remove_file(&inv).unwrap();
    std::os::unix::fs::symlink(s.root.join(&s.manifests[0]), &inv).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), verify(&s.store, &pinned(&s)))
        .await
        .expect("verify must not block on a FIFO")
        .unwrap();
    let problems: Vec<_> = r.chains[0].problems.iter().collect();
    assert!(
        problems.iter().any(|p| p.kind == "not-regular"
            && p.key.ends_with("results.json")
            && p.message.contains("FIFO")),
        "{}",
        r.to_text()
    );
    assert!(
        problems.iter().any(|p| p.kind == "not-regular"
            && p.key.ends_with("inventory.json")
            && p.message.contains("symbolic link")),
        "{}",
        r.to_text()
    );
}

#[tokio::test]
async fn oversized_objects_are_checked_from_the_listing_and_not_read() {
    let s = setup().await;
    let folder = Path::new(&s.manifests[0]).parent().unwrap();
    let doc = s.root.join(folder).join("results.json");
    let mut bytes = std::fs::read(&doc).unwrap();
    bytes.resize(3 << 20, b' ');
    std::fs::write(&doc, bytes).unwrap();
    let mut big =
        serde_json::from_slice::<Value>(&std::fs::read(s.root.join(&s.manifests[2])).unwrap())
            .unwrap();
    big["padding"] = "x".repeat(2 << 20).into();
    std::fs::write(s.root.join(&s.manifests[2]), canonical::value_to_vec(&big)).unwrap();
    let mut o = pinned(&s);
    o.limits = Limits {
        max_manifest_bytes: 1 << 20,
        max_document_bytes: 2 << 20,
    };
    let r = verify(&s.store, &o).await.unwrap();
    let too_large: Vec<&str> = r.chains[0]
        .problems
        .iter()
        .filter(|p| p.kind == "too-large")
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(too_large.len(), 2, "{}", r.to_text());
    assert!(too_large.iter().any(|k| k.ends_with("results.json")));
    assert!(too_large.contains(&s.manifests[2].as_str()));
}

#[tokio::test]
async fn non_canonical_manifest_bytes_and_a_wrong_folder_digest_are_breaks() {
    let s = setup().await;
    // Same JSON, different bytes: the chain link would follow the bytes, the signature the
    // canonical form; the two must agree.
    let p = s.root.join(&s.manifests[2]);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.push(b'\n');
    std::fs::write(&p, bytes).unwrap();
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    assert!(
        r.chains[0]
            .problems
            .iter()
            .any(|p| p.kind == "manifest" && p.message.contains("canonical")),
        "{}",
        r.to_text()
    );
    // A folder renamed to another digest.
    let s = setup().await;
    let folder = Path::new(&s.manifests[2]).parent().unwrap();
    let name = folder.file_name().unwrap().to_str().unwrap();
    let renamed = format!("{}-000000000000", name.split_once('-').unwrap().0);
    std::fs::rename(
        s.root.join(folder),
        s.root.join(folder.with_file_name(renamed)),
    )
    .unwrap();
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    assert_eq!(kinds(&r), vec!["layout"], "{}", r.to_text());
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_chain_does_not_stop_the_others() {
    let s = setup().await;
    // A second chain that cannot be listed: a symlink loop in it.
    let other = s.root.join("other/hourly");
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(&other, other.join("loop")).unwrap();
    let r = verify(&s.store, &pinned(&s)).await.unwrap();
    let prod = r.chains.iter().find(|c| c.cluster == "prod").unwrap();
    assert!(prod.ok(), "{}", r.to_text());
    assert_eq!(prod.signed, 3);
    let other = r.chains.iter().find(|c| c.cluster == "other").unwrap();
    assert_eq!(other.problems[0].kind, "store", "{}", r.to_text());
}

#[tokio::test]
async fn the_report_states_the_pin_in_every_format() {
    let s = setup().await;
    let mut o = ReportOptions {
        from: t("2026-06-15T10:00:00Z"),
        to: t("2026-06-15T12:30:00Z"),
        cluster: None,
        policy: None,
        public_key: None,
        keyring: Some(Keyring::single(s.key.public(), "auditor.json")),
        limits: Limits::default(),
        now: t("2026-06-15T12:30:00Z"),
        expected_schedule: None,
        checkpoints: None,
        timestamps: Default::default(),
        object_lock: Default::default(),
    };
    let r = report::build(&s.store, &o).await.unwrap();
    let fp = s.key.public().fingerprint();
    let oscal = report::oscal::render(&r).to_string();
    for text in [
        report::html::render(&r),
        report::markdown::render(&r),
        oscal.clone(),
        String::from_utf8(canonical::to_vec(&r, "report").unwrap()).unwrap(),
    ] {
        assert!(
            text.contains(&fp) && text.contains("auditor.json"),
            "{text}"
        );
        assert!(!text.contains("NOT PINNED"));
    }
    assert!(oscal.contains("verified against the pinned keys"));
    o.keyring = None;
    let r = report::build(&s.store, &o).await.unwrap();
    for text in [
        report::html::render(&r),
        report::markdown::render(&r),
        report::oscal::render(&r).to_string(),
        String::from_utf8(canonical::to_vec(&r, "report").unwrap()).unwrap(),
    ] {
        assert!(text.contains("NOT PINNED"), "{text}");
    }
}

#[tokio::test]
async fn the_report_parses_the_bytes_that_were_verified() {
    let s = setup().await;
    // Verification keeps the results it hashed; a swap after the read cannot reach the report.
    let mut o = pinned(&s);
    o.keep = Some("results.json".into());
    let r = verify(&s.store, &o).await.unwrap();
    let folder = Path::new(&s.manifests[0]).parent().unwrap();
    let stored = std::fs::read(s.root.join(folder).join("results.json")).unwrap();
    assert_eq!(
        r.chains[0].entries[0].kept.as_deref(),
        Some(stored.as_slice())
    );
    assert!(r.chains[0].entries.iter().all(|e| e.kept.is_some()));
    // A tampered results.json is never kept (so never reported as verified).
    std::fs::write(
        s.root.join(folder).join("results.json"),
        b"{\"controls\":[]}",
    )
    .unwrap();
    let r = verify(&s.store, &o).await.unwrap();
    assert!(r.chains[0].entries[0].kept.is_none());
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_soc2-operator")
}

fn sh(script: &str) -> (i32, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[cfg(unix)]
#[test]
fn keygen_modes_ignore_the_umask_and_a_private_key_is_not_a_public_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let (code, out) = sh(&format!(
        "umask 000; '{}' keygen --out '{}'",
        bin(),
        keys.display()
    ));
    assert_eq!(code, 0, "{out}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join("ed25519.key")), 0o600);
    assert_eq!(mode(&keys.join("ed25519.pub")), 0o644);
    let private = std::fs::read_to_string(keys.join("ed25519.key")).unwrap();
    assert!(private.starts_with("soc2-operator ed25519 private key v1\n"));
    assert!(!out.contains(private.lines().nth(1).unwrap()), "{out}");

    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let (code, out) = sh(&format!(
        "'{}' evidence verify --store '{}' --public-key '{}'",
        bin(),
        store.display(),
        keys.join("ed25519.key").display()
    ));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("PRIVATE key file"), "{out}");
    // No pin and no --insecure-no-pin: a usage error.
    let (code, out) = sh(&format!(
        "'{}' evidence verify --store '{}'",
        bin(),
        store.display()
    ));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--insecure-no-pin"), "{out}");
    let (code, out) = sh(&format!(
        "'{}' report --store '{}' --from 2026-06-15 --to 2026-06-16 --format md",
        bin(),
        store.display()
    ));
    assert_eq!(code, 2, "{out}");
    // A rotation record signed by the old key.
    let next = tmp.path().join("next");
    let (code, out) = sh(&format!(
        "'{}' keygen --out '{}' --rotate-from '{}'",
        bin(),
        next.display(),
        keys.join("ed25519.key").display()
    ));
    assert_eq!(code, 0, "{out}");
    let record: RotationRecord =
        serde_json::from_slice(&std::fs::read(next.join("rotation.json")).unwrap()).unwrap();
    let old = soc2_evidence::PublicKey::read(&keys.join("ed25519.pub")).unwrap();
    let mut ring = Keyring::single(old, "ring");
    ring.apply(&record).unwrap();
    assert_eq!(ring.keys.len(), 2);
}
