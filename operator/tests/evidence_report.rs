//! The period report: statistics per control, completeness, integrity, fleet, and the HTML,
//! Markdown, JSON and OSCAL renderings (OSCAL validated against NIST's JSON schema).

mod evidence_support;

use std::path::{Path, PathBuf};

use evidence_support::*;
use serde_json::json;
use soc2_evidence::bundle::{Bundle, Document, RESULTS};
use soc2_evidence::report::{self, PeriodReport, ReportOptions, html, markdown, oscal};
use soc2_evidence::{SigningKey, Store, Writer, canonical};

fn results(at: &str, a: &str, b: &str) -> Bundle {
    let control = |name: &str, id: &str, status: &str, exceptions: serde_json::Value| {
        json!({
            "name": name, "controlId": id, "criteria": "Security", "title": format!("{id} title"),
            "status": status, "failing": if status == "NonCompliant" { 2 } else { 0 },
            "excepted": 0, "resourcesChecked": 10, "checks": [], "exceptions": exceptions,
            "attestations": []
        })
    };
    let exc = json!([{
        "index": 0, "check": "rbac.wildcards", "resources": [], "reason": "vendor operator needs it",
        "approvedBy": "alice@example.com", "expires": "2026-07-01", "ticket": "SEC-42",
        "expired": false, "matched": 2
    }]);
    let doc = json!({
        "evaluatedAt": at, "objects": 10,
        "controls": [control("soc2-cc6-1", "CC6.1", a, json!([])), control("soc2-cc6-3", "CC6.3", b, exc)]
    });
    Bundle {
        documents: vec![Document {
            name: RESULTS.into(),
            bytes: canonical::value_to_vec(&doc),
        }],
    }
}

const SERIES: [(&str, &str, &str); 5] = [
    ("2026-06-15T00:00:05Z", "Compliant", "NonCompliant"),
    ("2026-06-15T01:00:05Z", "NonCompliant", "NonCompliant"),
    ("2026-06-15T02:00:05Z", "Compliant", "NonCompliant"),
    // 03:00 missed
    ("2026-06-15T04:00:05Z", "Compliant", "Compliant"),
    ("2026-06-15T05:00:05Z", "Compliant", "NonCompliant"),
];

async fn fleet(root: &Path, key: &SigningKey) -> Store {
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    let mut w = Writer::open(
        store.clone(),
        config("prod-eu", "hourly", Some(key.clone())),
    )
    .await
    .unwrap();
    w.set_provenance(live());
    for (at, a, b) in SERIES {
        w.write_bundle(&results(at, a, b), t(at)).await.unwrap();
    }
    let mut w = Writer::open(
        store.clone(),
        config("prod-us", "hourly", Some(key.clone())),
    )
    .await
    .unwrap();
    w.set_provenance(live());
    let at = "2026-06-15T05:30:00Z";
    w.write_bundle(&results(at, "Compliant", "Compliant"), t(at))
        .await
        .unwrap();
    store
}

fn options(cluster: Option<&str>, key: &SigningKey) -> ReportOptions {
    ReportOptions {
        from: t("2026-06-15T00:00:00Z"),
        to: t("2026-06-15T06:00:00Z"),
        cluster: cluster.map(str::to_string),
        policy: None,
        public_key: Some(key.public()),
        keyring: None,
        limits: Default::default(),
        now: t("2026-06-16T00:00:00Z"),
        expected_schedule: None,
        checkpoints: None,
        timestamps: Default::default(),
        object_lock: Default::default(),
    }
}

