//! Result types of an evaluation and how check outcomes roll up into a control result.

use jiff::Timestamp;
use serde::Serialize;

use super::exceptions::{AttestationState, ExceptionState};
use super::validate::SpecError;
use crate::checks::{CheckMeta, Finding, Outcome, Severity};
use crate::crd::{Criteria, RemediationSla, Soc2ControlSpec};

/// Result of a control or a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Status {
    /// Every check passed.
    Compliant,
    /// A check failed.
    NonCompliant,
    /// Nothing to evaluate here (e.g. Velero not installed).
    NotApplicable,
    /// Satisfied by an attestation rather than by observation.
    Attested,
    /// The spec is invalid; see the reason.
    Error,
}

impl Status {
    /// The name as written in status and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "Compliant",
            Status::NonCompliant => "NonCompliant",
            Status::NotApplicable => "NotApplicable",
            Status::Attested => "Attested",
            Status::Error => "Error",
        }
    }
}

/// A finding covered by an active exception.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptedFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Position of the exception in `spec.exceptions`.
    pub exception: usize,
    /// Who approved the exception.
    pub approved_by: String,
    /// When it expires.
    pub expires: String,
}

/// The result of one check of one control.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// Check id.
    pub check: String,
    /// Check title (empty for unknown ids).
    pub title: String,
    /// Default criteria of the check.
    pub criteria: Vec<String>,
    /// Severity of its findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Result.
    pub status: Status,
    /// Why, when not simply compliant.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Resources examined.
    pub resources_checked: usize,
    /// Findings not covered by an exception, sorted.
    pub findings: Vec<Finding>,
    /// Findings covered by an exception, sorted.
    pub excepted: Vec<ExceptedFinding>,
}

impl CheckResult {
    /// A check that could not run because the spec is wrong.
    pub fn error(check: &str, reason: String) -> Self {
        Self {
            check: check.to_string(),
            title: String::new(),
            criteria: Vec::new(),
            severity: None,
            status: Status::Error,
            reason,
            resources_checked: 0,
            findings: Vec::new(),
            excepted: Vec::new(),
        }
    }
}

/// The result of one control.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlResult {
    /// `metadata.name` of the Soc2Control.
    pub name: String,
    /// `metadata.generation` evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `spec.controlId`.
    pub control_id: String,
    /// `spec.criteria`.
    pub criteria: Criteria,
    /// `spec.title`.
    pub title: String,
    /// Overall result.
    pub status: Status,
    /// Why, when not compliant.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Invalid spec fields (status is `Error` when not empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spec_errors: Vec<SpecError>,
    /// Resources examined by all checks.
    pub resources_checked: usize,
    /// Findings not excepted, over all non-attested checks.
    pub failing: usize,
    /// Findings excepted.
    pub excepted: usize,
    /// Per check.
    pub checks: Vec<CheckResult>,
    /// Every exception, active or expired, with how many findings it covered.
    pub exceptions: Vec<ExceptionState>,
    /// Every attestation, with whether it counted.
    pub attestations: Vec<AttestationState>,
    /// `spec.remediationSla` as written (absent: the defaults), so the period report can judge
    /// remediation times against the deadlines in force at each evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_sla: Option<RemediationSla>,
}

impl ControlResult {
    /// Whether the control passed (compliant, attested or not applicable).
    pub fn compliant(&self) -> bool {
        matches!(
            self.status,
            Status::Compliant | Status::Attested | Status::NotApplicable
        )
    }

    /// Every failing finding with its check id.
    pub fn failing_findings(&self) -> impl Iterator<Item = (&str, &Finding)> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::NonCompliant)
            .flat_map(|c| c.findings.iter().map(move |f| (c.check.as_str(), f)))
    }
}

/// The result of evaluating a set of controls.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Evaluation time.
    pub evaluated_at: Timestamp,
    /// Objects in the snapshot.
    pub objects: usize,
    /// Per control, sorted by criteria, control id and name.
    pub controls: Vec<ControlResult>,
}

