//! Trimming objects before they are cached or snapshotted: what no check reads is dropped so
//! that 100k objects fit in a small footprint.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation `kubectl apply` writes with the whole previous object in it.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops the bulky parts of metadata: the field sets of `managedFields` (the manager names,
/// operations and times stay, for the change-management check) and the last-applied annotation.
pub fn trim_metadata(meta: &mut ObjectMeta) {
    if let Some(fields) = meta.managed_fields.as_mut() {
        for entry in fields.iter_mut() {
            entry.fields_v1 = None;
            entry.fields_type = None;
            entry.api_version = None;
        }
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}