#[tokio::test]
async fn period_statistics_per_control() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = fleet(tmp.path(), &key).await;
    let r = report::build(&store, &options(Some("prod-eu"), &key))
        .await
        .unwrap();
    assert_eq!(r.clusters.len(), 1);
    let c = &r.clusters[0];
    assert!(c.integrity.verified, "{:?}", c.integrity);
    assert_eq!(c.integrity.signed, 5);
    assert_eq!((c.completeness.expected, c.completeness.present), (6, 5));
    assert_eq!(c.completeness.gaps.len(), 1);
    assert_eq!(c.completeness.gaps[0].from, "2026-06-15T03:00:00Z");

    let a = &c.controls[0];
    assert_eq!(
        (a.control_id.as_str(), a.evaluations, a.compliant),
        ("CC6.1", 5, 4)
    );
    assert!((a.share_compliant.unwrap() - 0.8).abs() < 1e-9);
    let w = a.longest_non_compliant.as_ref().unwrap();
    assert_eq!(
        (w.from.as_str(), w.to.as_str(), w.seconds, w.open),
        ("2026-06-15T01:00:05Z", "2026-06-15T02:00:05Z", 3600, false)
    );
    assert_eq!(a.state_at_end, "Compliant");
    assert!(a.exceptions.is_empty());

    let b = &c.controls[1];
    assert_eq!((b.evaluations, b.compliant), (5, 1));
    let w = b.longest_non_compliant.as_ref().unwrap();
    assert_eq!(
        (w.from.as_str(), w.to.as_str(), w.evaluations),
        ("2026-06-15T00:00:05Z", "2026-06-15T04:00:05Z", 3)
    );
    assert_eq!(b.state_at_end, "NonCompliant");
    assert_eq!(b.exceptions.len(), 1);
    let e = &b.exceptions[0];
    assert_eq!(
        (
            e.approved_by.as_str(),
            e.expires.as_str(),
            e.findings_covered
        ),
        ("alice@example.com", "2026-07-01", 10)
    );
    assert_eq!(
        (e.first_seen.as_str(), e.last_seen.as_str()),
        ("2026-06-15T00:00:05Z", "2026-06-15T05:00:05Z")
    );

    // The fleet: every cluster in the bucket.
    let all = report::build(&store, &options(None, &key)).await.unwrap();
    let names: Vec<_> = all.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(names, ["prod-eu", "prod-us"]);
    assert_eq!(all.clusters[1].completeness.present, 1);
}

#[tokio::test]
async fn tampered_snapshots_do_not_count_and_the_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = fleet(tmp.path(), &key).await;
    let doc = walk(tmp.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("20260615T010005Z") && p.ends_with(RESULTS))
        .unwrap();
    let text = std::fs::read_to_string(&doc)
        .unwrap()
        .replace("NonCompliant", "Compliant___X");
    std::fs::write(&doc, text).unwrap();
    let r = report::build(&store, &options(Some("prod-eu"), &key))
        .await
        .unwrap();
    let c = &r.clusters[0];
    assert!(!c.integrity.verified);
    assert!(
        c.integrity
            .problems
            .iter()
            .any(|p| p.starts_with("digest ")),
        "{:?}",
        c.integrity.problems
    );
    assert_eq!(c.completeness.rejected, 1);
    assert_eq!(c.controls[0].evaluations, 4);
    assert!(markdown::render(&r).contains("**BROKEN**"));
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
    out
}

async fn sample() -> (tempfile::TempDir, PeriodReport) {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = fleet(tmp.path(), &key).await;
    let r = report::build(&store, &options(None, &key)).await.unwrap();
    (tmp, r)
}

#[tokio::test]
async fn html_is_one_self_contained_file_with_svg_timelines() {
    let (_tmp, r) = sample().await;
    let page = html::render(&r);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<style>"));
    assert_eq!(
        page.matches("aria-label=\"timeline of").count(),
        4,
        "one timeline per control and cluster"
    );
    assert_eq!(
        page.matches("aria-label=\"open findings of").count(),
        4,
        "one chart of open findings per control and cluster"
    );
    assert_eq!(page.matches("<svg").count(), 8);
    for external in ["<script", "<link", "src=", "href=\"http", "url(", "@import"] {
        assert!(
            !page.contains(external),
            "external asset or script: {external}"
        );
    }
    assert!(page.contains("alice@example.com") && page.contains("2026-07-01"));
    assert!(page.contains("5</b> of 6 expected"));
}

#[tokio::test]
async fn markdown_and_json() {
    let (_tmp, r) = sample().await;
    let md = markdown::render(&r);
    assert!(md.contains("| CC6.3 (soc2-cc6-3) | Security |"), "{md}");
    assert!(md.contains("5 of 6 expected snapshots (83.3%)"), "{md}");
    assert!(md.contains("alice@example.com"));
    assert!(
        md.contains("vendor operator needs it (ticket SEC-42)"),
        "{md}"
    );
    let json = canonical::to_vec(&r, "report").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        v["clusters"][0]["controls"][1]["stateAtEnd"],
        "NonCompliant"
    );
}

#[tokio::test]
async fn oscal_has_the_required_fields() {
    let (_tmp, r) = sample().await;
    let v = oscal::render(&r);
    let ar = &v["assessment-results"];
    for field in ["uuid", "metadata", "import-ap", "results"] {
        assert!(!ar[field].is_null(), "missing {field}");
    }
    assert_eq!(ar["metadata"]["oscal-version"], "1.1.2");
    for field in ["title", "last-modified", "version"] {
        assert!(ar["metadata"][field].is_string(), "metadata.{field}");
    }
    let res = &ar["results"][0];
    for field in ["uuid", "title", "description", "start", "reviewed-controls"] {
        assert!(!res[field].is_null(), "results[0].{field}");
    }
    let f = &res["findings"][1];
    assert_eq!(f["target"]["target-id"], "cc6.3");
    assert_eq!(f["target"]["status"]["state"], "not-satisfied");
    assert_eq!(
        f["related-observations"][0]["observation-uuid"],
        res["observations"][1]["uuid"]
    );
    assert_eq!(res["observations"][1]["methods"][0], "TEST");
    // Deterministic for the same evidence and period.
    assert_eq!(oscal::render(&r), v);
}

