//! `access.privileged-actions-reviewed`: every privileged action (exec, attach, port-forward,
//! RBAC writes, impersonation, Secret reads by humans) is listed in the evidence and covered
//! by a recorded review within `maxReviewLagDays` (CC6.3/CC7.2).
//!
//! The actions come from [`Ctx::activity`] (the hours the operator holds; each evidence
//! snapshot lists them in `activity.json`). A review is an attestation on the control with
//! `kind: AccessReview`, `check: access.privileged-actions-reviewed` and `attestedAt`, like
//! `rbac.access-review-current`'s: it covers every action before its `attestedAt`. An action
//! older than `maxReviewLagDays` that no review covers is a finding; so is any action the
//! aggregates could not list (over the per-hour cap), since it cannot be reviewed.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::activity::{STALE_AFTER_MINUTES, control_ref, operating};
use crate::activity::PrivilegedAction;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};
use crate::crd::parse_instant;

/// The check.
pub(super) struct PrivilegedActionsReviewed;

const ID: &str = "access.privileged-actions-reviewed";

/// At most this many actions are named one finding each; the rest are summed in one finding.
const MAX_LISTED: usize = 50;

/// Parameters of `access.privileged-actions-reviewed`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PrivilegedReviewedParams {
    /// Days an action may wait for its review. Default `7`.
    pub max_review_lag_days: u32,
    /// Minutes without any audit event after which the control is not operating. Default `60`.
    pub stale_after_minutes: u32,
}

impl Default for PrivilegedReviewedParams {
    fn default() -> Self {
        Self {
            max_review_lag_days: 7,
            stale_after_minutes: STALE_AFTER_MINUTES,
        }
    }
}

fn describe(a: &PrivilegedAction) -> String {
    let target = match (a.namespace.as_str(), a.name.as_str()) {
        ("", "") => String::new(),
        ("", n) => format!(" `{n}`"),
        (ns, "") => format!(" in `{ns}`"),
        (ns, n) => format!(" `{ns}/{n}`"),
    };
    let as_user = a
        .as_user
        .as_deref()
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    format!(
        "{} by {}{as_user} at {}: {} {}{target} (code {}, audit ID {})",
        a.kind.as_str(),
        a.user,
        a.at,
        a.verb,
        a.resource,
        a.code,
        if a.audit_id.is_empty() {
            "-"
        } else {
            &a.audit_id
        }
    )
}

impl Check for PrivilegedActionsReviewed {
    type Params = PrivilegedReviewedParams;

    fn reads(&self) -> Reads {
        Reads::kinds(&[]).and_activity()
    }

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: ID,
            title: "Privileged actions are listed and reviewed",
            description: "A privileged action seen in the audit events (pods/exec, attach, \
                          port-forward, RBAC writes, impersonation, Secret reads by humans) is \
                          older than maxReviewLagDays (default 7) and no review (an attestation \
                          of kind AccessReview for this check) is dated after it, or actions \
                          were not listed because of the per-hour cap.",
            criteria: &["CC6.3", "CC7.2"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, p: &PrivilegedReviewedParams) -> Outcome {
        let activity = match operating(ctx, p.stale_after_minutes) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let reviewed_until: Option<Timestamp> = ctx
            .attestations
            .iter()
            .filter(|a| a.is_access_review() && a.check == ID)
            .filter_map(|a| parse_instant(a.attested_at.as_deref()?).ok())
            .filter(|at| *at <= ctx.now)
            .max();
        let lag = SignedDuration::from_hours(i64::from(p.max_review_lag_days) * 24);
        let due_before = ctx.now.checked_sub(lag).unwrap_or(Timestamp::MIN);
        let actions: Vec<&PrivilegedAction> = activity
            .hours
            .values()
            .flat_map(|b| &b.privileged)
            .collect();
        let unreviewed: Vec<&&PrivilegedAction> = actions
            .iter()
            .filter(|a| a.at < due_before && reviewed_until.is_none_or(|r| a.at > r))
            .collect();
        let since = match reviewed_until {
            Some(r) => format!("the last review is dated {r}"),
            None => "no review is recorded".to_string(),
        };
        let how = format!(
            "review the actions (activity.json in the evidence) and record it on the control as \
             an attestation with kind: AccessReview, check: {ID}, attestedBy, attestedAt and ticket"
        );
        let mut findings: Vec<Finding> = unreviewed
            .iter()
            .take(MAX_LISTED)
            .map(|a| {
                let name = if a.audit_id.is_empty() {
                    a.at.to_string()
                } else {
                    a.audit_id.clone()
                };
                Finding::new(
                    ResourceRef::new("PrivilegedAction", None, &name),
                    format!(
                        "{} is more than {} days old and not reviewed ({since}); {how}",
                        describe(a),
                        p.max_review_lag_days
                    ),
                )
            })
            .collect();
        if unreviewed.len() > MAX_LISTED {
            findings.push(Finding::new(
                control_ref(ctx),
                format!(
                    "{} more privileged actions are not reviewed ({since}); {how}",
                    unreviewed.len() - MAX_LISTED
                ),
            ));
        }
        let dropped: u64 = activity.hours.values().map(|b| b.privileged_dropped).sum();
        if dropped > 0 {
            findings.push(Finding::new(
                control_ref(ctx),
                format!(
                    "{dropped} privileged actions were counted but not listed (over the per-hour \
                     cap), so they cannot be reviewed from the evidence; raise the cap or find \
                     them in the cluster's own audit log"
                ),
            ));
        }
        Outcome::evaluated(actions.len(), findings)
    }
}

