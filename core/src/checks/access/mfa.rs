//! `access.mfa`: every human cluster administrator authenticated only through the OIDC issuer
//! (where the identity provider enforces MFA) in the last `windowHours` (CC6.1/CC6.2/CC6.3).
//!
//! A human admin is a user not named `system:*` who holds full access to the whole cluster: a
//! ClusterRoleBinding to `cluster-admin`, or to a ClusterRole with `*` verbs on `*` resources,
//! names the user or a group the user's requests carried (from the snapshot's RBAC, see
//! [`crate::checks::rbac::cluster_admins`]). The authenticators come from
//! [`Ctx::activity`]: a client certificate or a token is not the OIDC path. Admins without
//! requests in the window are not judged; humans past the aggregates' per-hour key cap are
//! not either (counted in `humansOther`).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::activity::{STALE_AFTER_MINUTES, operating};
use crate::activity::{Authenticator, HumanActivity, is_human, username_of};
use crate::checks::rbac::cluster_admins;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct Mfa;

/// Parameters of `access.mfa`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MfaParams {
    /// Hours looked back, the current one included. Default `24`.
    pub window_hours: u32,
    /// User names allowed to authenticate otherwise (a break-glass client certificate kept in
    /// a safe). Default: none.
    pub allowed_users: Vec<String>,
    /// Minutes without any audit event after which the control is not operating. Default `60`.
    pub stale_after_minutes: u32,
}

impl Default for MfaParams {
    fn default() -> Self {
        Self {
            window_hours: 24,
            allowed_users: Vec::new(),
            stale_after_minutes: STALE_AFTER_MINUTES,
        }
    }
}

