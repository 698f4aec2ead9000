//! Builds a snapshot from a folder of YAML/JSON manifests: multi-document files, `List` kinds
//! and nested folders. Secrets are skipped without reading their data into the snapshot.
//!
//! An object the checks read but that cannot be read here (an API version this build does not
//! know, a legacy version that does not convert, a shape that does not decode) is listed in
//! [`LoadReport::not_evaluated`] with its file and the reason, and the rest of the folder is
//! audited. Only what makes the whole run meaningless is an error: an unreadable folder or a file
//! that is not YAML/JSON at all.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::kinds::*;
use kube::core::DynamicObject;
use serde_json::Value;

use super::dynamic::{self, DynKind};
use super::legacy::{self, split_api_version};
use super::{Objects, VELERO_GROUP, trim};
use crate::{Error, Result};

mod block_yaml;

/// What a folder held besides the objects the checks read.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The objects.
    pub objects: Objects,
    /// Files read.
    pub files: usize,
    /// Kinds present but not used by any check, with counts (e.g. `Soc2Control`, `Secret`).
    pub ignored: BTreeMap<String, usize>,
    /// Objects of kinds the checks read that could not be read, with the reason.
    pub not_evaluated: Vec<NotEvaluated>,
}

/// An object of a kind the checks read that was left out of the audit, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotEvaluated {
    /// The file, as found below the folder.
    pub file: String,
    /// 1-based position of the document in the file.
    pub document: usize,
    /// `apiVersion` as written.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// Why it was not evaluated.
    pub reason: String,
}

/// Whether objects are trimmed as they are loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Trimmed to what checks read ([`super::trim`]): what `audit` and the operator use.
    Yes,
    /// Kept whole: for tests that show trimming changes no outcome.
    No,
}

/// Reads every `.yaml`, `.yml` and `.json` file below `dir` (or `dir` itself when it is a file).
pub fn load(dir: &Path) -> Result<LoadReport> {
    load_with(dir, Trim::Yes)
}

/// [`load`], choosing whether objects are trimmed.
///
/// Files are read, parsed and decoded in parallel: the sorted file list is cut into runs of
/// about equal bytes (several per core), one thread per core takes the next run until none is
/// left, and the partial reports are merged in file order, so the result, the `not_evaluated`
/// order and the first error reported are the same as a sequential pass.
pub fn load_with(dir: &Path, trim: Trim) -> Result<LoadReport> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, files.len().max(1));
    if threads == 1 {
        return load_files(&files, trim, parse_documents);
    }
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .collect();
    let runs = byte_runs(&sizes, threads * RUNS_PER_THREAD);
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, Result<LoadReport>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(run) = runs.get(k) else {
                            return done;
                        };
                        done.push((k, load_files(&files[run.clone()], trim, parse_documents)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![(
                        0,
                        Err(Error::Invalid("a manifest reader thread panicked".into())),
                    )]
                })
            })
            .collect()
    });
    parts.sort_by_key(|(k, _)| *k);
    let mut report = LoadReport::default();
    for (_, part) in parts {
        report.append(part?);
    }
    Ok(report)
}

/// How many runs of files each thread takes on average: enough that a slow run (a file the
/// fast reader leaves to serde-saphyr) does not leave the other cores idle.
const RUNS_PER_THREAD: usize = 8;

/// Cuts files of `sizes` bytes into at most about `n` contiguous runs of about equal bytes.
fn byte_runs(sizes: &[u64], n: usize) -> Vec<Range<usize>> {
    let total: u64 = sizes.iter().sum();
    let target = (total / n.max(1) as u64).max(1);
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        bytes += size;
        if bytes >= target {
            runs.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

impl LoadReport {
    /// Adds another report's objects, counts and skipped objects after this one's.
    fn append(&mut self, other: LoadReport) {
        self.objects.append(other.objects);
        self.files += other.files;
        for (kind, n) in other.ignored {
            *self.ignored.entry(kind).or_default() += n;
        }
        self.not_evaluated.extend(other.not_evaluated);
    }
}

/// [`load_with`] on one thread with serde-saphyr only, as the loader was before the fast
/// reader: the reference that tests compare [`load_with`] against.
#[doc(hidden)]
pub fn load_reference(dir: &Path, trim: Trim) -> Result<LoadReport> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    load_files(&files, trim, parse_documents_reference)
}

/// Reads `files` in order into one report, parsing each with `parse`.
fn load_files(
    files: &[PathBuf],
    trim: Trim,
    parse: fn(&Path, &str) -> Result<Vec<Value>>,
) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
            context: format!("reading {}", file.display()),
            source: e,
        })?;
        let docs = parse(file, &text)?;
        for (i, doc) in docs.into_iter().enumerate() {
            add_document(&mut report, file, i, doc, trim)?;
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
///
/// YAML is read by [`block_yaml`] when it is in the block style manifests are written in, and
/// by serde-saphyr otherwise (and for every error), with the same result either way.
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Value>> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    let fast = if is_json { None } else { read_block_yaml(text) };
    match fast {
        Some(docs) => {
            // Every test that reads YAML checks the fast reader against serde-saphyr.
            #[cfg(debug_assertions)]
            if let Ok(reference) = parse_documents_reference(file, text) {
                assert_eq!(
                    docs,
                    reference,
                    "fast YAML reader differs on {}",
                    file.display()
                );
            } else {
                panic!(
                    "fast YAML reader accepted {}, serde-saphyr refuses it",
                    file.display()
                );
            }
            Ok(docs)
        }
        None => parse_documents_reference(file, text),
    }
}

