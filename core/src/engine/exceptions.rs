//! Exceptions and attestations, resolved against the evaluation time.

use jiff::Timestamp;
use serde::Serialize;

use crate::crd::{Attestation, Exception, ExceptionResource, parse_expiry};
use crate::snapshot::ResourceRef;

/// An exception as it stood at evaluation time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionState {
    /// Position in `spec.exceptions`.
    pub index: usize,
    /// The check it applies to (`None`: every check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Resource patterns.
    pub resources: Vec<ExceptionResource>,
    /// Justification.
    pub reason: String,
    /// Approver.
    pub approved_by: String,
    /// Expiry as written.
    pub expires: String,
    /// Ticket, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// True once `expires` has passed (or cannot be read): the exception no longer applies.
    pub expired: bool,
    /// Findings it covered in this evaluation.
    pub matched: usize,
}

impl ExceptionState {
    /// Whether the exception covers a finding of `check` on `resource`.
    pub fn covers(&self, check: &str, resource: &ResourceRef) -> bool {
        !self.expired
            && self.check.as_deref().is_none_or(|c| c == check)
            && self.resources.iter().any(|p| matches(p, resource))
    }
}

fn matches(p: &ExceptionResource, r: &ResourceRef) -> bool {
    let kind_ok = p
        .kind
        .as_deref()
        .is_none_or(|k| k.eq_ignore_ascii_case(&r.kind));
    let ns_ok = p
        .namespace
        .as_deref()
        .is_none_or(|ns| r.namespace.as_deref() == Some(ns));
    let name_ok = p.name.as_deref().is_none_or(|n| match n.strip_suffix('*') {
        Some(prefix) => r.name.starts_with(prefix),
        None => r.name == n,
    });
    kind_ok && ns_ok && name_ok
}

/// Resolves a control's exceptions at `now`.
pub fn resolve(exceptions: &[Exception], now: Timestamp) -> Vec<ExceptionState> {
    exceptions
        .iter()
        .enumerate()
        .map(|(index, e)| ExceptionState {
            index,
            check: e.check.clone(),
            resources: e.resources.clone(),
            reason: e.reason.clone(),
            approved_by: e.approved_by.clone(),
            expires: e.expires.clone(),
            ticket: e.ticket.clone(),
            expired: parse_expiry(&e.expires).map_or(true, |t| t <= now),
            matched: 0,
        })
        .collect()
}

/// An attestation as it stood at evaluation time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationState {
    /// The check it satisfies.
    pub check: String,
    /// What is attested.
    pub statement: String,
    /// Supporting evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Who attests.
    pub attested_by: String,
    /// Expiry as written.
    pub expires: String,
    /// `AccessReview` for the record of an access review (never satisfies a check by itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When it was made, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attested_at: Option<String>,
    /// Ticket or document recording it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// True once expired (or unreadable): it no longer counts.
    pub expired: bool,
    /// Whether it was used to satisfy a check in this evaluation.
    pub applied: bool,
}

/// Resolves a control's attestations at `now`.
pub fn resolve_attestations(attestations: &[Attestation], now: Timestamp) -> Vec<AttestationState> {
    attestations
        .iter()
        .map(|a| AttestationState {
            check: a.check.clone(),
            statement: a.statement.clone(),
            evidence: a.evidence.clone(),
            attested_by: a.attested_by.clone(),
            expires: a.expires.clone(),
            kind: a.is_access_review().then(|| "AccessReview".to_string()),
            attested_at: a.attested_at.clone(),
            ticket: a.ticket.clone(),
            expired: parse_expiry(&a.expires).map_or(true, |t| t <= now),
            applied: false,
        })
        .collect()
}
