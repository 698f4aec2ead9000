//! Checks of the `rbac` domain, and the access-review matrix.

use serde::Serialize;

use super::Catalog;
use crate::snapshot::ClusterSnapshot;

/// Adds this domain's checks to the catalog.
pub(super) fn register(_catalog: &mut Catalog) {}

/// Who may do what: every subject with its effective permissions and the bindings that grant
/// them. Sorted by subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessMatrix {
    /// One entry per subject.
    pub subjects: Vec<SubjectAccess>,
}

/// One subject's access.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccess {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Subject name.
    pub name: String,
    /// Namespace (ServiceAccounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Permissions, sorted.
    pub grants: Vec<Grant>,
}

/// One permission rule granted to a subject through one binding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// Namespace the grant is limited to; `None` means cluster-wide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// API groups.
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Resource names (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// `ClusterRole/name` or `Role/ns/name` the rule comes from.
    pub role: String,
    /// `ClusterRoleBinding/name` or `RoleBinding/ns/name` that grants it.
    pub binding: String,
}

/// Builds the access-review matrix from a snapshot (aggregated ClusterRoles resolved).
pub fn access_matrix(_snapshot: &ClusterSnapshot) -> AccessMatrix {
    AccessMatrix::default()
}
