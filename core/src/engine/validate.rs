//! Validation only the operator can do (the CRD schema covers the rest): unknown check ids,
//! parameters, selectors, dates. Every error names the spec field.

use crate::checks::{ScopeFilter, catalog};
use crate::crd::{Soc2ControlSpec, parse_expiry, parse_instant};

/// The check that judges access reviews; a `Statement` attestation cannot satisfy it.
pub const ACCESS_REVIEW_CHECK: &str = "rbac.access-review-current";

/// An invalid field in a control's spec.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpecError {
    /// JSON path of the field, e.g. `spec.checks[1].params`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All problems with a spec, in field order. Empty means valid.
pub fn validate(spec: &Soc2ControlSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut err = |field: String, message: String| errors.push(SpecError { field, message });
    if spec.checks.is_empty() {
        err(
            "spec.checks".into(),
            "at least one check is required".into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in spec.checks.iter().enumerate() {
        match catalog().get(&c.check) {
            None => err(
                format!("spec.checks[{i}].check"),
                format!(
                    "unknown check id {:?} (see `soc2-operator checks`)",
                    c.check
                ),
            ),
            Some(check) => {
                if let Err(e) = check.validate(c.params.as_ref()) {
                    err(format!("spec.checks[{i}].params"), e.to_string());
                }
            }
        }
        if !seen.insert(c.check.as_str()) {
            err(
                format!("spec.checks[{i}].check"),
                format!("{:?} is listed twice", c.check),
            );
        }
    }
    if let Err(e) = ScopeFilter::from_spec(&spec.scope) {
        let (field, message) = e.split_once(": ").unwrap_or(("spec.scope", e.as_str()));
        err(field.to_string(), message.to_string());
    }
    for (i, e) in spec.exceptions.iter().enumerate() {
        if let Err(m) = parse_expiry(&e.expires) {
            err(format!("spec.exceptions[{i}].expires"), m);
        }
        if let Some(check) = &e.check
            && !spec.checks.iter().any(|c| &c.check == check)
        {
            err(
                format!("spec.exceptions[{i}].check"),
                format!("{check:?} is not one of this control's checks"),
            );
        }
        if e.resources.is_empty() {
            err(
                format!("spec.exceptions[{i}].resources"),
                "at least one resource is required".into(),
            );
        }
    }
    for (i, a) in spec.attestations.iter().enumerate() {
        if let Err(m) = parse_expiry(&a.expires) {
            err(format!("spec.attestations[{i}].expires"), m);
        }
        if a.check == ACCESS_REVIEW_CHECK && !a.is_access_review() {
            err(
                format!("spec.attestations[{i}].kind"),
                format!(
                    "{ACCESS_REVIEW_CHECK} is satisfied only by recorded reviews: set kind: \
                     AccessReview with attestedAt and ticket"
                ),
            );
        }
        match &a.attested_at {
            Some(at) => {
                if let Err(m) = parse_instant(at) {
                    err(format!("spec.attestations[{i}].attestedAt"), m);
                }
            }
            None if a.is_access_review() => err(
                format!("spec.attestations[{i}].attestedAt"),
                "required for kind AccessReview (the day the review was completed)".into(),
            ),
            None => {}
        }
        if !spec.checks.iter().any(|c| c.check == a.check) {
            err(
                format!("spec.attestations[{i}].check"),
                format!("{:?} is not one of this control's checks", a.check),
            );
        }
    }
    errors.extend(super::aging::SlaPolicy::resolve(spec.remediation_sla.as_ref()).1);
    errors
}
