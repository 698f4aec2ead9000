//! Operating effectiveness in the period report: a signed chain with known openings and
//! closings (hand-made evaluations written by the evidence Writer to a local store) gives the
//! exact deviations, remediation times and SLA shares; a control never evaluated is "not
//! evaluated", not compliant; populations carry the snapshot keys and digests; a sample is the
//! same for the same seed.

mod evidence_support;

use std::collections::BTreeMap;
use std::path::Path;

use evidence_support::*;
use serde_json::{Value, json};
use soc2_core::engine::aging::finding_id;
use soc2_core::snapshot::ResourceRef;
use soc2_evidence::bundle::{Bundle, Document, RESULTS};
use soc2_evidence::report::{self, ReportOptions, html, markdown, oscal, population};
use soc2_evidence::{SigningKey, Store, Writer, canonical};

const DAY: i64 = 86_400;

/// A finding: check, resource name, message.
#[derive(Clone, Copy)]
struct F(&'static str, &'static str, &'static str);

const F1: F = F("rbac.cluster-admin", "crb-a", "grants cluster-admin"); // carried in, closes day 4
const F2: F = F("rbac.cluster-admin", "crb-b", "grants cluster-admin"); // day 2 → day 5
const F3: F = F("data.classification", "ns-x", "no classification label"); // day 1 → open
const F4: F = F(
    "change.gitops-managed",
    "deploy-a",
    "changed by kubectl 3 times",
); // day 1 → day 6
const F5: F = F("change.gitops-managed", "deploy-b", "changed by kubectl"); // day 3 → open
const F6: F = F("rbac.cluster-admin", "crb-c", "grants cluster-admin"); // day 6 (excepted 6–7) → day 9

fn resource(f: F) -> ResourceRef {
    ResourceRef::new("ClusterRoleBinding", None, f.1)
}

/// One check: its findings (failing) and excepted findings; `with_ids` writes the ids as the
/// current writer does, without them as snapshots written before ids were recorded.
fn check(
    id: &str,
    severity: &str,
    status: &str,
    failing: &[F],
    excepted: &[F],
    with_ids: bool,
) -> Value {
    let item = |f: &F| {
        let r = resource(*f);
        let mut v = json!({ "resource": r, "message": f.2 });
        if with_ids {
            v["id"] = json!(finding_id(f.0, &r, f.2));
        }
        v
    };
    let status = if status.is_empty() {
        if failing.is_empty() {
            "Compliant"
        } else {
            "NonCompliant"
        }
    } else {
        status
    };
    json!({
        "check": id, "title": id, "criteria": ["Security"], "severity": severity, "status": status,
        "resourcesChecked": 5,
        "findings": failing.iter().map(item).collect::<Vec<_>>(),
        "excepted": excepted.iter().map(item).collect::<Vec<_>>(),
    })
}

fn control(name: &str, id: &str, checks: Vec<Value>, sla: Option<Value>) -> Value {
    let failing: usize = checks
        .iter()
        .filter(|c| c["status"] == "NonCompliant")
        .map(|c| c["findings"].as_array().map_or(0, Vec::len))
        .sum();
    let status = if checks.iter().all(|c| c["status"] == "NotApplicable") {
        "NotApplicable"
    } else if failing > 0 {
        "NonCompliant"
    } else {
        "Compliant"
    };
    let mut c = json!({
        "name": name, "controlId": id, "criteria": "Security", "title": format!("{id} title"),
        "status": status, "failing": failing, "excepted": 0, "resourcesChecked": 5,
        "checks": checks, "exceptions": [], "attestations": []
    });
    if let Some(s) = sla {
        c["remediationSla"] = s;
    }
    c
}

fn at(day: i64) -> String {
    soc2_evidence::rfc3339(
        t("2026-03-01T06:00:00Z")
            .checked_add(jiff::SignedDuration::from_secs(day * DAY))
            .unwrap(),
    )
}

/// The evaluation of day `d` (0..=10).
fn day(d: i64) -> Bundle {
    let open = |from: i64, to: Option<i64>| d >= from && to.is_none_or(|t| d < t);
    let with_ids = d >= 5; // days 0–4 as written before ids were recorded
    let mut admin: Vec<F> = Vec::new();
    let mut admin_excepted: Vec<F> = Vec::new();
    if open(0, Some(4)) {
        admin.push(F1);
    }
    if open(2, Some(5)) {
        admin.push(F2);
    }
    if open(6, Some(8)) {
        admin_excepted.push(F6);
    } else if open(8, Some(9)) {
        admin.push(F6);
    }
    let class: Vec<F> = if open(1, None) { vec![F3] } else { vec![] };
    // Day 7: the classification check did not run (its API absent): F3 stays open.
    let class_status = if d == 7 { "NotApplicable" } else { "" };
    let class = if d == 7 { vec![] } else { class };
    let mut gitops: Vec<F> = Vec::new();
    if open(1, Some(6)) {
        gitops.push(F4);
    }
    if open(3, None) {
        gitops.push(F5);
    }
    let doc = json!({
        "evaluatedAt": at(d), "objects": 5,
        "controls": [
            control("soc2-cc6-1", "CC6.1", vec![
                check("rbac.cluster-admin", "Critical", "", &admin, &admin_excepted, with_ids),
                check("data.classification", "Medium", class_status, &class, &[], with_ids),
            ], None),
            control("soc2-cc7-2", "CC7.2", vec![
                check("monitoring.agents-ready", "High", "NotApplicable", &[], &[], with_ids),
            ], None),
            control("soc2-cc8-1", "CC8.1", vec![
                check("change.gitops-managed", "High", "", &gitops, &[], with_ids),
            ], Some(json!({ "high": "2d" }))),
        ]
    });
    Bundle {
        documents: vec![Document {
            name: RESULTS.into(),
            bytes: canonical::value_to_vec(&doc),
        }],
    }
}

/// Writes days 0..=10; returns the store and the manifest key of each day.
async fn chain(root: &Path, key: &SigningKey) -> (Store, BTreeMap<i64, (String, String)>) {
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    let mut w = Writer::open(store.clone(), config("prod", "daily", Some(key.clone())))
        .await
        .unwrap();
    w.set_provenance(live());
    let mut keys = BTreeMap::new();
    for d in 0..=10 {
        let written = w.write_bundle(&day(d), t(&at(d))).await.unwrap();
        keys.insert(d, (written.snapshot.key, written.snapshot.digest));
    }
    (store, keys)
}

fn options(key: &SigningKey) -> ReportOptions {
    ReportOptions {
        from: t(&at(0)),
        to: t(&at(10)),
        cluster: None,
        policy: None,
        public_key: Some(key.public()),
        keyring: None,
        limits: Default::default(),
        now: t("2026-04-01T00:00:00Z"),
        expected_schedule: None,
        checkpoints: None,
        timestamps: Default::default(),
        object_lock: Default::default(),
    }
}

#[tokio::test]
async fn a_chain_with_known_openings_and_closings_gives_the_exact_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let (store, keys) = chain(tmp.path(), &key).await;
    let r = report::build(&store, &options(&key)).await.unwrap();
    let c = &r.clusters[0];
    assert!(c.integrity.verified, "{:?}", c.integrity);

    // Whole chain: deviations F2–F6, F1 carried in; remediated F6 1d, F2 3d, F1 4d, F4 5d.
    let e = &c.effectiveness;
    assert_eq!((e.deviations, e.carried_in, e.remediated), (5, 1, 4));
    assert_eq!(e.remediation_median_seconds, Some(3 * DAY));
    assert_eq!(e.remediation_p90_seconds, Some(5 * DAY));
    assert_eq!(e.remediation_max_seconds, Some(5 * DAY));
    // F4 (High, SLA 2d on soc2-cc8-1) took 5 days; the Critical ones were within 30 days.
    assert_eq!((e.remediated_within_sla, e.remediated_with_sla), (3, 4));
    assert_eq!(e.share_within_sla, Some(0.75));
    // Open: F3 (Medium, 9 days of 90) and F5 (High, 7 days of 2): one past its SLA.
    assert_eq!((e.open_at_end, e.overdue_at_end), (2, 1));
    assert_eq!(r.effectiveness, *e);

    let cc61 = &c.controls[0];
    assert_eq!(cc61.control_id, "CC6.1");
    let e = &cc61.effectiveness;
    assert_eq!((e.deviations, e.carried_in, e.remediated), (3, 1, 3));
    assert_eq!(
        (
            e.remediation_median_seconds,
            e.remediation_p90_seconds,
            e.remediation_max_seconds
        ),
        (Some(3 * DAY), Some(4 * DAY), Some(4 * DAY))
    );
    assert_eq!(e.share_within_sla, Some(1.0));
    assert_eq!((e.open_at_end, e.overdue_at_end), (1, 0));

    let by_id: BTreeMap<&str, &report::FindingLife> = cc61
        .findings
        .iter()
        .map(|f| (f.resource.as_str(), f))
        .collect();
    // F6: open day 6 → closed day 9, two days under an exception: 1 day to remediate.
    let f6 = by_id["ClusterRoleBinding crb-c"];
    assert_eq!(f6.paused_seconds, 2 * DAY);
    assert_eq!(f6.remediation_seconds, Some(DAY));
    assert_eq!(f6.opened.key, keys[&6].0);
    assert_eq!(f6.closed.as_ref().unwrap().key, keys[&9].0);
    assert_eq!(f6.closed.as_ref().unwrap().digest, keys[&9].1);
    // F1 is carried in: opened in the first snapshot, not a deviation.
    let f1 = by_id["ClusterRoleBinding crb-a"];
    assert!(!f1.opened_in_period);
    assert_eq!(f1.remediation_seconds, Some(4 * DAY));
    // F3 did not close on day 7, when its check did not run; 9 days old at the end.
    let f3 = by_id["ClusterRoleBinding ns-x"];
    assert!(f3.closed.is_none());
    assert_eq!(f3.age_at_end_seconds, Some(9 * DAY));
    assert_eq!(f3.id, finding_id(F3.0, &resource(F3), F3.2));
    // The id written from day 5 on is the id computed for days 0–4: one finding, not two.
    let f4 = c.controls[2]
        .findings
        .iter()
        .find(|f| f.resource.ends_with("deploy-a"))
        .unwrap();
    assert_eq!(
        (
            f4.opened.time.as_str(),
            f4.closed.as_ref().unwrap().time.as_str()
        ),
        (at(1).as_str(), at(6).as_str())
    );
    assert_eq!(
        (f4.sla_seconds, f4.within_sla),
        (Some(2 * DAY), Some(false))
    );

    let cc82 = &c.controls[2];
    let e = &cc82.effectiveness;
    assert_eq!(
        (e.deviations, e.remediated, e.share_within_sla),
        (2, 1, Some(0.0))
    );
    assert_eq!((e.open_at_end, e.overdue_at_end), (1, 1));

    // Open findings over time (the HTML chart): day 0 F1; day 3 F1 F2 F3 F4 F5; day 10 F3 F5.
    let open: Vec<usize> = cc61.timeline.iter().map(|p| p.open).collect();
    assert_eq!(open, vec![1, 2, 3, 3, 2, 1, 2, 2, 2, 1, 1]);
}

