//! `Soc2Control`: one SOC 2 control as the organization states it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, preserve_unknown_object};

/// The schema pattern of `expires` dates: an RFC 3339 timestamp or `YYYY-MM-DD` (one place for
/// exceptions and attestations).
pub const EXPIRY_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$";

/// A SOC 2 control: what the organization commits to, which catalog checks evidence it, where
/// they apply, and the approved exceptions and attestations.
#[allow(clippy::duplicated_attributes)] // kube-derive takes repeated `printcolumn(type_ = ..)` keys
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "soc2.evidence.dev",
    version = "v1alpha1",
    kind = "Soc2Control",
    plural = "soc2controls",
    singular = "soc2control",
    shortname = "soc2ctl",
    shortname = "sctl",
    category = "soc2",
    status = "Soc2ControlStatus",
    doc = "A SOC 2 control, the catalog checks that evidence it, and its exceptions.",
    printcolumn(name = "Control", type_ = "string", json_path = ".spec.controlId"),
    printcolumn(name = "Criteria", type_ = "string", json_path = ".spec.criteria"),
    printcolumn(name = "Compliant", type_ = "boolean", json_path = ".status.compliant"),
    printcolumn(name = "Failing", type_ = "integer", json_path = ".status.failing"),
    printcolumn(name = "Overdue", type_ = "integer", json_path = ".status.overdue"),
    printcolumn(
        name = "Enforcement",
        type_ = "string",
        json_path = ".spec.enforcement",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("!has(self.exceptions) || self.exceptions.all(e, !has(e.check) || self.checks.exists(c, c.check == e.check))").message("spec.exceptions[].check must name a check listed in spec.checks"))]
#[x_kube(validation = Rule::new("!has(self.attestations) || self.attestations.all(a, self.checks.exists(c, c.check == a.check))").message("spec.attestations[].check must name a check listed in spec.checks"))]
#[x_kube(validation = Rule::new("!has(self.attestations) || self.attestations.all(a, !has(a.kind) || a.kind != 'AccessReview' || has(a.attestedAt))").message("spec.attestations[].attestedAt is required for kind AccessReview"))]
#[x_kube(validation = Rule::new("!has(self.attestations) || self.attestations.all(a, a.check != 'rbac.access-review-current' || (has(a.kind) && a.kind == 'AccessReview'))").message("spec.attestations[]: rbac.access-review-current is satisfied only by kind AccessReview"))]
pub struct Soc2ControlSpec {
    /// The control identifier as the organization states it, usually the Trust Services
    /// Criterion it implements, e.g. `CC6.1` or `A1.2`.
    #[schemars(length(min = 1, max = 64))]
    pub control_id: String,
    /// The Trust Services Category the control belongs to.
    pub criteria: Criteria,
    /// Short title an auditor recognizes, e.g. "Logical access is restricted".
    #[schemars(length(min = 1, max = 256))]
    pub title: String,
    /// What the control commits to, in the organization's words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Person or team accountable for the control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Catalog checks that evidence the control. All must pass for the control to be compliant.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["check"]))]
    pub checks: Vec<CheckRef>,
    /// Where the checks apply. Empty means every namespace.
    #[serde(default)]
    pub scope: Scope,
    /// `Audit` only reports; `Enforce` also remediates what is safe and installs admission
    /// policies that refuse new violations.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Approved exceptions: findings on these resources do not count against the control until
    /// the exception expires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub exceptions: Vec<Exception>,
    /// Facts the Kubernetes API cannot show (e.g. managed etcd encryption), attested by a person
    /// with a link to the evidence. An attestation satisfies the named check until it expires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub attestations: Vec<Attestation>,
    /// How long a finding may stay open, per severity, before it is overdue (Type II
    /// operating effectiveness). Unset fields keep the defaults: Critical `30d`, High `60d`,
    /// Medium `90d`, Low none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_sla: Option<RemediationSla>,
}

