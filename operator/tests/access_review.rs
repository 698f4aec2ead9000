//! `soc2-operator access-review` end to end: a chain written by `evidence snapshot
//! --manifests <folder> --at T` over fixture folders whose RBAC changes between quarters,
//! read back through verification.
//!
//! `fixtures/access-review/q1` → `q2`: user carol added to `ops-view`, group sre removed from
//! it, Role `shop/deployer` loses `get secrets` (bob, `ci/deployer` and `shop/batch` hold it),
//! the CronJob that ran as `shop/batch` is gone while its binding stays, and `ci/deployer` is
//! bound but no workload ever runs as it.

mod evidence_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use evidence_support::Moto;

use serde_json::Value;

const T0: &str = "2026-01-05T10:00:00Z";
const T1: &str = "2026-02-01T10:00:00Z";
const T2: &str = "2026-04-10T10:00:00Z";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_soc2-operator")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Chain {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: String,
    pubkey: String,
}

fn snapshot(c: &Chain, cluster: &str, folder: &str, at: &str) {
    let key = c.dir.join("keys/ed25519.key");
    let (code, out, err) = run(&[
        "evidence",
        "snapshot",
        "--manifests",
        &format!("operator/tests/fixtures/access-review/{folder}"),
        "--store",
        &c.store,
        "--cluster",
        cluster,
        "--signing-key",
        key.to_str().unwrap(),
        "--at",
        at,
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

/// q1 at T0, q2 at T1 and T2, signed.
fn chain() -> Chain {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (code, out, err) = run(&["keygen", "--out", dir.join("keys").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let c = Chain {
        store: format!("file://{}", dir.join("store").display()),
        pubkey: dir.join("keys/ed25519.pub").display().to_string(),
        dir,
        _tmp: tmp,
    };
    snapshot(&c, "prod", "q1", T0);
    snapshot(&c, "prod", "q2", T1);
    snapshot(&c, "prod", "q2", T2);
    c
}

fn review(c: &Chain, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "access-review",
        "--store",
        &c.store,
        "--public-key",
        &c.pubkey,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn json(c: &Chain, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.extend_from_slice(&["--output", "json"]);
    let (code, out, err) = review(c, &args);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("json")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quarterly_review_lists_access_changes_and_dormant_accounts_exactly() {
    let c = chain();
    let r = json(&c, &[]);
    assert_eq!(r["verified"], true);
    assert_eq!(r["snapshot"]["time"], T2);

    // Every subject, with its class and permissions.
    let subjects: Vec<(String, String, String)> = r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let label = match s["namespace"].as_str() {
                Some(ns) => format!(
                    "{} {ns}/{}",
                    s["kind"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                ),
                None => format!(
                    "{} {}",
                    s["kind"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                ),
            };
            (
                label,
                s["class"].as_str().unwrap().to_string(),
                strings(&s["permissions"]).join("; "),
            )
        })
        .collect();
    let expect = |l: &str, c: &str, p: &str| (l.to_string(), c.to_string(), p.to_string());
    assert_eq!(
        subjects,
        [
            expect(
                "ServiceAccount shop/api",
                "service",
                "namespace shop: get,list on pods"
            ),
            expect(
                "ServiceAccount shop/batch",
                "service",
                "namespace shop: get,list,patch,update on apps/deployments"
            ),
            expect(
                "ServiceAccount ci/deployer",
                "service",
                "namespace shop: get,list,patch,update on apps/deployments"
            ),
            expect(
                "User alice@example.com",
                "human",
                "cluster: get,list on pods"
            ),
            expect(
                "User bob@example.com",
                "human",
                "namespace shop: get,list,patch,update on apps/deployments"
            ),
            expect(
                "User carol@example.com",
                "human",
                "cluster: get,list on pods"
            ),
        ]
    );

    // Changes since the default previous review (92 days before T2 → the T0 snapshot).
    let ch = &r["changes"];
    assert_eq!(ch["since"], "2026-01-08T10:00:00Z");
    assert_eq!(ch["previous"]["time"], T0);
    assert_eq!(strings(&ch["added"]), ["User carol@example.com"]);
    assert_eq!(strings(&ch["removed"]), ["Group sre"]);
    let changed: Vec<(String, Vec<String>, Vec<String>)> = ch["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap().to_string(),
                strings(&c["gained"]),
                strings(&c["lost"]),
            )
        })
        .collect();
    let lost = vec!["namespace shop: get on secrets".to_string()];
    assert_eq!(
        changed,
        [
            ("ServiceAccount ci/deployer".into(), vec![], lost.clone()),
            ("ServiceAccount shop/batch".into(), vec![], lost.clone()),
            ("User bob@example.com".into(), vec![], lost.clone()),
        ]
    );

    // Dormant: batch last ran at T0, more than 90 days before T2; ci/deployer never ran;
    // shop/api runs in every snapshot.
    let d = &r["dormant"];
    assert_eq!(d["windowStart"], "2026-01-10T10:00:00Z");
    assert_eq!(d["historyFrom"], T0);
    assert_eq!(d["complete"], true);
    let dormant: Vec<(String, Option<String>)> = d["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                format!(
                    "{}/{}",
                    a["namespace"].as_str().unwrap(),
                    a["name"].as_str().unwrap()
                ),
                a["lastUsed"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        dormant,
        [
            ("ci/deployer".to_string(), None),
            ("shop/batch".to_string(), Some(T0.to_string())),
        ]
    );
    // A shorter threshold: batch's last use (T0) is within 120 days of T2, so only the
    // never-used account is left.
    let r = json(&c, &["--dormant-days", "120"]);
    let names: Vec<&str> = r["dormant"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deployer"]);
    assert_eq!(
        r["dormant"]["complete"], false,
        "history starts after T2-120d"
    );

    // The other renderings say the same.
    let (code, text, _) = review(&c, &[]);
    assert_eq!(code, 0);
    assert!(text.contains("  + User carol@example.com\n"), "{text}");
    assert!(text.contains("  - Group sre\n"), "{text}");
    assert!(
        text.contains("      lost   namespace shop: get on secrets\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  shop/batch: Role/shop/deployer@namespace shop (last used: 2026-01-05T10:00:00Z)"
        ),
        "{text}"
    );
    let (_, csv, _) = review(&c, &["--output", "csv"]);
    assert!(
        csv.starts_with("record,kind,namespace,name,detail\n"),
        "{csv}"
    );
    assert!(csv.contains("added,,,User carol@example.com,\n"), "{csv}");
    assert!(
        csv.contains("lost,,,User bob@example.com,namespace shop: get on secrets\n"),
        "{csv}"
    );
    assert!(csv.contains("dormant,ServiceAccount,ci,deployer,"), "{csv}");
    let (_, md, _) = review(&c, &["--output", "markdown"]);
    assert!(md.contains("- Removed: Group sre\n"), "{md}");
}

#[test]
fn at_and_previous_pick_the_snapshots_and_short_history_is_said() {
    let c = chain();
    // The previous review at T1: same folder, nothing changed.
    let r = json(&c, &["--previous", "2026-03-01"]);
    assert_eq!(r["changes"]["previous"]["time"], T1);
    for k in ["added", "removed", "changed"] {
        assert!(r["changes"][k].as_array().unwrap().is_empty(), "{k}: {r}");
    }
    // Reviewing T1: nothing 92 days earlier to compare with, and a history of 27 days only.
    let r = json(&c, &["--at", "2026-02-15"]);
    assert_eq!(r["snapshot"]["time"], T1);
    assert!(r["changes"].get("previous").is_none(), "{r}");
    assert_eq!(r["dormant"]["complete"], false);
    let (code, text, _) = review(&c, &["--at", "2026-02-15"]);
    assert_eq!(code, 0);
    assert!(text.contains("no snapshot at or before"), "{text}");
    assert!(
        text.contains("the evidence records workload accounts only from 2026-01-05T10:00:00Z"),
        "{text}"
    );
    // Only the snapshots needed are read: with the previous review at T1's week and a 30-day
    // window, T0 is not read (history starts at T1)...
    let r = json(&c, &["--previous", "2026-02-05", "--dormant-days", "30"]);
    assert_eq!(r["changes"]["previous"]["time"], T1);
    assert_eq!(r["dormant"]["historyFrom"], T1);
    assert_eq!(r["dormant"]["complete"], true);
    let (_, text, _) = review(&c, &["--previous", "2026-02-05", "--dormant-days", "30"]);
    assert!(
        text.contains("ci/deployer: Role/shop/deployer@namespace shop (last used: not seen since 2026-02-01T10:00:00Z)"),
        "{text}"
    );
    // ...and when the snapshot before --previous lies before that range, the chain is read
    // from its start.
    let r = json(&c, &["--previous", "2026-01-20", "--dormant-days", "30"]);
    assert_eq!(r["changes"]["previous"]["time"], T0);
    assert_eq!(r["dormant"]["historyFrom"], T0);
    // Nothing at or before --at.
    let (code, _, err) = review(&c, &["--at", "2025-12-31"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no evidence") || err.contains("no verified snapshot"),
        "{err}"
    );
}

#[test]
fn bad_input_and_broken_evidence_are_reported() {
    let c = chain();
    let (code, _, err) = review(&c, &["--at", "last quarter"]);
    assert_eq!(code, 2);
    assert!(err.contains("--at"), "{err}");
    let (code, _, err) = review(&c, &["--at", T1, "--previous", T2]);
    assert_eq!(code, 2);
    assert!(err.contains("--previous must be before --at"), "{err}");
    // Nothing pinned and no --insecure-no-pin: refused.
    let (code, _, err) = run(&["access-review", "--store", &c.store]);
    assert_eq!(code, 2, "{err}");

    // A second cluster: the review asks which one.
    snapshot(&c, "staging", "q1", T0);
    let (code, _, err) = review(&c, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("prod/default, staging/default") && err.contains("--cluster"),
        "{err}"
    );
    assert_eq!(json(&c, &["--cluster", "staging"])["snapshot"]["time"], T0);

    // A flipped byte in the newest access-review.json: that snapshot is not used, and the
    // review says the evidence does not verify and exits 1.
    let newest = walk(&c.dir.join("store/prod"))
        .into_iter()
        .filter(|p| p.ends_with("access-review.json"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&newest, bytes).unwrap();
    let (code, out, err) = review(&c, &["--cluster", "prod", "--output", "json"]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verified"], false);
    assert_eq!(
        r["snapshot"]["time"], T1,
        "the tampered snapshot is not reviewed"
    );
    assert!(
        strings(&r["problems"])
            .iter()
            .any(|p| p.contains("[digest]")),
        "{r}"
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
    out
}

/// `audit` with the check's pass and fail control fixtures.
fn audit_control(control: &str) -> (i32, String) {
    let (code, out, err) = run(&[
        "audit",
        "--manifests",
        "operator/tests/fixtures/access-review/q2",
        "--controls",
        &format!("operator/tests/fixtures/access-review/{control}"),
        "--at",
        "2026-06-15T12:00:00Z",
    ]);
    (code, out + &err)
}

#[test]
fn the_check_passes_a_recent_review_and_fails_a_stale_one_naming_who_when_ticket() {
    let (code, out) = audit_control("control-current.yaml");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rbac.access-review-current           Compliant"),
        "{out}"
    );
    let (code, out) = audit_control("control-stale.yaml");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "Soc2Control/soc2-cc6-3: the last access review is 163 days old (more than 92 days): \
             reviewed by bob@example.com on 2026-01-03, ticket SEC-280"
        ),
        "{out}"
    );
}

/// The same review from a local S3 server (moto): the store is read only through the object
/// store client, and credentials are never printed.
#[test]
fn review_from_s3() {
    let moto = Moto::start("evidence");
    let endpoint = moto.endpoint();
    let s3 = |args: &[&str]| {
        let out = Command::new(bin())
            .current_dir(root())
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
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (folder, at) in [("q1", T0), ("q2", T2)] {
        let (code, out, err) = s3(&[
            "evidence",
            "snapshot",
            "--manifests",
            &format!("operator/tests/fixtures/access-review/{folder}"),
            "--cluster",
            "prod",
            "--at",
            at,
        ]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = s3(&["access-review", "--insecure-no-pin", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("testing") && !err.contains("testing"));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(strings(&r["changes"]["added"]), ["User carol@example.com"]);
    assert_eq!(strings(&r["changes"]["removed"]), ["Group sre"]);
    let dormant: Vec<&str> = r["dormant"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(dormant, ["deployer", "batch"]);
}

#[test]
fn quick_look_at_manifests_says_it_is_not_evidence() {
    let (code, out, err) = run(&[
        "access-review",
        "--manifests",
        "operator/tests/fixtures/access-review/q2",
        "--at",
        T2,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not evidence"), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["source"], "manifests");
    assert_eq!(r["verified"], false);
    assert_eq!(r["subjects"].as_array().unwrap().len(), 6);
    assert!(r["changes"].get("previous").is_none());
    let dormant: Vec<&str> = r["dormant"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(dormant, ["deployer", "batch"]);
    assert_eq!(r["dormant"]["complete"], false);
    // No history to compare with, and neither a store nor manifests is a usage error.
    let (code, _, err) = run(&[
        "access-review",
        "--manifests",
        "operator/tests/fixtures/access-review/q2",
        "--previous",
        T0,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--previous needs an evidence --store"),
        "{err}"
    );
    assert_eq!(run(&["access-review"]).0, 2);
}
