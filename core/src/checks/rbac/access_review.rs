//! `rbac.access-review-current`: the control records a periodic access review, and the newest
//! one is recent.
//!
//! SOC 2 CC6.2/CC6.3 expect access to be reviewed periodically (quarterly in practice): someone
//! reads who holds what (`soc2-operator access-review`), removes what is no longer needed, and
//! records that they did. The record is an attestation of `kind: AccessReview` on the control,
//! naming who reviewed (`attestedBy`), when (`attestedAt`) and where the review is kept
//! (`ticket`, `evidence`). This check reads those attestations; it does not look at the
//! cluster. An access-review attestation never satisfies a check the way a `Statement` does:
//! it is evidence this check judges by its age.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};
use crate::crd::{Attestation, parse_instant};

/// The check.
pub(super) struct AccessReviewCurrent;

/// Parameters of `rbac.access-review-current`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessReviewCurrentParams {
    /// Largest age, in days, of the newest access review (`attestedAt`) before the check fails.
    /// Default: `92` (a quarter).
    pub max_age_days: u32,
}

impl Default for AccessReviewCurrentParams {
    fn default() -> Self {
        Self { max_age_days: 92 }
    }
}

impl Check for AccessReviewCurrent {
    type Params = AccessReviewCurrentParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "rbac.access-review-current",
            title: "Access is reviewed every quarter",
            description: "The control records no access review (an attestation of kind \
                          AccessReview with who reviewed, when and the ticket), or the newest \
                          one is older than maxAgeDays (default 92).",
            criteria: &["CC6.2", "CC6.3"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[]).and_clock()
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &AccessReviewCurrentParams) -> Outcome {
        let resource = ResourceRef::new("Soc2Control", None, ctx.control);
        let how = "review access (soc2-operator access-review), then record it on the control \
                   as an attestation with kind: AccessReview, attestedBy, attestedAt and ticket";
        // The newest review by `attestedAt`; reviews dated after the evaluation time or with an
        // unreadable date do not count (validation reports the latter by field).
        let newest = ctx
            .attestations
            .iter()
            .filter(|a| a.is_access_review())
            .filter_map(|a| Some((parse_instant(a.attested_at.as_deref()?).ok()?, a)))
            .filter(|(at, _)| *at <= ctx.now)
            .max_by_key(|(at, _)| *at);
        let Some((at, review)) = newest else {
            return Outcome::evaluated(
                1,
                vec![Finding::new(
                    resource,
                    format!("no access review is recorded on this control; {how}"),
                )],
            );
        };
        let max = Timestamp::from_second(
            at.as_second()
                .saturating_add(i64::from(params.max_age_days).saturating_mul(86_400)),
        )
        .unwrap_or(Timestamp::MAX);
        if ctx.now <= max {
            return Outcome::evaluated(1, Vec::new());
        }
        let age_days = ctx.now.duration_since(at).as_secs() / 86_400;
        Outcome::evaluated(
            1,
            vec![Finding::new(
                resource,
                format!(
                    "the last access review is {age_days} days old (more than {} days): {}; {how}",
                    params.max_age_days,
                    describe(review),
                ),
            )],
        )
    }
}

/// Who reviewed, when, and the ticket, for the finding.
fn describe(a: &Attestation) -> String {
    let mut s = format!(
        "reviewed by {} on {}",
        a.attested_by,
        a.attested_at.as_deref().unwrap_or("?")
    );
    match &a.ticket {
        Some(t) => s.push_str(&format!(", ticket {t}")),
        None => s.push_str(", no ticket"),
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::checks::ScopeFilter;
    use crate::checks::testing::{failing, messages, now, run_in_control};
    use crate::crd::Attestation;

    const ID: &str = "rbac.access-review-current";

    fn review(by: &str, at: &str, ticket: Option<&str>) -> Attestation {
        serde_json::from_value(serde_json::json!({
            "kind": "AccessReview",
            "check": ID,
            "statement": "quarterly access review of prod",
            "attestedBy": by,
            "attestedAt": at,
            "ticket": ticket,
            "expires": "2027-12-31",
        }))
        .expect("attestation")
    }

    fn run(params: &str, attestations: &[Attestation]) -> crate::checks::Outcome {
        run_in_control(
            ID,
            params,
            "",
            &ScopeFilter::all(),
            now(),
            "soc2-cc6-3",
            attestations,
        )
    }

    #[test]
    fn a_review_within_the_quarter_passes() {
        // now() is 2026-06-15T12:00:00Z; 2026-03-16 is 91.5 days earlier.
        let out = run(
            "",
            &[review("alice@example.com", "2026-03-16", Some("SEC-7"))],
        );
        assert!(failing(&out).is_empty(), "{out:?}");
        // The newest counts, whatever the order.
        let out = run(
            "",
            &[
                review("bob@example.com", "2025-12-01", Some("SEC-1")),
                review("alice@example.com", "2026-06-01T09:30:00Z", Some("SEC-7")),
            ],
        );
        assert!(failing(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn an_old_review_fails_and_says_who_when_and_ticket() {
        let out = run(
            "",
            &[
                review("bob@example.com", "2025-12-01", Some("SEC-1")),
                review("alice@example.com", "2026-03-01", Some("SEC-4")),
            ],
        );
        assert_eq!(failing(&out), ["Soc2Control/soc2-cc6-3"]);
        let m = &messages(&out)[0];
        assert!(
            m.contains("106 days old (more than 92 days)")
                && m.contains("reviewed by alice@example.com on 2026-03-01, ticket SEC-4"),
            "{m}"
        );
        // A tighter maxAgeDays fails a review the default accepts.
        let recent = [review("alice@example.com", "2026-05-01", None)];
        assert!(failing(&run("", &recent)).is_empty());
        let out = run("maxAgeDays: 30", &recent);
        assert!(messages(&out)[0].contains("45 days old (more than 30 days)"));
        assert!(messages(&out)[0].contains("no ticket"));
    }

    #[test]
    fn no_review_fails_and_statements_or_future_reviews_do_not_count() {
        let out = run("", &[]);
        assert_eq!(failing(&out), ["Soc2Control/soc2-cc6-3"]);
        assert!(messages(&out)[0].contains("no access review is recorded"));
        // A plain statement on the same check is not a review.
        let mut statement = review("alice@example.com", "2026-06-01", Some("SEC-7"));
        statement.kind = None;
        assert_eq!(failing(&run("", &[statement])).len(), 1);
        // A review dated after the evaluation is not evidence of one done before it.
        let future = review("alice@example.com", "2026-07-01", Some("SEC-9"));
        assert_eq!(failing(&run("", &[future])).len(), 1);
    }

    #[test]
    fn unknown_params_are_refused() {
        let check = crate::checks::catalog().get(ID).expect("registered");
        let bad = serde_json::json!({"maxAge": 10});
        assert!(check.validate(Some(&bad)).is_err());
    }
}
