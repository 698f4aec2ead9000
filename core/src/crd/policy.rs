//! `EvidencePolicy`: where, how often and in what form evidence snapshots are written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// Where, how often and in what form signed, hash-chained evidence snapshots are written.
#[allow(clippy::duplicated_attributes)] // kube-derive takes repeated `printcolumn(type_ = ..)` keys
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "soc2.evidence.dev",
    version = "v1alpha1",
    kind = "EvidencePolicy",
    plural = "evidencepolicies",
    singular = "evidencepolicy",
    shortname = "evpol",
    category = "soc2",
    status = "EvidencePolicyStatus",
    doc = "Where, how often and in what form evidence snapshots are written.",
    printcolumn(name = "Storage", type_ = "string", json_path = ".spec.storage.url"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Interval", type_ = "string", json_path = ".spec.interval"),
    printcolumn(name = "Last", type_ = "date", json_path = ".status.lastSnapshot.time"),
    printcolumn(
        name = "Failures",
        type_ = "integer",
        json_path = ".status.consecutiveFailures"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("has(self.schedule) != has(self.interval)").message("set exactly one of spec.schedule and spec.interval"))]
#[x_kube(validation = Rule::new("!has(self.retention) || !has(self.storage.objectLock)").message("spec.retention cannot be set with spec.storage.objectLock: locked evidence is never pruned"))]
pub struct EvidencePolicySpec {
    /// Which controls the snapshots cover. Empty means every `Soc2Control`.
    #[serde(default)]
    pub controls: ControlSelection,
    /// Cron schedule in UTC (5 fields, e.g. `0 * * * *`). Exactly one of schedule and interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128))]
    pub schedule: Option<String>,
    /// Fixed interval, e.g. `1h` or `15m`. Exactly one of schedule and interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"))]
    pub interval: Option<String>,
    /// Object storage for the snapshots.
    pub storage: StorageSpec,
    /// Whole snapshots older than this are deleted, e.g. `400d`. Unset keeps everything. Not
    /// with `spec.storage.objectLock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"))]
    pub retention: Option<String>,
    /// Output formats: `JSON` always; `OSCAL` adds an OSCAL assessment-results document.
    #[serde(default = "default_formats")]
    #[schemars(length(min = 1, max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub formats: Vec<EvidenceFormat>,
    /// Signing key. Unset writes unsigned (still hash-chained) manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSpec>,
    /// Optional documents in each snapshot.
    #[serde(default)]
    pub include: EvidenceInclude,
    /// Witness: a second, separately configured location (another bucket or prefix, with its
    /// own `credentialsSecret`) that receives a signed checkpoint of the chain head after each
    /// snapshot, so that deleted snapshots can be detected (`evidence verify --checkpoint`).
    /// Unset: no checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<StorageSpec>,
    /// RFC 3161 time stamping: each manifest is sent (as a SHA-256 imprint) to a time stamping
    /// authority and its token stored beside it as `manifest.tsr`, so the time of a snapshot
    /// does not rest on the operator's clock alone (`evidence verify --tsa-ca`). Unset: no
    /// time stamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamping: Option<TimestampingSpec>,
}

/// Where manifests are time stamped.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimestampingSpec {
    /// URL of the time stamping authority (`http://` or `https://`), e.g.
    /// `https://freetsa.org/tsr`.
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://"))]
    pub url: String,
    /// PEM bundle of the CA(s) the authority's signing certificate must chain to. When set,
    /// each token is checked against it as it is received, and a token that does not chain is
    /// refused (the snapshot is written without one and the policy reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub ca_bundle: Option<String>,
    /// A snapshot without a token counts as a failed attempt (status, metric and Event);
    /// auditors then verify with `--require-timestamps`. Default false: a missing token is
    /// logged and counted but the attempt succeeds.
    #[serde(default)]
    pub required: bool,
}

fn default_formats() -> Vec<EvidenceFormat> {
    vec![EvidenceFormat::JSON]
}

