//! The baseline control library: valid, covers the SOC 2 criteria the design names, and uses
//! every catalog check.

use std::collections::BTreeSet;

use soc2_core::checks::catalog;
use soc2_core::crd::Soc2ControlSpec;
use soc2_core::engine::validate;
use soc2_operator::cli::{baseline_controls, load_controls};

#[test]
fn baseline_is_valid_and_complete() {
    let controls = baseline_controls().expect("baseline parses");
    let ids: BTreeSet<&str> = controls
        .iter()
        .map(|c| c.spec.control_id.as_str())
        .collect();
    for required in [
        "CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC6.8", "CC7.1", "CC7.2", "CC8.1", "A1.1",
        "A1.2", "C1.1",
    ] {
        assert!(ids.contains(required), "baseline lacks {required}");
    }
    for c in &controls {
        let errors = validate(&c.spec);
        assert!(errors.is_empty(), "{:?}: {errors:?}", c.metadata.name);
        let json = serde_json::to_value(&c.spec).unwrap();
        Soc2ControlSpec::validate_cel(&json, None)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", c.metadata.name));
        assert!(
            c.spec.description.len() > 40,
            "{:?} needs a description",
            c.metadata.name
        );
    }
    let used: BTreeSet<&str> = controls
        .iter()
        .flat_map(|c| c.spec.checks.iter().map(|r| r.check.as_str()))
        .collect();
    let all: BTreeSet<&str> = catalog().ids().collect();
    assert_eq!(used, all, "the baseline must use every catalog check");
    assert!(
        all.len() >= 25,
        "the design's catalog has 25 checks, found {}",
        all.len()
    );
}

#[test]
fn the_files_on_disk_are_what_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/baseline");
    let from_disk = load_controls(&dir).expect("loads");
    let compiled = baseline_controls().unwrap();
    let names = |v: &[soc2_core::crd::Soc2Control]| -> BTreeSet<String> {
        v.iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(
        names(&from_disk),
        names(&compiled),
        "add new baseline files to cli/controls.rs"
    );
}

#[test]
fn every_check_documents_itself() {
    for check in catalog().iter() {
        let meta = check.meta();
        assert!(!meta.criteria.is_empty(), "{} maps to no criteria", meta.id);
        assert!(
            !meta.title.is_empty() && !meta.description.is_empty(),
            "{}",
            meta.id
        );
        assert!(
            check.default_params().is_object(),
            "{}: defaults serialize as an object",
            meta.id
        );
        check
            .validate(None)
            .unwrap_or_else(|e| panic!("{}: defaults must be valid: {e}", meta.id));
        assert!(
            check
                .validate(Some(&serde_json::json!({"definitelyNotAParam": 1})))
                .is_err(),
            "{}: unknown parameters must be refused",
            meta.id
        );
    }
}