impl Check for Mfa {
    type Params = MfaParams;

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::ClusterRole,
            crate::snapshot::KindId::ClusterRoleBinding,
            crate::snapshot::KindId::Role,
            crate::snapshot::KindId::RoleBinding,
        ])
        .and_activity()
    }

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "access.mfa",
            title: "Human administrators authenticate through the MFA identity provider",
            description: "A human with full access to the cluster (cluster-admin or equivalent, \
                          bound to the user or one of its groups) made requests in the last \
                          windowHours (default 24) authenticated by a client certificate or a \
                          token rather than the OIDC issuer.",
            criteria: &["CC6.1", "CC6.2", "CC6.3"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, p: &MfaParams) -> Outcome {
        let activity = match operating(ctx, p.stale_after_minutes) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        // Admin users by their key in the aggregates (hashed when configured); admin groups by
        // name (group names are not hashed).
        let mut admin_users: BTreeMap<String, String> = BTreeMap::new();
        let mut admin_groups: BTreeMap<String, String> = BTreeMap::new();
        for (subject, binding) in cluster_admins(ctx.snapshot) {
            if let Some(group) = subject.strip_prefix("Group/") {
                admin_groups.insert(group.to_owned(), binding);
            } else if let Some(user) = username_of(&subject).filter(|u| is_human(u)) {
                admin_users.insert(activity.user_key(&user), binding);
            }
        }
        let allowed: BTreeSet<String> = p
            .allowed_users
            .iter()
            .map(|u| activity.user_key(u))
            .collect();
        let mut humans: BTreeMap<&str, HumanActivity> = BTreeMap::new();
        for (_, b) in activity.window(ctx.now, p.window_hours) {
            for (user, h) in &b.humans {
                let m = humans.entry(user.as_str()).or_default();
                m.requests += h.requests;
                m.authenticators.extend(h.authenticators.iter().copied());
                m.groups.extend(h.groups.iter().cloned());
            }
        }
        let mut checked = 0;
        let mut findings = Vec::new();
        for (user, h) in &humans {
            let via = admin_users.get(*user).cloned().or_else(|| {
                h.groups
                    .iter()
                    .find_map(|g| admin_groups.get(g).map(|b| format!("{b} (group `{g}`)")))
            });
            let Some(via) = via else { continue };
            checked += 1;
            if allowed.contains(*user) {
                continue;
            }
            let other: Vec<&str> = h
                .authenticators
                .iter()
                .filter(|a| **a != Authenticator::Oidc)
                .map(|a| a.as_str())
                .collect();
            if other.is_empty() {
                continue;
            }
            let hint = if activity.oidc_configured {
                ""
            } else {
                " (the intake has no --audit-oidc-prefix, so no request counts as OIDC)"
            };
            findings.push(Finding::new(
                ResourceRef::new("User", None, user),
                format!(
                    "{user} holds full access through {via} and authenticated through {} in the \
                     last {} h, not only the OIDC issuer{hint}; use the identity provider (with \
                     MFA) and revoke other credentials, or list a break-glass user in \
                     allowedUsers",
                    other.join(" and "),
                    p.window_hours
                ),
            ));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use super::super::activity::fixtures::{hour, live};
    use crate::activity::{Activity, Authenticator, Salt};
    use crate::checks::testing::{checked, failing, messages, now, run_with_activity};

    const ID: &str = "access.mfa";

    const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {kind: User, name: alice@example.com}
  - {kind: Group, name: "oidc:platform-admins"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
  - {kind: User, name: carol@example.com}
"#;

    fn human(a: &mut Activity, ago: i64, user: &str, auth: Authenticator, groups: &[&str]) {
        let h = hour(a, ago).humans.entry(user.to_owned()).or_default();
        h.requests += 3;
        h.authenticators.insert(auth);
        h.groups.extend(groups.iter().map(|g| g.to_string()));
    }

    #[test]
    fn admins_through_oidc_only_pass_and_non_admins_are_not_judged() {
        let mut a = live();
        human(&mut a, 0, "alice@example.com", Authenticator::Oidc, &[]);
        human(
            &mut a,
            2,
            "oidc:bob",
            Authenticator::Oidc,
            &["oidc:platform-admins"],
        );
        // carol only has view: a client certificate is not this check's business.
        human(
            &mut a,
            1,
            "carol@example.com",
            Authenticator::ClientCertificate,
            &[],
        );
        let out = run_with_activity(ID, "", RBAC, now(), "cc", &[], Some(&a));
        assert!(failing(&out).is_empty(), "{out:?}");
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn an_admin_by_user_or_by_group_using_a_certificate_or_token_fails() {
        let mut a = live();
        human(&mut a, 0, "alice@example.com", Authenticator::Oidc, &[]);
        human(
            &mut a,
            5,
            "alice@example.com",
            Authenticator::ClientCertificate,
            &[],
        );
        human(
            &mut a,
            3,
            "dave",
            Authenticator::Token,
            &["oidc:platform-admins"],
        );
        let out = run_with_activity(ID, "", RBAC, now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), ["User/alice@example.com", "User/dave"]);
        let m = messages(&out);
        assert!(
            m[0].contains("full access through ClusterRoleBinding `admins` and authenticated through clientCertificate in the last 24 h"),
            "{}",
            m[0]
        );
        assert!(m[1].contains("(group `oidc:platform-admins`)") && m[1].contains("through token"));
        // A break-glass user can be allowed; an old certificate use leaves the window.
        let out = run_with_activity(
            ID,
            "allowedUsers: [dave]\nwindowHours: 5",
            RBAC,
            now(),
            "cc",
            &[],
            Some(&a),
        );
        assert!(failing(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn hashed_user_names_are_matched_through_the_salt_and_no_prefix_is_explained() {
        let mut a = live();
        a.salt = Some(Salt::new("s3cret"));
        a.oidc_configured = false;
        let key = a.user_key("alice@example.com");
        human(&mut a, 0, &key, Authenticator::Token, &[]);
        let out = run_with_activity(ID, "", RBAC, now(), "cc", &[], Some(&a));
        assert_eq!(failing(&out), [format!("User/{key}")]);
        assert!(messages(&out)[0].contains("no --audit-oidc-prefix"));
        assert!(!messages(&out)[0].contains("alice"));
    }
}