/// Selects controls by label and/or by name; a control matching either is included.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlSelection {
    /// Controls whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Controls by `metadata.name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// Object storage location.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// `file:///var/lib/soc2/evidence`, `s3://bucket/prefix`, `gs://bucket/prefix` or
    /// `az://container/prefix`.
    #[schemars(regex(pattern = r"^(file:///|s3://|gs://|az://|azure://)[^\s]*$"))]
    pub url: String,
    /// S3-compatible endpoint, e.g. `https://minio.example:9000`. Unset uses AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style S3 addressing (most self-hosted S3 servers want this).
    #[serde(default)]
    pub path_style: bool,
    /// Allow plain HTTP to the endpoint (test setups only).
    #[serde(default)]
    pub allow_http: bool,
    /// Secret in the operator's namespace holding credentials (S3: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`; GCS: `service-account.json`; Azure: `AZURE_STORAGE_ACCOUNT_NAME`,
    /// `AZURE_STORAGE_ACCOUNT_KEY`). Unset uses the operator's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// S3 Object Lock: every object written (documents, manifest, time stamp token,
    /// checkpoint) carries this retention, so nobody (in `COMPLIANCE` mode, not even the
    /// bucket's owner) can delete or overwrite it before it ends. The bucket must have Object
    /// Lock enabled. S3 only; not with `spec.retention` (the operator must not delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockSpec>,
}

/// S3 Object Lock retention of every object written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectLockSpec {
    /// `GOVERNANCE` (users with `s3:BypassGovernanceRetention` may still delete) or
    /// `COMPLIANCE` (nobody may, until the retention ends).
    pub mode: ObjectLockMode,
    /// How long each object is retained from its write, e.g. `400d`.
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"))]
    pub duration: String,
}

/// S3 Object Lock retention mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ObjectLockMode {
    /// Protected, except from users granted `s3:BypassGovernanceRetention`.
    GOVERNANCE,
    /// Nobody can delete or overwrite the object version until the retention ends.
    COMPLIANCE,
}

impl ObjectLockMode {
    /// The value of `x-amz-object-lock-mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GOVERNANCE => "GOVERNANCE",
            Self::COMPLIANCE => "COMPLIANCE",
        }
    }
}

/// Evidence formats.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum EvidenceFormat {
    /// Canonical JSON documents (always written).
    JSON,
    /// OSCAL assessment-results.
    OSCAL,
}

/// Signing configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningSpec {
    /// Secret in the operator's namespace holding the ed25519 private key
    /// (`soc2-operator keygen` writes one).
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// Key in the Secret's data.
    #[serde(default = "default_signing_key")]
    pub key: String,
}

fn default_signing_key() -> String {
    "ed25519.key".to_string()
}

/// Optional documents in a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceInclude {
    /// The access-review matrix: every subject and what it may do, with the granting bindings.
    #[serde(default = "yes")]
    pub access_review: bool,
    /// The resource inventory: kinds, names, resourceVersions, content digests (never Secret
    /// data).
    #[serde(default = "yes")]
    pub inventory: bool,
}

impl Default for EvidenceInclude {
    fn default() -> Self {
        Self {
            access_review: true,
            inventory: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Observed state of an evidence policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidencePolicyStatus {
    /// `Ready` (spec valid, store reachable) and `Healthy` (last write succeeded).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last complete snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_snapshot: Option<SnapshotRef>,
    /// Digest of the newest manifest in the chain (read from the store at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
    /// Snapshots written by this operator instance since it started leading.
    #[serde(default)]
    pub snapshots_written: u64,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The last error, without secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next snapshot is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_snapshot: Option<String>,
    /// The last checkpoint written to the witness (`spec.witness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
}

/// A checkpoint of the chain head, as written to the witness.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRef {
    /// Sequence of the snapshot.
    pub sequence: u64,
    /// SHA-256 of its manifest.
    pub digest: String,
    /// Snapshot time (RFC 3339).
    pub time: String,
}

/// A written snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef {
    /// When it was taken (RFC 3339).
    pub time: String,
    /// Object key of its manifest.
    pub key: String,
    /// SHA-256 of the manifest.
    pub digest: String,
}
