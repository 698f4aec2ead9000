//! The generated CRDs: in sync with `crds/`, structural, and their CEL rules refuse what they
//! should.

use std::path::PathBuf;

use serde_json::{Value, json};
use soc2_core::crd::{self, EvidencePolicySpec, Soc2ControlSpec};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn crds_dir_is_in_sync_with_the_types() {
    for c in crd::all() {
        let path = repo_root().join("crds").join(crd::file_name(&c));
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `cargo run -- crdgen`)", path.display()));
        let generated = crd::render_yaml(&c).expect("renders");
        assert!(
            on_disk == generated,
            "{} is out of date: run `cargo run -- crdgen` and commit",
            path.display()
        );
    }
}

/// The structural-schema rules of apiextensions.k8s.io/v1 that generators get wrong.
fn assert_structural(path: &str, schema: &Value, in_logic: bool) {
    let obj = schema
        .as_object()
        .unwrap_or_else(|| panic!("{path}: schema is not an object"));
    for banned in ["$ref", "definitions", "$defs", "$schema"] {
        assert!(!obj.contains_key(banned), "{path}: has {banned}");
    }
    if in_logic {
        for banned in [
            "type",
            "default",
            "additionalProperties",
            "description",
            "nullable",
        ] {
            assert!(
                !obj.contains_key(banned),
                "{path}: {banned} inside allOf/anyOf/oneOf/not"
            );
        }
    } else {
        let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
        assert!(
            obj.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
                || preserve
                || int_or_string,
            "{path}: no type"
        );
        assert!(
            !(obj.contains_key("properties") && obj.contains_key("additionalProperties")),
            "{path}: both properties and additionalProperties"
        );
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(&format!("{path}.{k}"), v, in_logic);
        }
    }
    if let Some(items) = obj.get("items") {
        assert!(items.is_object(), "{path}.items must be a single schema");
        assert_structural(&format!("{path}[]"), items, in_logic);
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        assert_structural(&format!("{path}{{}}"), ap, in_logic);
    }
    for logic in ["allOf", "anyOf", "oneOf"] {
        for (i, s) in obj
            .get(logic)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            assert_structural(&format!("{path}.{logic}[{i}]"), s, true);
        }
    }
    if let Some(s) = obj.get("not") {
        assert_structural(&format!("{path}.not"), s, true);
    }
}

#[test]
fn schemas_are_structural_with_status_and_columns() {
    for c in crd::all() {
        let name = c.metadata.name.clone().unwrap_or_default();
        assert_eq!(c.spec.scope, "Cluster", "{name} is cluster-scoped");
        assert_eq!(c.spec.versions.len(), 1);
        let v = &c.spec.versions[0];
        assert!(v.served && v.storage);
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: status subresource"
        );
        assert!(
            v.additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 4),
            "{name}: printer columns"
        );
        assert!(
            c.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{name}: short names"
        );
        let schema =
            serde_json::to_value(&v.schema.as_ref().expect("schema").open_api_v3_schema).unwrap();
        assert_structural(&name, &schema, false);
        // Every spec field is documented (descriptions become `kubectl explain`).
        fn documented(path: &str, s: &Value) {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    if path.ends_with("metadata")
                        || k == "metadata"
                        || k == "apiVersion"
                        || k == "kind"
                    {
                        continue;
                    }
                    assert!(
                        v.get("description").is_some(),
                        "{path}.{k} has no description"
                    );
                    documented(&format!("{path}.{k}"), v);
                    if let Some(items) = v.get("items") {
                        documented(&format!("{path}.{k}[]"), items);
                    }
                }
            }
        }
        documented(&name, &schema["properties"]["spec"]);
    }
}

fn control(extra: Value) -> Value {
    let mut v = json!({
        "controlId": "CC6.1",
        "criteria": "Security",
        "title": "Logical access",
        "checks": [{"check": "network.default-deny"}],
    });
    if let (Some(base), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            base.insert(k.clone(), x.clone());
        }
    }
    v
}

#[test]
fn cel_accepts_a_valid_control() {
    Soc2ControlSpec::validate_cel(&control(json!({})), None).expect("valid control");
    let with_exception = control(json!({
        "exceptions": [{"check": "network.default-deny", "resources": [{"namespace": "legacy"}],
                        "reason": "migration", "approvedBy": "ciso", "expires": "2026-12-31"}]
    }));
    Soc2ControlSpec::validate_cel(&with_exception, None).expect("valid exception");
}

#[test]
fn cel_refuses_exceptions_and_attestations_for_unlisted_checks() {
    let bad_exception = control(json!({
        "exceptions": [{"check": "rbac.wildcards", "resources": [{"namespace": "legacy"}],
                        "reason": "x", "approvedBy": "ciso", "expires": "2026-12-31"}]
    }));
    assert!(Soc2ControlSpec::validate_cel(&bad_exception, None).is_err());
    let bad_attestation = control(json!({
        "attestations": [{"check": "logging.audit-log", "statement": "x", "attestedBy": "ciso", "expires": "2026-12-31"}]
    }));
    assert!(Soc2ControlSpec::validate_cel(&bad_attestation, None).is_err());
}

#[test]
fn cel_requires_exactly_one_of_schedule_and_interval() {
    let base = json!({"storage": {"url": "file:///var/lib/soc2"}, "formats": ["JSON"]});
    let mut both = base.clone();
    both["schedule"] = json!("0 * * * *");
    both["interval"] = json!("1h");
    assert!(EvidencePolicySpec::validate_cel(&both, None).is_err());
    assert!(
        EvidencePolicySpec::validate_cel(&base, None).is_err(),
        "neither set"
    );
    let mut one = base.clone();
    one["interval"] = json!("1h");
    EvidencePolicySpec::validate_cel(&one, None).expect("interval only");
}

#[test]
fn cel_refuses_retention_with_object_lock() {
    let mut locked = json!({
        "storage": {"url": "s3://evidence/soc2",
                    "objectLock": {"mode": "COMPLIANCE", "duration": "400d"}},
        "formats": ["JSON"], "interval": "1h"});
    EvidencePolicySpec::validate_cel(&locked, None).expect("object lock without retention");
    locked["retention"] = json!("30d");
    let err = EvidencePolicySpec::validate_cel(&locked, None).unwrap_err();
    assert!(
        format!("{err:?}").contains("spec.storage.objectLock"),
        "{err:?}"
    );
}

#[test]
fn expiry_pattern_in_schema_accepts_dates_and_timestamps_only() {
    let crd = serde_json::to_value(crd::all()[0].clone()).unwrap();
    let pattern =
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["exceptions"]["items"]["properties"]["expires"]["pattern"]
            .as_str()
            .expect("expires has a pattern")
            .to_string();
    let re = regex::Regex::new(&pattern).unwrap();
    for ok in [
        "2026-12-31",
        "2026-12-31T23:59:59Z",
        "2026-12-31T23:59:59.5+02:00",
    ] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in ["31/12/2026", "2026-12-31 23:59", "next year", ""] {
        assert!(!re.is_match(bad), "{bad}");
    }
}

#[test]
fn exception_resources_must_name_something() {
    let crd = serde_json::to_value(crd::all()[0].clone()).unwrap();
    let res = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["exceptions"]["items"]["properties"]["resources"];
    assert_eq!(res["minItems"], json!(1));
    assert_eq!(res["items"]["minProperties"], json!(1));
}