#[tokio::test]
async fn a_control_never_evaluated_is_not_evaluated_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let (store, _) = chain(tmp.path(), &key).await;
    let r = report::build(&store, &options(&key)).await.unwrap();
    let na = &r.clusters[0].controls[1];
    assert_eq!(na.control_id, "CC7.2");
    assert_eq!((na.evaluations, na.not_evaluated), (0, 11));
    assert_eq!(na.share_compliant, None);
    assert_eq!(report::share_text(na), "not evaluated");
    let md = markdown::render(&r);
    let row = md.lines().find(|l| l.starts_with("| CC7.2 (")).unwrap();
    assert!(row.contains("not evaluated"), "{row}");
    assert!(!row.contains("100.0%"), "{row}");
    assert!(
        md.contains(
            "| **All controls** | 5 | 1 | 4 | 3d 0h | 5d 0h | 5d 0h | 75.0% (3 of 4) | 2 | 1 |"
        ),
        "{md}"
    );
    let page = html::render(&r);
    assert!(page.contains("not evaluated in the period"));
    assert!(page.contains("aria-label=\"open findings of CC6.1 over the period, at most 3\""));
    assert!(!page.contains("<script"));
    let json = String::from_utf8(canonical::to_vec(&r, "report").unwrap()).unwrap();
    assert!(
        json.contains("\"remediationMedianSeconds\":259200"),
        "{json}"
    );
    let o = oscal::render(&r);
    let text = o.to_string();
    assert!(text.contains("\"not-evaluated\""), "{text}");
    assert!(text.contains("\"name\":\"deviations\""), "{text}");
}

