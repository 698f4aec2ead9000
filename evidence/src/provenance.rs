//! Where a snapshot came from: recorded in every manifest (`provenance`) so that the report can
//! tell evidence read from a live cluster apart from snapshots of a manifests folder or of an
//! unknown source.
//!
//! Only snapshots with a live source count toward a period's completeness: anyone with write
//! access and a manifests folder can produce a snapshot for any time (`evidence snapshot --at`),
//! but a live snapshot records the API server it was read from (its address and the UID of its
//! `kube-system` namespace) and is always taken at the writer's clock. Manifests written before
//! this field existed have no provenance and count as "unknown" (not live).

use serde::{Deserialize, Serialize};

/// `source` of a snapshot read from a live API server.
pub const LIVE: &str = "live";
/// `source` of a snapshot loaded from a manifests folder or file.
pub const MANIFESTS: &str = "manifests";

/// The origin of one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// [`LIVE`] or [`MANIFESTS`].
    pub source: String,
    /// UID of the cluster's `kube-system` namespace (live only): identifies the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uid: Option<String>,
    /// The API server's address (live only), e.g. `https://10.0.0.1:443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The manifests path as given (manifests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Who wrote it: `operator` (an EvidencePolicy) or `cli` (`evidence snapshot`).
    pub writer: String,
    /// Version of the operator binary that wrote it.
    pub operator_version: String,
    /// The writer's clock when the manifest was written (RFC 3339 UTC); differs from the
    /// manifest's `time` only for snapshots written with an explicit time.
    #[serde(default)]
    pub written_at: String,
}

impl Provenance {
    /// A snapshot read from a live API server.
    pub fn live(cluster_uid: Option<String>, server: Option<String>, writer: &str) -> Self {
        Self {
            source: LIVE.into(),
            cluster_uid,
            server,
            path: None,
            writer: writer.into(),
            operator_version: env!("CARGO_PKG_VERSION").into(),
            written_at: String::new(),
        }
    }

    /// A snapshot loaded from a manifests folder or file.
    pub fn manifests(path: &str, writer: &str) -> Self {
        Self {
            source: MANIFESTS.into(),
            cluster_uid: None,
            server: None,
            path: Some(path.into()),
            writer: writer.into(),
            operator_version: env!("CARGO_PKG_VERSION").into(),
            written_at: String::new(),
        }
    }

    /// Whether the snapshot was read from a live cluster (and so may count toward completeness).
    pub fn is_live(&self) -> bool {
        self.source == LIVE
    }

    /// One line for reports: `live https://… (kube-system uid …)`, `manifests ./dir`.
    pub fn describe(&self) -> String {
        match (
            self.source.as_str(),
            &self.server,
            &self.cluster_uid,
            &self.path,
        ) {
            (LIVE, server, uid, _) => format!(
                "live {} (kube-system uid {})",
                server.as_deref().unwrap_or("(unknown server)"),
                uid.as_deref().unwrap_or("unknown")
            ),
            (MANIFESTS, _, _, path) => {
                format!("manifests {}", path.as_deref().unwrap_or("(unknown path)"))
            }
            (other, ..) => format!("source {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_sources_are_live() {
        let live = Provenance::live(Some("u-1".into()), Some("https://k".into()), "cli");
        assert!(live.is_live());
        assert_eq!(live.describe(), "live https://k (kube-system uid u-1)");
        let m = Provenance::manifests("./dir", "cli");
        assert!(!m.is_live());
        assert_eq!(m.describe(), "manifests ./dir");
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["source"], "manifests");
        assert!(json.get("clusterUid").is_none());
    }
}