/// Remediation deadlines per severity. Each is a duration such as `30d` or `none` (no deadline).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSla {
    /// Deadline for Critical findings. Default `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(none|([0-9]+(s|m|h|d))+)$"))]
    pub critical: Option<String>,
    /// Deadline for High findings. Default `60d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(none|([0-9]+(s|m|h|d))+)$"))]
    pub high: Option<String>,
    /// Deadline for Medium findings. Default `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(none|([0-9]+(s|m|h|d))+)$"))]
    pub medium: Option<String>,
    /// Deadline for Low findings. Default `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(none|([0-9]+(s|m|h|d))+)$"))]
    pub low: Option<String>,
    /// A finding that disappears and comes back within this period keeps its age. Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d))+$"))]
    pub grace_period: Option<String>,
}

/// Trust Services Categories of SOC 2.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    schemars::JsonSchema,
)]
pub enum Criteria {
    /// Common Criteria CC1–CC9 (mandatory).
    Security,
    /// A1.
    Availability,
    /// PI1.
    ProcessingIntegrity,
    /// C1.
    Confidentiality,
    /// P1–P8.
    Privacy,
}

impl Criteria {
    /// The name used in the spec and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Criteria::Security => "Security",
            Criteria::Availability => "Availability",
            Criteria::ProcessingIntegrity => "ProcessingIntegrity",
            Criteria::Confidentiality => "Confidentiality",
            Criteria::Privacy => "Privacy",
        }
    }
}

/// A reference to a catalog check with its parameters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckRef {
    /// Catalog id, e.g. `network.default-deny`. `soc2-operator checks` lists them.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[a-z0-9]+(\.[a-z0-9-]+)+$")
    )]
    pub check: String,
    /// Parameters of the check; each check documents its own (unknown keys are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub params: Option<serde_json::Value>,
}

/// Which namespaces a control applies to. Cluster-scoped resources are always in scope.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Only namespaces whose labels match. Unset means all namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces never in scope, e.g. `kube-system`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_namespaces: Vec<String>,
}

/// Whether the operator only reports or also acts.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Enforcement {
    /// Report only (default).
    #[default]
    Audit,
    /// Report, remediate what is safe to create, and refuse new violations at admission.
    Enforce,
}

/// An approved exception to a control.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    /// The check the exception applies to. Unset means every check of the control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub check: Option<String>,
    /// The resources excepted (each sets at least one of kind, namespace, name). A field left
    /// unset matches anything; `name` may end in `*`.
    #[schemars(length(min = 1, max = 128))]
    pub resources: Vec<ExceptionResource>,
    /// Why the exception is acceptable (the compensating control).
    #[schemars(length(min = 1, max = 2048))]
    pub reason: String,
    /// Who approved it.
    #[schemars(length(min = 1, max = 256))]
    pub approved_by: String,
    /// When it stops applying: RFC 3339 timestamp or `YYYY-MM-DD` (end of that day, UTC).
    #[schemars(regex(pattern = EXPIRY_PATTERN))]
    pub expires: String,
    /// Optional ticket or document recording the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// A resource pattern in an exception.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1))]
pub struct ExceptionResource {
    /// Kind, e.g. `ClusterRoleBinding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace; unset matches any (and cluster-scoped resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name, or a prefix ending in `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A person's statement of a fact the API cannot show, or the record of a periodic access
/// review (`kind: AccessReview`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    /// `Statement` (default): a fact that satisfies `check` until `expires`. `AccessReview`:
    /// the record of a completed access review (`soc2-operator access-review`); it never
    /// satisfies a check by itself, `rbac.access-review-current` reads it and judges its age
    /// from `attestedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AttestationKind>,
    /// The check this attestation satisfies, e.g. `encryption.secrets-at-rest` (for an access
    /// review: `rbac.access-review-current`).
    #[schemars(length(min = 1, max = 128))]
    pub check: String,
    /// What is attested, e.g. "EKS encrypts etcd with a KMS key (alias/eks-prod)".
    #[schemars(length(min = 1, max = 4096))]
    pub statement: String,
    /// Link to, or description of, the supporting evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Who attests it.
    #[schemars(length(min = 1, max = 256))]
    pub attested_by: String,
    /// When the attestation must be renewed: RFC 3339 timestamp or `YYYY-MM-DD`.
    #[schemars(regex(pattern = EXPIRY_PATTERN))]
    pub expires: String,
    /// When the attestation was made: RFC 3339 timestamp or `YYYY-MM-DD` (start of that day,
    /// UTC). Required for an `AccessReview`: the day the review was completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EXPIRY_PATTERN))]
    pub attested_at: Option<String>,
    /// Ticket or document recording the attestation (for an access review: where the review
    /// and its decisions are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub ticket: Option<String>,
}

