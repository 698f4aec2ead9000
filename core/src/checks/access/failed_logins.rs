//! `access.failed-logins`: failed authentications (401) in the last `windowHours` stay under a
//! threshold per claimed user name and per client source IP (CC6.1/CC7.2: repeated failures
//! are a brute-force or leaked-credential signal someone must look at).
//!
//! Reads only [`Ctx::activity`]. The user of a failed authentication is usually unknown
//! (`<unauthenticated>`): those are judged per source IP only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::activity::{STALE_AFTER_MINUTES, operating};
use crate::activity::{BoundedCounts, UNAUTHENTICATED};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct FailedLogins;

/// Parameters of `access.failed-logins`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FailedLoginsParams {
    /// Hours looked back, the current one included. Default `24`.
    pub window_hours: u32,
    /// Most 401s per user name in the window before a finding. Default `10`.
    pub max_per_user: u64,
    /// Most 401s per client source IP in the window before a finding. Default `20`.
    pub max_per_source_ip: u64,
    /// Minutes without any audit event after which the control is not operating. Default `60`.
    pub stale_after_minutes: u32,
}

impl Default for FailedLoginsParams {
    fn default() -> Self {
        Self {
            window_hours: 24,
            max_per_user: 10,
            max_per_source_ip: 20,
            stale_after_minutes: STALE_AFTER_MINUTES,
        }
    }
}

impl Check for FailedLogins {
    type Params = FailedLoginsParams;

    fn reads(&self) -> Reads {
        Reads::kinds(&[]).and_activity()
    }

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "access.failed-logins",
            title: "Failed logins stay under a threshold",
            description: "More than maxPerUser (default 10) failed authentications (HTTP 401) \
                          for one user name, or more than maxPerSourceIp (default 20) from one \
                          client IP, in the last windowHours (default 24) of audit events.",
            criteria: &["CC6.1", "CC7.2"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, p: &FailedLoginsParams) -> Outcome {
        let activity = match operating(ctx, p.stale_after_minutes) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let mut by_user = BoundedCounts::default();
        let mut by_ip = BoundedCounts::default();
        for (_, b) in activity.window(ctx.now, p.window_hours) {
            by_user.merge(&b.auth_failures_by_user);
            by_ip.merge(&b.auth_failures_by_source_ip);
        }
        let hours = p.window_hours;
        let mut findings = Vec::new();
        for (user, n) in &by_user.counts {
            if user != UNAUTHENTICATED && *n > p.max_per_user {
                findings.push(Finding::new(
                    ResourceRef::new("User", None, user),
                    format!(
                        "{n} failed logins (401) for user {user} in the last {hours} h, more than \
                         {}; find out who is trying (a leaked or guessed credential) and lock \
                         the account if needed",
                        p.max_per_user
                    ),
                ));
            }
        }
        for (ip, n) in &by_ip.counts {
            if *n > p.max_per_source_ip {
                let ip_name = if ip.is_empty() {
                    "<unknown>"
                } else {
                    ip.as_str()
                };
                findings.push(Finding::new(
                    ResourceRef::new("SourceIP", None, ip_name),
                    format!(
                        "{n} failed logins (401) from source IP {ip_name} in the last {hours} h, \
                         more than {}; block or investigate the source",
                        p.max_per_source_ip
                    ),
                ));
            }
        }
        Outcome::evaluated(by_user.counts.len() + by_ip.counts.len(), findings)
    }
}

#[cfg(test)]
mod tests {
    use super::super::activity::fixtures::{hour, live};
    use crate::checks::testing::{checked, failing, messages, now, run_with_activity};

    const ID: &str = "access.failed-logins";

    fn with_failures(user: &str, ip: &str, per_hour: &[(i64, u64)]) -> crate::activity::Activity {
        let mut a = live();
        for (ago, n) in per_hour {
            let b = hour(&mut a, *ago);
            b.auth_failures_by_user.add_n(user, *n, 100);
            b.auth_failures_by_source_ip.add_n(ip, *n, 100);
        }
        a
    }

    #[test]
    fn failures_under_the_thresholds_pass() {
        let a = with_failures("alice", "10.0.0.9", &[(0, 4), (5, 6)]);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
        assert_eq!(checked(&out), 2);
        // Failures older than the window do not count.
        let a = with_failures("alice", "10.0.0.9", &[(0, 5), (30, 500)]);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn failures_over_a_threshold_fail_per_user_and_per_ip_summed_over_the_window() {
        let a = with_failures("alice", "10.0.0.9", &[(0, 6), (23, 6)]);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["User/alice"]);
        assert!(
            messages(&out)[0].starts_with(
                "12 failed logins (401) for user alice in the last 24 h, more than 10"
            ),
            "{out:?}"
        );
        let out = run_with_activity(ID, "maxPerSourceIp: 11", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["User/alice", "SourceIP/10.0.0.9"]);
        // Unauthenticated failures are judged by source IP only.
        let a = with_failures("<unauthenticated>", "203.0.113.7", &[(1, 25)]);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["SourceIP/203.0.113.7"]);
        assert!(messages(&out)[0].contains("25 failed logins (401) from source IP 203.0.113.7"));
    }
}
