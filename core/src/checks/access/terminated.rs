//! `access.terminated-identities`: no request from an identity whose last RoleBinding or
//! ClusterRoleBinding was removed more than `graceHours` earlier (CC6.2: access is removed
//! when no longer required, credentials included).
//!
//! Removals come from the binding ledger in [`Ctx::activity`] (see
//! [`crate::activity::ledger`] for what it can and cannot see); requests from the hourly
//! `requestsByUser` counts. Only whole hours that start at or after the end of the grace period
//! count, so up to an hour of use right after it may be missed. Groups are not judged: their
//! members are the identity provider's to know.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::activity::{STALE_AFTER_MINUTES, operating};
use crate::activity::{hour_start, username_of};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct TerminatedIdentities;

/// Parameters of `access.terminated-identities`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TerminatedParams {
    /// Hours after the last binding's removal during which requests are still accepted
    /// (sessions and tokens expiring). Default `24`.
    pub grace_hours: u32,
    /// Minutes without any audit event after which the control is not operating. Default `60`.
    pub stale_after_minutes: u32,
}

impl Default for TerminatedParams {
    fn default() -> Self {
        Self {
            grace_hours: 24,
            stale_after_minutes: STALE_AFTER_MINUTES,
        }
    }
}

/// Requests by one removed identity after its grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostTerminationUse {
    /// Ledger key (`User/<name>` or `ServiceAccount/<ns>/<name>`).
    pub subject: String,
    /// When its last binding was seen removed.
    pub removed_at: Timestamp,
    /// Requests in whole hours after the grace period.
    pub requests: u64,
    /// Start of the first such hour.
    pub first_hour: Timestamp,
    /// Start of the last such hour.
    pub last_hour: Timestamp,
}

/// Every removed identity's requests after `grace` (the check's and the report's figure).
pub fn post_termination_use(
    activity: &crate::activity::Activity,
    grace: SignedDuration,
) -> Vec<PostTerminationUse> {
    let mut out = Vec::new();
    for (subject, removed_at) in &activity.bindings.removed {
        let Some(user) = username_of(subject) else {
            continue;
        };
        let key = activity.user_key(&user);
        let cutoff = removed_at.checked_add(grace).unwrap_or(Timestamp::MAX);
        // The first whole hour at or after the cutoff.
        let first = hour_start(cutoff)
            + if cutoff.as_second() % 3600 == 0 {
                0
            } else {
                3600
            };
        let counts: BTreeMap<i64, u64> = activity
            .hours
            .range(first..)
            .filter_map(|(h, b)| b.requests_by_user.counts.get(&key).map(|n| (*h, *n)))
            .collect();
        let (Some((f, _)), Some((l, _))) = (counts.first_key_value(), counts.last_key_value())
        else {
            continue;
        };
        out.push(PostTerminationUse {
            subject: subject.clone(),
            removed_at: *removed_at,
            requests: counts.values().sum(),
            first_hour: Timestamp::from_second(*f).unwrap_or(Timestamp::MIN),
            last_hour: Timestamp::from_second(*l).unwrap_or(Timestamp::MIN),
        });
    }
    out
}

impl Check for TerminatedIdentities {
    type Params = TerminatedParams;

    fn reads(&self) -> Reads {
        Reads::kinds(&[]).and_activity()
    }

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "access.terminated-identities",
            title: "Identities whose access was removed make no requests",
            description: "A user or ServiceAccount whose last RoleBinding or ClusterRoleBinding \
                          was removed more than graceHours (default 24) earlier still made \
                          requests to the API server (post-termination use).",
            criteria: &["CC6.2"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, p: &TerminatedParams) -> Outcome {
        let activity = match operating(ctx, p.stale_after_minutes) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let grace = SignedDuration::from_hours(i64::from(p.grace_hours));
        let checked = activity
            .bindings
            .removed
            .keys()
            .filter(|k| username_of(k).is_some())
            .count();
        let findings = post_termination_use(activity, grace)
            .into_iter()
            .map(|u| {
                let resource = match u.subject.split_once('/') {
                    Some(("ServiceAccount", rest)) => {
                        let (ns, name) = rest.split_once('/').unwrap_or(("", rest));
                        ResourceRef::new("ServiceAccount", Some(ns), name)
                    }
                    Some((kind, name)) => ResourceRef::new(kind, None, name),
                    None => ResourceRef::new("User", None, &u.subject),
                };
                Finding::new(
                    resource,
                    format!(
                        "{} requests by {} between {} and the hour after {}, more than {} h after \
                         its last binding was removed ({}); revoke its credentials (OIDC \
                         sessions, client certificates, tokens) and find out what it did",
                        u.requests,
                        u.subject,
                        u.first_hour,
                        u.last_hour,
                        p.grace_hours,
                        u.removed_at
                    ),
                )
            })
            .collect();
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::activity::fixtures::{at, hour, live};
    use crate::activity::{Activity, Salt};
    use crate::checks::testing::{checked, failing, messages, now, run_with_activity};

    const ID: &str = "access.terminated-identities";

    /// Bob and a CI ServiceAccount were bound; both bindings were removed 30 hours ago.
    fn removed_30h_ago() -> Activity {
        let mut a = live();
        let both: BTreeSet<String> =
            ["User/bob".to_string(), "ServiceAccount/ci/deployer".into()].into();
        a.bindings.observe(&both, at(-40 * 3600));
        a.bindings.observe(&BTreeSet::new(), at(-30 * 3600));
        a
    }

    #[test]
    fn no_requests_after_the_grace_period_pass() {
        let mut a = removed_30h_ago();
        // Requests during the grace period (removed 30 h ago, grace 24 h: until 6 h ago).
        hour(&mut a, 8).requests_by_user.add_n("bob", 4, 100);
        hour(&mut a, 2).requests_by_user.add_n("carol", 4, 100);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn requests_after_the_grace_period_fail_for_users_and_service_accounts() {
        let mut a = removed_30h_ago();
        hour(&mut a, 3).requests_by_user.add_n("bob", 2, 100);
        hour(&mut a, 1).requests_by_user.add_n("bob", 5, 100);
        hour(&mut a, 0)
            .requests_by_user
            .add_n("system:serviceaccount:ci:deployer", 9, 100);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["ServiceAccount/ci/deployer", "User/bob"]);
        let m = messages(&out);
        assert!(
            m[1].starts_with("7 requests by User/bob between 2026-06-15T09:00:00Z and the hour after 2026-06-15T11:00:00Z, more than 24 h after its last binding was removed (2026-06-14T06:00:00Z)"),
            "{}",
            m[1]
        );
        // A grace reaching past the last hour (removed 30 h ago, last request in the hour of
        // now) accepts them.
        let out = run_with_activity(ID, "graceHours: 31", "", now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
        // Bound again: not terminated.
        let mut again = a.clone();
        again
            .bindings
            .observe(&["User/bob".to_string()].into(), at(-1800));
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&again));
        assert_eq!(failing(&out), ["ServiceAccount/ci/deployer"]);
    }

    #[test]
    fn hashed_names_are_matched_through_the_salt() {
        let mut a = removed_30h_ago();
        a.salt = Some(Salt::new("pepper"));
        let key = a.user_key("bob");
        hour(&mut a, 1).requests_by_user.add_n(&key, 1, 100);
        let out = run_with_activity(ID, "", "", now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["User/bob"]);
    }
}