#[tokio::test]
async fn populations_carry_snapshot_keys_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let (store, keys) = chain(tmp.path(), &key).await;
    let r = report::build(&store, &options(&key)).await.unwrap();
    let p = population::findings(&r);
    assert_eq!(p.items.len(), 6);
    let csv = p.to_csv();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("cluster,policy,control,control_id,finding_id,check"));
    let col = |name: &str| header.split(',').position(|h| h == name).unwrap();
    let row = csv.lines().find(|l| l.contains("deploy-a")).unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!(fields[col("opened_snapshot")], keys[&1].0);
    assert_eq!(fields[col("opened_manifest_sha256")], keys[&1].1);
    assert_eq!(fields[col("closed_snapshot")], keys[&6].0);
    assert_eq!(fields[col("remediation_seconds")], (5 * DAY).to_string());
    assert_eq!(fields[col("within_sla")], "false");

    let s = p.sample(3, 7);
    assert_eq!(s, p.sample(3, 7));
    assert_eq!(s.len(), 3);
    let text = p.sample_text(&s, 7);
    assert!(text.starts_with("Sample of 3 from a population of 6 findings (seed 7"));
    assert!(text.contains("manifest sha256"));
}

fn cli(store: &str, pubkey: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
        .args([
            "report",
            "--store",
            store,
            "--from",
            &at(0),
            "--to",
            &at(10),
            "--public-key",
            pubkey.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn cli_population_and_sample_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(chain(&tmp.path().join("store"), &key));
    let store = format!("file://{}", tmp.path().join("store").display());
    let pubkey = tmp.path().join("ed25519.pub");
    std::fs::write(&pubkey, key.public().to_file_text()).unwrap();

    let o = cli(
        &store,
        &pubkey,
        &["--population", "findings", "--format", "csv"],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let csv = String::from_utf8(o.stdout).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");

    let sample = |seed: &str| {
        let o = cli(
            &store,
            &pubkey,
            &["--population", "findings", "--sample", "2", "--seed", seed],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let a = sample("42");
    assert_eq!(a, sample("42"));
    assert!(
        a.contains("Sample of 2 from a population of 6 findings (seed 42"),
        "{a}"
    );
    assert!(a.contains("opened: "), "{a}");
    let seeds: std::collections::BTreeSet<String> = ["1", "2", "3", "4", "5"]
        .iter()
        .map(|s| sample(s))
        .collect();
    assert!(seeds.len() > 1, "different seeds give different samples");

    let o = cli(&store, &pubkey, &["--population", "exceptions"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .starts_with("cluster,policy,control")
    );
    // A sample needs a seed; a population is CSV only.
    let o = cli(
        &store,
        &pubkey,
        &["--population", "findings", "--sample", "2"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = cli(
        &store,
        &pubkey,
        &["--population", "findings", "--format", "html"],
    );
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--format csv"), "{stderr}");
}

#[tokio::test]
async fn a_finding_back_within_the_grace_period_keeps_its_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = Store::from_url(&format!("file://{}", tmp.path().display())).unwrap();
    let mut w = Writer::open(store.clone(), config("prod", "hourly", Some(key.clone())))
        .await
        .unwrap();
    w.set_provenance(live());
    // Present at hours 0, 1; gone at 2; back at 3 (2h after last seen: same finding); gone
    // from 4; back at 40 (37h after last seen: a new finding).
    let hours = [
        (0, true),
        (1, true),
        (2, false),
        (3, true),
        (4, false),
        (40, true),
    ];
    for (h, present) in hours {
        let time = soc2_evidence::rfc3339(
            t("2026-03-01T00:00:00Z")
                .checked_add(jiff::SignedDuration::from_hours(h))
                .unwrap(),
        );
        let failing: &[F] = if present { &[F1] } else { &[] };
        let doc = json!({
            "evaluatedAt": time, "objects": 1,
            "controls": [control("soc2-cc6-1", "CC6.1", vec![
                check("rbac.cluster-admin", "Critical", "", failing, &[], true)
            ], None)]
        });
        let bundle = Bundle {
            documents: vec![Document {
                name: RESULTS.into(),
                bytes: canonical::value_to_vec(&doc),
            }],
        };
        w.write_bundle(&bundle, t(&time)).await.unwrap();
    }
    let mut o = options(&key);
    o.from = t("2026-03-01T00:00:00Z");
    o.to = t("2026-03-03T00:00:00Z");
    let r = report::build(&store, &o).await.unwrap();
    let f = &r.clusters[0].controls[0].findings;
    assert_eq!(f.len(), 2, "{f:?}");
    // The first: carried in at hour 0, the flap at hour 2 did not close it; closed at hour 4.
    assert_eq!(f[0].remediation_seconds, Some(4 * 3600));
    assert!(!f[0].opened_in_period);
    // The return at hour 40 is a new deviation, open at the end.
    assert!(f[1].opened_in_period);
    assert_eq!(f[1].opened.time, "2026-03-02T16:00:00Z");
    assert!(f[1].closed.is_none());
    assert_eq!(r.effectiveness.deviations, 1);
}

#[tokio::test]
async fn the_changes_population_lists_created_modified_and_deleted_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let store = Store::from_url(&format!("file://{}", tmp.path().display())).unwrap();
    let mut w = Writer::open(store.clone(), config("prod", "daily", Some(key.clone())))
        .await
        .unwrap();
    w.set_provenance(live());
    let item = |kind: &str, ns: Option<&str>, name: &str, rv: &str| {
        let mut v = json!({ "apiVersion": "v1", "kind": kind, "name": name,
            "resourceVersion": rv, "digest": format!("hmac-sha256:{kind}{name}{rv}") });
        if let Some(ns) = ns {
            v["namespace"] = json!(ns);
        }
        v
    };
    // Day 0: a, b. Day 1: a modified, c created. Day 2: b deleted; a's digest changes with the
    // same resourceVersion (a new signing key): not a change.
    let days = [
        vec![
            item("ConfigMap", Some("x"), "a", "1"),
            item("Namespace", None, "b", "5"),
        ],
        vec![
            item("ConfigMap", Some("x"), "a", "2"),
            item("Namespace", None, "b", "5"),
            item("Secret", Some("x"), "c", "9"),
        ],
        vec![
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "namespace": "x", "name": "a",
                "resourceVersion": "2", "digest": "hmac-sha256:rotated" }),
            item("Secret", Some("x"), "c", "9"),
        ],
    ];
    let mut keys = Vec::new();
    for (d, items) in days.into_iter().enumerate() {
        let time = at(d as i64);
        let results = json!({ "evaluatedAt": time, "objects": items.len(), "controls": [] });
        let inventory = json!({ "objects": items.len(), "items": items });
        let bundle = Bundle {
            documents: vec![
                Document {
                    name: RESULTS.into(),
                    bytes: canonical::value_to_vec(&results),
                },
                Document {
                    name: soc2_evidence::bundle::INVENTORY.into(),
                    bytes: canonical::value_to_vec(&inventory),
                },
            ],
        };
        keys.push(
            w.write_bundle(&bundle, t(&time))
                .await
                .unwrap()
                .snapshot
                .key,
        );
    }
    let (p, skipped) = population::changes(&store, &options(&key)).await.unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let rows: Vec<(String, String, String, String)> = p
        .items
        .iter()
        .map(|i| {
            (
                i.fields[2].clone(),
                i.fields[4].clone(),
                i.fields[6].clone(),
                i.fields[15].clone(),
            )
        })
        .collect();
    let row = |c: &str, k: &str, n: &str, key: &str| {
        (c.to_string(), k.to_string(), n.to_string(), key.to_string())
    };
    assert_eq!(
        rows,
        vec![
            row("modified", "ConfigMap", "a", &keys[1]),
            row("created", "Secret", "c", &keys[1]),
            row("deleted", "Namespace", "b", &keys[2]),
        ]
    );
    assert_eq!(p.header[15], "after_snapshot");
    let csv = p.to_csv();
    assert!(csv.contains(",modified,v1,ConfigMap,x,a,1,2,"), "{csv}");
}