#[cfg(test)]
mod tests {
    use super::super::activity::fixtures::{at, hour, live};
    use crate::activity::{Activity, PrivilegedAction, PrivilegedKind};
    use crate::checks::testing::{checked, failing, messages, now, run_with_activity};
    use crate::crd::Attestation;

    const ID: &str = "access.privileged-actions-reviewed";

    fn review(at: &str) -> Attestation {
        serde_json::from_value(serde_json::json!({
            "kind": "AccessReview",
            "check": ID,
            "statement": "weekly review of exec and RBAC writes",
            "attestedBy": "secops@example.com",
            "attestedAt": at,
            "ticket": "SEC-42",
            "expires": "2027-12-31",
        }))
        .expect("attestation")
    }

    fn exec(a: &mut Activity, hours_ago: i64, id: &str) {
        hour(a, hours_ago).privileged.push(PrivilegedAction {
            kind: PrivilegedKind::PodExec,
            user: "alice".into(),
            as_user: None,
            at: at(-hours_ago * 3600),
            verb: "create".into(),
            resource: "pods/exec".into(),
            namespace: "prod".into(),
            name: "api-0".into(),
            code: 101,
            audit_id: id.into(),
        });
    }

    #[test]
    fn recent_or_reviewed_actions_pass() {
        let mut a = live();
        exec(&mut a, 2, "recent");
        exec(&mut a, 24 * 9, "old");
        // now() is 2026-06-15T12:00Z: the old exec was on 2026-06-06, reviewed on 2026-06-08.
        let out = run_with_activity(ID, "", "", now(), "cc", &[review("2026-06-08")], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
        assert_eq!(checked(&out), 2);
        let out = run_with_activity(ID, "maxReviewLagDays: 10", "", now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn an_old_action_without_a_later_review_fails_with_who_what_when() {
        let mut a = live();
        exec(&mut a, 24 * 9, "a1b2");
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["PrivilegedAction/a1b2"]);
        let m = &messages(&out)[0];
        assert!(
            m.starts_with("pods/exec by alice at 2026-06-06T12:00:00Z: create pods/exec `prod/api-0` (code 101, audit ID a1b2) is more than 7 days old and not reviewed (no review is recorded)"),
            "{m}"
        );
        // A review dated before the action does not cover it, nor does a plain statement.
        let out = run_with_activity(ID, "", "", now(), "cc", &[review("2026-06-01")], Some(&a));
        assert!(messages(&out)[0].contains("the last review is dated 2026-06-01T00:00:00Z"));
        let mut statement = review("2026-06-10");
        statement.kind = None;
        assert_eq!(
            failing(&run_with_activity(
                ID,
                "",
                "",
                now(),
                "cc",
                &[statement],
                Some(&a)
            ))
            .len(),
            1
        );
    }

    #[test]
    fn actions_dropped_over_the_cap_fail() {
        let mut a = live();
        hour(&mut a, 1).privileged_dropped = 3;
        let out = run_with_activity(ID, "", "", now(), "cc", &[review("2026-06-15")], Some(&a));
        assert_eq!(failing(&out), ["Soc2Control/cc"]);
        assert!(messages(&out)[0].starts_with("3 privileged actions were counted but not listed"));
    }
}