/// What an [`Attestation`] records.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum AttestationKind {
    /// A fact the API cannot show; satisfies its check until it expires.
    #[default]
    Statement,
    /// A completed periodic access review (CC6.2/CC6.3), judged by `rbac.access-review-current`.
    AccessReview,
}

impl Attestation {
    /// Whether this attestation records an access review.
    pub fn is_access_review(&self) -> bool {
        self.kind == Some(AttestationKind::AccessReview)
    }
}

/// Parses a point in time written as an RFC 3339 timestamp or `YYYY-MM-DD` (the start of that
/// day, UTC), as `attestedAt` is.
pub fn parse_instant(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    match s.parse::<jiff::civil::Date>() {
        Ok(d) => d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| format!("{s:?} is not a valid date: {e}")),
        Err(_) => Err(format!(
            "{s:?} is neither an RFC 3339 timestamp nor a YYYY-MM-DD date"
        )),
    }
}

/// Observed state of a control, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Soc2ControlStatus {
    /// `Ready` (the spec is valid and was evaluated) and `Compliant`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Whether every check passed (exceptions and attestations applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliant: Option<bool>,
    /// Overall result: `Compliant`, `NonCompliant`, `NotApplicable` or `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// When the control was last evaluated (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated: Option<String>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Resources examined by all checks.
    #[serde(default)]
    pub resources_checked: u64,
    /// Findings not covered by an exception.
    #[serde(default)]
    pub failing: u64,
    /// Findings covered by an active exception.
    #[serde(default)]
    pub excepted: u64,
    /// At most 50 findings: by severity (Critical first), at least one per failing check, then
    /// overdue and oldest first. The full list is in the evidence snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingStatus>,
    /// True when `findings` was cut to the bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub findings_truncated: bool,
    /// Failing findings not listed in `findings`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub findings_omitted: u64,
    /// Failing findings past their remediation SLA.
    #[serde(default)]
    pub overdue: u64,
    /// Overdue findings per severity (`Critical`, `High`, `Medium`, `Low`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overdue_by_severity: BTreeMap<String, u64>,
    /// Age in whole days of the oldest failing finding (time under an exception not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_finding_age_days: Option<u64>,
    /// When each finding was first seen, so ages survive restarts and failover: open and
    /// excepted findings, and cleared ones until their grace period ends. At most 1000 (the
    /// oldest are kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finding_ages: Vec<FindingAge>,
    /// Result of each check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckStatus>,
    /// Enforcement state, e.g. which remediations and admission policies are in place.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enforcement: BTreeMap<String, String>,
}

/// One finding in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingStatus {
    /// Stable id: a hash of check, resource and what is wrong (see `docs/type2.md`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Check id.
    pub check: String,
    /// Severity of the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// When the finding was first seen (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// When it is due under the remediation SLA (later by any time under an exception).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Past its remediation SLA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    /// `Kind/namespace/name` or `Kind/name`.
    pub resource: String,
    /// What is wrong and what to change.
    pub message: String,
}

/// Result of one check in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckStatus {
    /// Check id.
    pub check: String,
    /// `Compliant`, `NonCompliant`, `NotApplicable`, `Attested` or `Error`.
    pub result: String,
    /// Why, when not simply compliant.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Resources examined.
    #[serde(default)]
    pub resources_checked: u64,
    /// Findings not excepted.
    #[serde(default)]
    pub failing: u64,
    /// Findings excepted.
    #[serde(default)]
    pub excepted: u64,
}

/// The age record of one finding in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingAge {
    /// The finding id.
    pub id: String,
    /// Check id.
    pub check: String,
    /// When the finding was first seen (RFC 3339).
    pub first_seen: String,
    /// Set once the finding is gone: when it was last seen. Unset while it is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Seconds the finding spent under an active exception or attestation (not part of its age).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_seconds: u64,
    /// Set while an exception or attestation covers the finding: since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<String>,
    /// Past its remediation SLA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