/// The documents of `text` (empty ones dropped) when the fast reader takes it, else `None`.
#[doc(hidden)]
pub fn read_block_yaml(text: &str) -> Option<Vec<Value>> {
    let docs = block_yaml::parse(text)?;
    Some(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// [`parse_documents`] with serde-saphyr only: the reference the fast reader is tested against.
#[doc(hidden)]
pub fn parse_documents_reference(file: &Path, text: &str) -> Result<Vec<Value>> {
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

fn add_document(
    report: &mut LoadReport,
    file: &Path,
    index: usize,
    doc: Value,
    trim: Trim,
) -> Result<()> {
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
            add_document(report, file, index, item, trim)?;
        }
        return Ok(());
    }
    let meta = |field: &str| {
        doc.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (namespace, name) = (meta("namespace"), meta("name").unwrap_or_default());
    if let Err(reason) = add_object_with(
        &mut report.objects,
        &mut report.ignored,
        &api_version,
        &kind,
        doc,
        trim,
    ) {
        report.not_evaluated.push(NotEvaluated {
            file: file.display().to_string(),
            document: index + 1,
            api_version,
            kind,
            namespace,
            name,
            reason,
        });
    }
    Ok(())
}

/// Adds one object to `objects`, typed by its apiVersion and kind, and trims it. Unknown kinds
/// are counted in `ignored`; Secrets are counted and dropped before any field is read. Legacy
/// API versions are converted where their shape allows ([`legacy`]); an error says why an
/// object of a kind the checks read could not be read.
pub fn add_object(
    objects: &mut Objects,
    ignored: &mut BTreeMap<String, usize>,
    api_version: &str,
    kind: &str,
    doc: Value,
) -> std::result::Result<(), String> {
    add_object_with(objects, ignored, api_version, kind, doc, Trim::Yes)
}

/// [`add_object`], choosing whether the object is trimmed.
pub fn add_object_with(
    objects: &mut Objects,
    ignored: &mut BTreeMap<String, usize>,
    api_version: &str,
    kind: &str,
    doc: Value,
    trimming: Trim,
) -> std::result::Result<(), String> {
    let doc = match legacy::upgrade(api_version, kind, &doc) {
        None => doc,
        Some(Ok(upgraded)) => upgraded,
        Some(Err(reason)) => return Err(format!("{api_version} {kind}: {reason}")),
    };
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(api_version)
        .to_string();
    let (group, version) = split_api_version(&api_version);
    fn decode<K: serde::de::DeserializeOwned + kube::Resource + 'static>(
        doc: Value,
        trimming: Trim,
    ) -> std::result::Result<Arc<K>, String> {
        let mut obj: K = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        if trimming == Trim::Yes {
            trim(&mut obj);
        }
        Ok(Arc::new(obj))
    }
    /// A known group and kind in a version this build does not read.
    fn unknown_version(api_version: &str, kind: &str, reads: &str) -> String {
        format!("{api_version} {kind}: not an API version this audit reads (it reads {reads})")
    }
    macro_rules! typed {
        ($($field:ident: $ty:ty,)*) => {
            $(
                if kind == <$ty as k8s_openapi::Resource>::KIND
                    && group == <$ty as k8s_openapi::Resource>::GROUP
                {
                    if version != <$ty as k8s_openapi::Resource>::VERSION {
                        return Err(unknown_version(&api_version, kind, <$ty as k8s_openapi::Resource>::API_VERSION));
                    }
                    objects.$field.push(decode::<$ty>(doc, trimming)?);
                    return Ok(());
                }
            )*
        };
    }
    crate::for_each_core_kind!(typed);
    match (group, kind) {
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding",
        ) if version != "v1" => {
            return Err(unknown_version(
                &api_version,
                kind,
                "admissionregistration.k8s.io/v1",
            ));
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            let obj = decode::<ValidatingAdmissionPolicy>(doc, trimming)?;
            objects.admission_policies.get_or_insert_default().push(obj);
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            let obj = decode::<ValidatingAdmissionPolicyBinding>(doc, trimming)?;
            objects
                .admission_policy_bindings
                .get_or_insert_default()
                .push(obj);
        }
        (VELERO_GROUP, "Backup" | "Schedule" | "Restore") => {
            let obj = decode::<DynamicObject>(doc, trimming)?;
            let list = match kind {
                "Backup" => &mut objects.velero_backups,
                "Schedule" => &mut objects.velero_schedules,
                _ => &mut objects.velero_restores,
            };
            list.get_or_insert_default().push(obj);
            mark_velero_served(objects);
        }
        (g, k) if DynKind::of(g, k).is_some() => {
            if let Some(dk) = DynKind::of(g, k) {
                let obj = decode::<DynamicObject>(doc, trimming)?;
                dynamic::add_manifest_object(&mut objects.dynamic, dk, obj);
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
