//! The fast YAML reader of `manifests::load` must give exactly what serde-saphyr gives: every
//! manifest file the repository holds and a generated folder shaped like `kubectl get -o yaml`
//! output are read through both paths (`load_with` and `load_reference`, `parse_documents` and
//! `parse_documents_reference`) and must give the same documents, the same objects (inventory
//! digests of the decoded, trimmed or untrimmed objects), the same skipped objects and the same
//! errors.

use std::path::{Path, PathBuf};

use serde_json::Value;
use soc2_core::snapshot::manifests::{self, LoadReport, Trim};

#[path = "../examples/served/mod.rs"]
mod served;

/// Folders of the repository holding YAML or JSON manifests (Helm templates are not YAML).
const FIXTURE_ROOTS: &[&str] = &[
    "core/tests/fixtures",
    "operator/tests/fixtures",
    "config",
    "crds",
    "charts/soc2-operator/crds",
    "charts/soc2-operator/ci",
    "charts/soc2-operator/files",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Every manifest file below `dir`, and every folder that directly holds one.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, folders: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    let mut holds = false;
    for p in entries {
        if p.is_dir() {
            walk(&p, files, folders);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(p);
            holds = true;
        }
    }
    if holds {
        folders.push(dir.to_path_buf());
    }
}

/// What a load gave, in a comparable form: objects as inventory lines (with digests of the
/// decoded objects) and per-kind counts, files, ignored kinds and skipped objects; or the error.
fn summary(report: soc2_core::Result<LoadReport>) -> Value {
    match report {
        Ok(r) => serde_json::json!({
            "inventory": r.objects.inventory(),
            "counts": r.objects.counts(),
            "files": r.files,
            "ignored": r.ignored,
            "notEvaluated": r.not_evaluated,
        }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

fn same_load(dir: &Path) -> Value {
    let mut last = Value::Null;
    for trim in [Trim::Yes, Trim::No] {
        let fast = summary(manifests::load_with(dir, trim));
        let reference = summary(manifests::load_reference(dir, trim));
        assert_eq!(fast, reference, "{} ({trim:?})", dir.display());
        last = fast;
    }
    last
}

#[test]
fn every_fixture_file_parses_the_same_through_both_readers() {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for root in FIXTURE_ROOTS {
        walk(&repo().join(root), &mut files, &mut folders);
    }
    assert!(files.len() > 50, "found only {} fixture files", files.len());
    let mut fast = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("fixture reads");
        let reference =
            manifests::parse_documents_reference(file, &text).map_err(|e| e.to_string());
        let got = manifests::parse_documents(file, &text).map_err(|e| e.to_string());
        assert_eq!(got, reference, "{}", file.display());
        if manifests::read_block_yaml(&text).is_some() {
            assert!(
                reference.is_ok(),
                "fast reader took a broken file: {}",
                file.display()
            );
            fast += 1;
        }
    }
    // Most fixtures are hand-written block YAML; the rest use flow style, anchors or JSON.
    assert!(
        fast * 2 > files.len(),
        "the fast reader took only {fast} of {} files",
        files.len()
    );
}

#[test]
fn every_fixture_folder_loads_the_same_through_both_readers() {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for root in FIXTURE_ROOTS {
        walk(&repo().join(root), &mut files, &mut folders);
    }
    let mut objects = 0;
    for folder in &folders {
        objects += same_load(folder)["inventory"]
            .as_array()
            .map_or(0, Vec::len);
    }
    assert!(objects > 100, "fixture folders held only {objects} objects");
}

#[test]
fn a_served_folder_loads_the_same_through_both_readers() {
    for shape in [served::Shape::Served, served::Shape::Plain] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (written, _) = served::write(dir.path(), 400, 9, shape);
        let (mut files, mut folders) = (Vec::new(), Vec::new());
        walk(dir.path(), &mut files, &mut folders);
        for file in &files {
            let text = std::fs::read_to_string(file).expect("reads");
            assert!(
                manifests::read_block_yaml(&text).is_some(),
                "the fast reader left {} to serde-saphyr",
                file.display()
            );
        }
        let loaded = same_load(dir.path());
        assert_eq!(loaded["inventory"].as_array().map(Vec::len), Some(written));
    }
}