/// Validates against NIST's OSCAL JSON schema with the tool venv's `jsonschema`.
#[tokio::test]
async fn oscal_validates_against_the_nist_json_schema() {
    let (tmp, r) = sample().await;
    let doc = tmp.path().join("ar.json");
    std::fs::write(&doc, serde_json::to_vec_pretty(&oscal::render(&r)).unwrap()).unwrap();
    let mut broken = oscal::render(&r);
    broken["assessment-results"]["results"][0]["findings"][0]["target"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&broken).unwrap()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oscal/oscal_complete_schema.json");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = std::env::var("SOC2_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".tools/venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run scripts/install-tools.sh (it installs jsonschema into .tools/venv)",
        python.display()
    );
    let script = r#"
import json, sys, jsonschema
schema = json.loads(open(sys.argv[1]).read().replace('\\\\p{L}', '\\\\w').replace('\\\\p{N}', '\\\\d'))
v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
errors = list(v.iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:5]:
    print(list(e.absolute_path), e.message[:300])
sys.exit(1 if errors else 0)
"#;
    let run = |file: &Path| {
        std::process::Command::new(&python)
            .args([
                "-c",
                script,
                schema.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let ok = run(&doc);
    assert!(
        ok.status.success(),
        "schema errors: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        !run(&bad).status.success(),
        "the validator must reject a finding without status"
    );
}

#[test]
fn cli_report_formats_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(fleet(&tmp.path().join("store"), &key));
    let store = format!("file://{}", tmp.path().join("store").display());
    let pubkey = tmp.path().join("ed25519.pub");
    std::fs::write(&pubkey, key.public().to_file_text()).unwrap();
    let bin = env!("CARGO_BIN_EXE_soc2-operator");
    for (format, needle) in [
        ("html", "<svg"),
        ("json", "\"clusters\""),
        ("md", "| Control |"),
        ("oscal", "assessment-results"),
    ] {
        let out = tmp.path().join(format!("report.{format}"));
        let o = std::process::Command::new(bin)
            .args([
                "report",
                "--store",
                &store,
                "--from",
                "2026-06-15",
                "--to",
                "2026-06-15T06:00:00Z",
                "--format",
                format,
                "--public-key",
                pubkey.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            std::fs::read_to_string(&out).unwrap().contains(needle),
            "{format}"
        );
    }
    let o = std::process::Command::new(bin)
        .args([
            "report",
            "--store",
            &store,
            "--from",
            "2026-06-16",
            "--to",
            "2026-06-15",
            "--format",
            "md",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn an_open_window_ends_now_when_the_period_has_not_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = fleet(tmp.path(), &key).await;
    let mut o = options(Some("prod-eu"), &key);
    o.to = t("2026-06-30T00:00:00Z");
    o.now = t("2026-06-15T06:00:00Z");
    let r = report::build(&store, &o).await.unwrap();
    let b = &r.clusters[0].controls[1];
    assert_eq!(b.state_at_end, "NonCompliant");
    let w = b.longest_non_compliant.as_ref().unwrap();
    // The open window since 05:00:05 lasts until "now" (06:00), not until June 30, so the
    // closed four-hour window stays the longest.
    assert_eq!((w.to.as_str(), w.open), ("2026-06-15T04:00:05Z", false));
}

/// A writer for `cluster` with `provenance` (and optionally a witness) on an hourly schedule.
async fn writer_for(
    store: &Store,
    key: &SigningKey,
    interval: &str,
    provenance: soc2_evidence::Provenance,
    witness: Option<&Store>,
) -> Writer {
    let mut cfg = config("prod-eu", "hourly", Some(key.clone()));
    cfg.schedule = soc2_evidence::Schedule::parse(None, Some(interval)).unwrap();
    let mut w = Writer::open(store.clone(), cfg).await.unwrap();
    w.set_provenance(provenance);
    if let Some(ws) = witness {
        w.set_witness(ws.clone());
    }
    w
}

#[tokio::test]
async fn deleting_the_newest_failing_snapshots_fails_the_report_with_the_witness() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", tmp.path().join("s").display())).unwrap();
    let witness = Store::from_url(&format!("file://{}", tmp.path().join("w").display())).unwrap();
    let key = SigningKey::generate().unwrap();
    let mut w = writer_for(&store, &key, "1h", live(), Some(&witness)).await;
    let mut keys = Vec::new();
    for (at, status) in [
        ("2026-06-15T00:00:05Z", "Compliant"),
        ("2026-06-15T01:00:05Z", "Compliant"),
        ("2026-06-15T02:00:05Z", "Compliant"),
        ("2026-06-15T03:00:05Z", "Compliant"),
        ("2026-06-15T04:00:05Z", "NonCompliant"),
        ("2026-06-15T05:00:05Z", "NonCompliant"),
    ] {
        keys.push(
            w.write_bundle(&results(at, status, status), t(at))
                .await
                .unwrap()
                .snapshot
                .key,
        );
    }
    for k in &keys[4..] {
        let folder = k.rsplit_once('/').unwrap().0;
        std::fs::remove_dir_all(tmp.path().join("s").join(folder)).unwrap();
    }
    let mut o = options(Some("prod-eu"), &key);
    let r = report::build(&store, &o).await.unwrap();
    assert!(
        r.clusters[0].integrity.verified,
        "the store alone looks fine"
    );
    assert_eq!(r.clusters[0].controls[0].share_compliant, Some(1.0));
    let loaded =
        soc2_evidence::checkpoint::load(&soc2_evidence::checkpoint::Source::Store(witness))
            .await
            .unwrap();
    o.checkpoints = Some(std::sync::Arc::new(loaded));
    let r = report::build(&store, &o).await.unwrap();
    let i = &r.clusters[0].integrity;
    assert!(!i.verified);
    assert_eq!(
        i.problems
            .iter()
            .filter(|p| p.starts_with("deleted"))
            .count(),
        2,
        "{:?}",
        i.problems
    );
}

#[tokio::test]
async fn snapshots_not_read_from_a_live_cluster_never_count_toward_completeness() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", tmp.path().display())).unwrap();
    let key = SigningKey::generate().unwrap();
    // 24 hourly snapshots for a past day, written in one go from a manifests folder.
    let mut w = writer_for(
        &store,
        &key,
        "1h",
        soc2_evidence::Provenance::manifests("./manifests", "cli"),
        None,
    )
    .await;
    for h in 0..24 {
        let at = format!("2026-06-15T{h:02}:00:05Z");
        w.write_bundle(&results(&at, "Compliant", "Compliant"), t(&at))
            .await
            .unwrap();
    }
    let mut o = options(Some("prod-eu"), &key);
    o.to = t("2026-06-16T00:00:00Z");
    let r = report::build(&store, &o).await.unwrap();
    let c = &r.clusters[0];
    assert!(c.integrity.verified);
    assert_eq!((c.completeness.expected, c.completeness.present), (24, 0));
    assert_eq!(c.completeness.not_live, 24);
    assert!(markdown::render(&r).contains("not read from a live cluster"));
}

#[tokio::test]
async fn a_sparser_schedule_at_the_end_does_not_make_the_period_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", tmp.path().display())).unwrap();
    let key = SigningKey::generate().unwrap();
    let mut w = writer_for(&store, &key, "1h", live(), None).await;
    for h in 0..5 {
        let at = format!("2026-06-15T{h:02}:00:05Z");
        w.write_bundle(&results(&at, "Compliant", "Compliant"), t(&at))
            .await
            .unwrap();
    }
    drop(w);
    let mut w = writer_for(&store, &key, "1d", live(), None).await;
    let at = "2026-06-15T05:00:05Z";
    w.write_bundle(&results(at, "Compliant", "Compliant"), t(at))
        .await
        .unwrap();
    let mut o = options(Some("prod-eu"), &key);
    o.to = t("2026-06-16T00:00:00Z");
    let r = report::build(&store, &o).await.unwrap();
    let k = &r.clusters[0].completeness;
    assert_eq!((k.expected, k.present), (24, 6), "{k:?}");
    assert_eq!(k.schedule_changes.len(), 1, "{k:?}");
    assert!(k.schedule_changes[0].contains("sparser"), "{k:?}");
    // The auditor's expected schedule decides when given.
    o.expected_schedule = Some(soc2_evidence::Schedule::parse(None, Some("1h")).unwrap());
    let r = report::build(&store, &o).await.unwrap();
    let k = &r.clusters[0].completeness;
    assert_eq!((k.expected, k.present), (24, 6));
    assert_eq!(
        k.schedule_changes.len(),
        1,
        "the 1d snapshot differs: {k:?}"
    );
}
