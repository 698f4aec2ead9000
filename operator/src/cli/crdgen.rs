//! `soc2-operator crdgen`: writes (or checks) `crds/` from the Rust types.

use std::path::Path;

use super::{EXIT_FAIL, EXIT_OK, input_error};
use soc2_core::crd;

pub(super) fn run(out: &Path, check: bool) -> u8 {
    let mut drift = Vec::new();
    for c in crd::all() {
        let yaml = match crd::render_yaml(&c) {
            Ok(y) => y,
            Err(e) => return input_error(format!("rendering CRD: {e}")),
        };
        let path = out.join(crd::file_name(&c));
        if check {
            match std::fs::read_to_string(&path) {
                Ok(existing) if existing == yaml => {}
                _ => drift.push(path.display().to_string()),
            }
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(out).and_then(|_| std::fs::write(&path, yaml)) {
            return input_error(format!("writing {}: {e}", path.display()));
        }
        println!("wrote {}", path.display());
    }
    if drift.is_empty() {
        EXIT_OK
    } else {
        eprintln!(
            "CRDs out of date: {} (run `soc2-operator crdgen`)",
            drift.join(", ")
        );
        EXIT_FAIL
    }
}
