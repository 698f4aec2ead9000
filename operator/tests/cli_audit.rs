//! `soc2-operator audit` end to end: the binary on fixture folders, asserting the exact failing
//! controls and resources and the exit status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
        .arg("audit")
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("binary runs")
}

const AT: &str = "2026-06-15T12:00:00Z";

/// control id -> check id -> failing resources, from `--output json`.
fn failing(json: &Value) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for c in json["controls"].as_array().expect("controls") {
        for check in c["checks"].as_array().expect("checks") {
            if check["status"] != "NonCompliant" {
                continue;
            }
            let resources = check["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(|f| {
                    let r = &f["resource"];
                    match r["namespace"].as_str() {
                        Some(ns) => format!(
                            "{}/{}/{}",
                            r["kind"].as_str().unwrap(),
                            ns,
                            r["name"].as_str().unwrap()
                        ),
                        None => format!(
                            "{}/{}",
                            r["kind"].as_str().unwrap(),
                            r["name"].as_str().unwrap()
                        ),
                    }
                })
                .collect();
            out.entry(c["controlId"].as_str().unwrap().to_string())
                .or_default()
                .insert(check["check"].as_str().unwrap().to_string(), resources);
        }
    }
    out
}

#[test]
fn demo_cluster_fails_exactly_the_planted_violations() {
    let out = audit(&[
        "--manifests",
        "config/examples/demo-cluster",
        "--at",
        AT,
        "--output",
        "json",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(&stdout).expect("json output");
    let expected: BTreeMap<String, BTreeMap<String, Vec<String>>> =
        serde_json::from_value(serde_json::json!({
            "CC6.1": {
                "access.api-server-authentication": ["Pod/kube-system/kube-apiserver-control-plane"],
                "network.default-deny": ["Namespace/legacy"],
                "rbac.cluster-admin": ["ClusterRoleBinding/contractor-admin"]
            },
            "CC6.3": {
                "rbac.access-review-current": ["Soc2Control/soc2-cc6-3"],
                "rbac.privilege-escalation": ["User/alice@contractor.example"],
                "rbac.secrets-access": ["ClusterRoleBinding/contractor-admin"]
            },
            "CC6.6": {
                "network.restricted-exposure": ["Service/web/storefront-lb"],
                "tls.ingress": ["Ingress/web/storefront"]
            },
            "CC6.8": {
                "workload.pod-security-admission": ["Namespace/legacy"],
                "workload.privileged": ["Deployment/legacy/billing-batch"],
                "workload.trusted-images": ["Deployment/legacy/billing-batch"]
            },
            "CC6.7": {"tls.certificates-valid": ["Ingress/web/storefront"]},
            "CC7.1": {
                "vulnerability.remediation-sla": ["Deployment/web/storefront"],
                "vulnerability.scan-coverage": ["Deployment/web/storefront"]
            },
            "CC7.2": {"logging.audit-log": ["Pod/kube-system/kube-apiserver-control-plane"]},
            "CC8.1": {
                "change.gitops-managed": ["Deployment/legacy/billing-batch"],
                "change.gitops-reconciled": [
                    "Application/argocd/storefront",
                    "HelmRelease/legacy/billing-batch"
                ]
            },
            "A1.1": {"monitoring.alerting": ["Cluster/alertmanager"]},
            "A1.2": {
                "backup.restore-tested": ["Cluster/restores"],
                "backup.schedule-coverage": ["Namespace/legacy"]
            },
            "C1.1": {
                "data.classification": ["Namespace/legacy"],
                "data.credentials-in-plain-config": ["ConfigMap/legacy/billing-config"]
            }
        }))
        .unwrap();
    assert_eq!(failing(&json), expected);
    let statuses: BTreeMap<String, String> = json["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["controlId"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses["CC6.2"], "Compliant");
    assert_eq!(statuses["CC6.7"], "NonCompliant");
    assert_eq!(statuses["CC7.2"], "NonCompliant");
    assert_eq!(statuses["A1.1"], "NonCompliant");
    assert!(
        !stdout.contains("hunter2"),
        "a credential value leaked into the output"
    );
    assert!(
        !stdout.contains("never-loaded-by-the-operator"),
        "Secret data leaked into the output"
    );
}

#[test]
fn table_output_groups_by_criteria_and_names_resources() {
    let out = audit(&["--manifests", "config/examples/demo-cluster", "--at", AT]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let security = text.find("\nSecurity\n").expect("Security group");
    let availability = text.find("\nAvailability\n").expect("Availability group");
    let confidentiality = text
        .find("\nConfidentiality\n")
        .expect("Confidentiality group");
    assert!(security < availability && availability < confidentiality);
    assert!(text.contains("ClusterRoleBinding/contractor-admin"));
    assert!(
        text.contains("12 controls, 1 passing, 11 failing"),
        "{text}"
    );
    assert!(!text.contains("\x1b["), "no colour when not a terminal");
}

#[test]
fn compliant_cluster_exits_zero() {
    let out = audit(&[
        "--manifests",
        "operator/tests/fixtures/compliant/cluster.yaml",
        "--controls",
        "operator/tests/fixtures/compliant/controls.yaml",
        "--at",
        AT,
        "--output",
        "yaml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("status: Compliant"));
}

#[test]
fn malformed_manifest_names_the_file_and_exits_2() {
    let out = audit(&["--manifests", "operator/tests/fixtures/broken", "--at", AT]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("fixtures/broken/bad.yaml"), "{err}");
    assert!(err.contains("line"), "the parser's line is reported: {err}");
}

#[test]
fn unknown_check_names_the_control_and_field_and_exits_2() {
    let out = audit(&[
        "--manifests",
        "config/examples/demo-cluster",
        "--controls",
        "operator/tests/fixtures/bad-controls",
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("\"typo\""), "{err}");
    assert!(
        err.contains("spec.checks[1].check: unknown check id \"network.default-denny\""),
        "{err}"
    );
}

#[test]
fn missing_folder_is_a_usage_error() {
    let out = audit(&["--manifests", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("does/not/exist")
    );
}

/// Findings (check, resource JSON) of `--output json`.
fn findings(json: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for c in json["controls"].as_array().expect("controls") {
        for check in c["checks"].as_array().expect("checks") {
            for f in check["findings"].as_array().into_iter().flatten() {
                out.push((
                    check["check"].as_str().unwrap().to_string(),
                    f["resource"].clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn a_fresh_cluster_gets_no_finding_on_the_objects_it_creates_itself() {
    let out = audit(&[
        "--manifests",
        "core/tests/fixtures/fresh-cluster-v1.24",
        "--at",
        AT,
        "--output",
        "json",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let system: Vec<_> = findings(&json)
        .into_iter()
        .filter(|(_, r)| {
            let name = r["name"].as_str().unwrap_or("");
            let ns = r["namespace"].as_str().unwrap_or("");
            name.starts_with("system:")
                || ["kube-system", "kube-public", "kube-node-lease"].contains(&ns)
                || ["kube-system", "kube-public", "kube-node-lease"].contains(&name)
        })
        .collect();
    assert!(
        system.is_empty(),
        "findings on objects the control plane creates by itself: {system:#?}"
    );
    // The audit did run: the objects were read and the checks evaluated.
    assert!(
        json["objects"].as_u64().unwrap() > 100,
        "{}",
        json["objects"]
    );
}

#[test]
fn legacy_api_versions_are_evaluated_and_unknown_ones_listed_not_evaluated() {
    let out = audit(&[
        "--manifests",
        "operator/tests/fixtures/legacy",
        "--at",
        AT,
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the controls decide the exit code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let failing = failing(&json);
    assert_eq!(
        failing["CC6.8"]["workload.privileged"],
        vec!["CronJob/shop/nightly-report"],
        "the batch/v1beta1 CronJob is evaluated"
    );
    assert_eq!(
        failing["CC6.6"]["tls.ingress"],
        vec!["Ingress/shop/storefront"],
        "the extensions/v1beta1 Ingress is evaluated"
    );
    let not_evaluated = json["notEvaluated"].as_array().expect("notEvaluated");
    assert_eq!(not_evaluated.len(), 1, "{not_evaluated:#?}");
    let n = &not_evaluated[0];
    assert!(
        n["file"]
            .as_str()
            .unwrap()
            .ends_with("legacy/unknown-version.yaml"),
        "{n}"
    );
    assert_eq!(n["kind"], "Deployment");
    assert_eq!(n["name"], "future");
    assert!(
        n["reason"].as_str().unwrap().contains("apps/v2"),
        "the reason names the version: {n}"
    );

    let table = audit(&["--manifests", "operator/tests/fixtures/legacy", "--at", AT]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("1 object(s) not evaluated") && text.contains("unknown-version.yaml"),
        "{text}"
    );
}
