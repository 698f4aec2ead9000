//! Builds a snapshot from a folder of YAML/JSON manifests: multi-document files, `List` kinds
//! and nested folders. Secrets are skipped without reading their data into the snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::kinds::*;
use kube::core::DynamicObject;
use serde_json::Value;

use super::dynamic::{self, DynKind};
use super::{Objects, VELERO_GROUP, trim, trim_metadata};
use crate::{Error, Result};

/// What a folder held besides the objects the checks read.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The objects.
    pub objects: Objects,
    /// Files read.
    pub files: usize,
    /// Kinds present but not used by any check, with counts (e.g. `Soc2Control`, `Secret`).
    pub ignored: BTreeMap<String, usize>,
}

/// Reads every `.yaml`, `.yml` and `.json` file below `dir` (or `dir` itself when it is a file).
pub fn load(dir: &Path) -> Result<LoadReport> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut report = LoadReport::default();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
            context: format!("reading {}", file.display()),
            source: e,
        })?;
        let docs = parse_documents(file, &text)?;
        for (i, doc) in docs.into_iter().enumerate() {
            add_document(&mut report, file, i, doc)?;
        }
        report.files += 1;
    }
    Ok(report)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |e| Error::Io {
        context: format!("reading {}", path.display()),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let p = entry.path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses a file into its documents; errors name the file (and the line when the parser
/// knows it).
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Value>> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    let docs: Vec<Value> = if is_json {
        vec![serde_json::from_str(text).map_err(|e| Error::Manifest {
            path: format!("{}:{}", file.display(), e.line()),
            message: e.to_string(),
        })?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| Error::Manifest {
            path: file.display().to_string(),
            message: e.to_string(),
        })?
    };
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn add_document(report: &mut LoadReport, file: &Path, index: usize, doc: Value) -> Result<()> {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() || api_version.is_empty() {
        return Err(Error::Manifest {
            path: file.display().to_string(),
            message: format!("document {} has no apiVersion or kind", index + 1),
        });
    }
    if kind == "List" || (kind.ends_with("List") && doc.get("items").is_some()) {
        let items = match doc.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        for item in items {
            add_document(report, file, index, item)?;
        }
        return Ok(());
    }
    add_object(
        &mut report.objects,
        &mut report.ignored,
        &api_version,
        &kind,
        doc,
    )
    .map_err(|message| Error::Manifest {
        path: file.display().to_string(),
        message: format!("document {} ({kind}): {message}", index + 1),
    })
}

/// Adds one object to `objects`, typed by its apiVersion and kind. Unknown kinds are counted
/// in `ignored`; Secrets are counted and dropped before any field is read.
pub fn add_object(
    objects: &mut Objects,
    ignored: &mut BTreeMap<String, usize>,
    api_version: &str,
    kind: &str,
    doc: Value,
) -> std::result::Result<(), String> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    macro_rules! typed {
        ($($field:ident: $ty:ty,)*) => {
            $(
                if kind == <$ty as k8s_openapi::Resource>::KIND
                    && group == <$ty as k8s_openapi::Resource>::GROUP
                {
                    let mut obj: $ty = serde_json::from_value(doc).map_err(|e| e.to_string())?;
                    trim(&mut obj);
                    objects.$field.push(Arc::new(obj));
                    return Ok(());
                }
            )*
        };
    }
    crate::for_each_core_kind!(typed);
    match (group, kind) {
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            let mut obj: ValidatingAdmissionPolicy =
                serde_json::from_value(doc).map_err(|e| e.to_string())?;
            trim_metadata(&mut obj.metadata);
            objects
                .admission_policies
                .get_or_insert_default()
                .push(Arc::new(obj));
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            let mut obj: ValidatingAdmissionPolicyBinding =
                serde_json::from_value(doc).map_err(|e| e.to_string())?;
            trim_metadata(&mut obj.metadata);
            objects
                .admission_policy_bindings
                .get_or_insert_default()
                .push(Arc::new(obj));
        }
        (VELERO_GROUP, "Backup" | "Schedule" | "Restore") => {
            let mut obj: DynamicObject = serde_json::from_value(doc).map_err(|e| e.to_string())?;
            trim_metadata(&mut obj.metadata);
            let list = match kind {
                "Backup" => &mut objects.velero_backups,
                "Schedule" => &mut objects.velero_schedules,
                _ => &mut objects.velero_restores,
            };
            list.get_or_insert_default().push(Arc::new(obj));
            mark_velero_served(objects);
        }
        (g, k) if DynKind::of(g, k).is_some() => {
            if let Some(dk) = DynKind::of(g, k) {
                dynamic::add_manifest_object(&mut objects.dynamic, dk, doc)?;
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") if DynKind::of_crd(&doc).is_some() => {
            if let Some(dk) = DynKind::of_crd(&doc) {
                objects.dynamic.mark_served(dk);
            }
            *ignored.entry(kind.to_string()).or_default() += 1;
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let served_group = doc.pointer("/spec/group").and_then(Value::as_str);
            if served_group == Some(VELERO_GROUP) {
                mark_velero_served(objects);
            }
            *ignored.entry(kind.to_string()).or_default() += 1;
        }
        _ => {
            // Secrets land here too: counted, never kept.
            *ignored.entry(kind.to_string()).or_default() += 1;
        }
    }
    Ok(())
}

fn mark_velero_served(objects: &mut Objects) {
    objects.velero_backups.get_or_insert_default();
    objects.velero_schedules.get_or_insert_default();
    objects.velero_restores.get_or_insert_default();
}
