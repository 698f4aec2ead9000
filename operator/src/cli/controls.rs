//! Loading `Soc2Control` manifests for the CLI: from files, folders, or the built-in baseline.

use std::path::Path;

use kube::ResourceExt;

use crate::{Error, Result};
use soc2_core::crd::Soc2Control;
use soc2_core::snapshot::manifests::parse_documents;

/// The baseline control library shipped in `config/baseline/`, compiled in.
const BASELINE: &[(&str, &str)] = &[
    (
        "cc6.1-logical-access.yaml",
        include_str!("../../../config/baseline/cc6.1-logical-access.yaml"),
    ),
    (
        "cc6.2-provisioning.yaml",
        include_str!("../../../config/baseline/cc6.2-provisioning.yaml"),
    ),
    (
        "cc6.3-least-privilege.yaml",
        include_str!("../../../config/baseline/cc6.3-least-privilege.yaml"),
    ),
    (
        "cc6.6-boundary-protection.yaml",
        include_str!("../../../config/baseline/cc6.6-boundary-protection.yaml"),
    ),
    (
        "cc6.7-encryption.yaml",
        include_str!("../../../config/baseline/cc6.7-encryption.yaml"),
    ),
    (
        "cc6.8-unauthorized-software.yaml",
        include_str!("../../../config/baseline/cc6.8-unauthorized-software.yaml"),
    ),
    (
        "cc7.1-vulnerability-management.yaml",
        include_str!("../../../config/baseline/cc7.1-vulnerability-management.yaml"),
    ),
    (
        "cc7.2-monitoring.yaml",
        include_str!("../../../config/baseline/cc7.2-monitoring.yaml"),
    ),
    (
        "cc8.1-change-management.yaml",
        include_str!("../../../config/baseline/cc8.1-change-management.yaml"),
    ),
    (
        "a1.1-capacity.yaml",
        include_str!("../../../config/baseline/a1.1-capacity.yaml"),
    ),
    (
        "a1.2-backup-recovery.yaml",
        include_str!("../../../config/baseline/a1.2-backup-recovery.yaml"),
    ),
    (
        "c1.1-confidential-data.yaml",
        include_str!("../../../config/baseline/c1.1-confidential-data.yaml"),
    ),
];

/// The built-in baseline controls.
pub fn baseline_controls() -> Result<Vec<Soc2Control>> {
    let mut out = Vec::new();
    for (name, text) in BASELINE {
        out.extend(parse_controls(Path::new(name), text)?);
    }
    Ok(out)
}

/// Loads every `Soc2Control` in a file or folder (other kinds are ignored). Errors name the
/// file; duplicate names are refused.
pub fn load_controls(path: &Path) -> Result<Vec<Soc2Control>> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    let mut out: Vec<Soc2Control> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::Io {
            context: format!("reading {}", f.display()),
            source: e,
        })?;
        for c in parse_controls(&f, &text)? {
            if out.iter().any(|o| o.name_any() == c.name_any()) {
                return Err(Error::Manifest {
                    path: f.display().to_string(),
                    message: format!("Soc2Control {:?} is defined twice", c.name_any()),
                });
            }
            out.push(c);
        }
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let io = |e| Error::Io {
        context: format!("reading {}", path.display()),
        source: e,
    };
    if std::fs::metadata(path).map_err(io)?.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses the Soc2Control documents of one file.
pub fn parse_controls(path: &Path, text: &str) -> Result<Vec<Soc2Control>> {
    let mut out = Vec::new();
    for (i, doc) in parse_documents(path, text)?.into_iter().enumerate() {
        if doc.get("kind").and_then(|k| k.as_str()) != Some("Soc2Control") {
            continue;
        }
        let control: Soc2Control = serde_json::from_value(doc).map_err(|e| Error::Manifest {
            path: path.display().to_string(),
            message: format!("document {}: invalid Soc2Control: {e}", i + 1),
        })?;
        out.push(control);
    }
    Ok(out)
}