impl Evaluation {
    /// Whether every control passed.
    pub fn all_compliant(&self) -> bool {
        self.controls.iter().all(ControlResult::compliant)
    }
}

/// Applies exceptions and attestation to one check's outcome.
pub(super) fn check_result(
    meta: &CheckMeta,
    outcome: Outcome,
    exceptions: &mut [ExceptionState],
    attestation: Option<&mut AttestationState>,
) -> CheckResult {
    let mut result = CheckResult {
        check: meta.id.to_string(),
        title: meta.title.to_string(),
        criteria: meta.criteria.iter().map(|c| c.to_string()).collect(),
        severity: Some(meta.severity),
        status: Status::Compliant,
        reason: String::new(),
        resources_checked: 0,
        findings: Vec::new(),
        excepted: Vec::new(),
    };
    match outcome {
        Outcome::NotApplicable { reason } => {
            result.status = Status::NotApplicable;
            result.reason = reason;
        }
        Outcome::Evaluated {
            checked,
            mut findings,
        } => {
            result.resources_checked = checked;
            findings.sort();
            findings.dedup();
            for f in findings {
                match exceptions
                    .iter_mut()
                    .find(|e| e.covers(meta.id, &f.resource))
                {
                    Some(e) => {
                        e.matched += 1;
                        result.excepted.push(ExceptedFinding {
                            finding: f,
                            exception: e.index,
                            approved_by: e.approved_by.clone(),
                            expires: e.expires.clone(),
                        });
                    }
                    None => result.findings.push(f),
                }
            }
            if !result.findings.is_empty() {
                result.status = Status::NonCompliant;
                result.reason = format!("{} resource(s) failing", result.findings.len());
            }
        }
    }
    if result.status != Status::Compliant
        && let Some(a) = attestation
    {
        a.applied = true;
        result.reason = format!(
            "attested by {} until {}: {}",
            a.attested_by, a.expires, a.statement
        );
        result.status = Status::Attested;
    }
    result
}

/// Rolls check results up into the control result.
pub(super) fn control_result(
    name: String,
    generation: Option<i64>,
    spec: &Soc2ControlSpec,
    checks: Vec<CheckResult>,
    spec_errors: Vec<SpecError>,
    exceptions: Vec<ExceptionState>,
    attestations: Vec<AttestationState>,
) -> ControlResult {
    let counted = |c: &&CheckResult| c.status == Status::NonCompliant;
    let failing = checks
        .iter()
        .filter(counted)
        .map(|c| c.findings.len())
        .sum();
    let excepted = checks.iter().map(|c| c.excepted.len()).sum();
    let resources_checked = checks.iter().map(|c| c.resources_checked).sum();
    let (status, reason) = if !spec_errors.is_empty() {
        let msgs: Vec<String> = spec_errors.iter().map(ToString::to_string).collect();
        (Status::Error, msgs.join("; "))
    } else if let Some(c) = checks.iter().find(|c| c.status == Status::Error) {
        (Status::Error, c.reason.clone())
    } else if checks.iter().any(|c| c.status == Status::NonCompliant) {
        let failing_checks: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::NonCompliant)
            .map(|c| c.check.as_str())
            .collect();
        (
            Status::NonCompliant,
            format!("{failing} finding(s) in {}", failing_checks.join(", ")),
        )
    } else if !checks.is_empty() && checks.iter().all(|c| c.status == Status::NotApplicable) {
        let reasons: Vec<&str> = checks.iter().map(|c| c.reason.as_str()).collect();
        (Status::NotApplicable, reasons.join("; "))
    } else if checks.iter().any(|c| c.status == Status::Attested) {
        (
            Status::Compliant,
            "compliant (some checks by attestation)".to_string(),
        )
    } else {
        (Status::Compliant, String::new())
    };
    ControlResult {
        name,
        generation,
        control_id: spec.control_id.clone(),
        criteria: spec.criteria,
        title: spec.title.clone(),
        status,
        reason,
        spec_errors,
        resources_checked,
        failing,
        excepted,
        checks,
        exceptions,
        attestations,
        remediation_sla: spec.remediation_sla.clone(),
    }
}
