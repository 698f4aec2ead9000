//! The binding ledger: which RBAC subjects (User, Group, ServiceAccount) were bound, and when
//! their last RoleBinding or ClusterRoleBinding disappeared (CC6.2, access removed on
//! termination).
//!
//! The operator observes the bindings in its caches at every evaluation; a subject bound at
//! the previous observation and absent now gets the current time as its removal time. The
//! ledger is written in each evidence snapshot (`activity.json`) and restored from the chain
//! head at start, so it survives restarts. Limits: a binding removed while the operator was
//! down gets the time of the first observation after the restart; a subject bound and removed
//! between two observations is never seen; without an evidence chain the ledger starts empty.
//!
//! Subjects are keyed `User/<name>`, `Group/<name>` and `ServiceAccount/<ns>/<name>` (a User
//! named `system:serviceaccount:<ns>:<name>` is that ServiceAccount).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Bound subjects and removals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BindingLedger {
    /// Subjects bound at the last observation, with when each was first seen bound.
    pub bound: BTreeMap<String, Timestamp>,
    /// Subjects with no binding left, with when that was first observed.
    pub removed: BTreeMap<String, Timestamp>,
    /// When the bindings were last observed.
    pub observed_at: Option<Timestamp>,
}

impl BindingLedger {
    /// Records the subjects bound at `now`: subjects no longer bound are removed at `now`,
    /// subjects bound again leave the removed list. Observations older than the last one are
    /// ignored.
    pub fn observe(&mut self, current: &BTreeSet<String>, now: Timestamp) {
        if self.observed_at.is_some_and(|t| now < t) {
            return;
        }
        let gone: Vec<String> = self
            .bound
            .keys()
            .filter(|k| !current.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.bound.remove(&k);
            self.removed.insert(k, now);
        }
        for k in current {
            self.removed.remove(k);
            self.bound.entry(k.clone()).or_insert(now);
        }
        self.observed_at = Some(now);
    }

    /// Forgets removals older than `before` (their requests are past the aggregates'
    /// retention anyway). Returns how many were forgotten.
    pub fn prune_removed(&mut self, before: Timestamp) -> usize {
        let n = self.removed.len();
        self.removed.retain(|_, t| *t >= before);
        n - self.removed.len()
    }
}

/// The ledger key of a binding subject.
pub fn subject_key(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match kind {
        "ServiceAccount" => format!("ServiceAccount/{}/{name}", namespace.unwrap_or("")),
        "User" => user_subject(name),
        other => format!("{other}/{name}"),
    }
}

/// The ledger key of the user of a request: a ServiceAccount for
/// `system:serviceaccount:<ns>:<name>`, otherwise a User.
pub fn user_subject(username: &str) -> String {
    match username
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            format!("ServiceAccount/{ns}/{name}")
        }
        _ => format!("User/{username}"),
    }
}

/// The user name requests by this subject carry; `None` for groups (their members are the
/// identity provider's to know).
pub fn username_of(key: &str) -> Option<String> {
    let (kind, rest) = key.split_once('/')?;
    match kind {
        "User" => Some(rest.to_owned()),
        "ServiceAccount" => {
            let (ns, name) = rest.split_once('/')?;
            Some(format!("system:serviceaccount:{ns}:{name}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn a_subject_is_removed_when_its_last_binding_goes_and_restored_when_bound_again() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let mut l = BindingLedger::default();
        l.observe(
            &set(&["User/alice", "ServiceAccount/ci/deployer"]),
            t("2026-06-01T00:00:00Z"),
        );
        l.observe(
            &set(&["ServiceAccount/ci/deployer"]),
            t("2026-06-02T00:00:00Z"),
        );
        assert_eq!(l.removed["User/alice"], t("2026-06-02T00:00:00Z"));
        // Still absent later: the removal time does not move.
        l.observe(
            &set(&["ServiceAccount/ci/deployer"]),
            t("2026-06-03T00:00:00Z"),
        );
        assert_eq!(l.removed["User/alice"], t("2026-06-02T00:00:00Z"));
        // An older observation is ignored.
        l.observe(&set(&[]), t("2026-05-01T00:00:00Z"));
        assert!(l.bound.contains_key("ServiceAccount/ci/deployer"));
        // Bound again: no longer removed.
        l.observe(
            &set(&["User/alice", "ServiceAccount/ci/deployer"]),
            t("2026-06-04T00:00:00Z"),
        );
        assert!(l.removed.is_empty());
        assert_eq!(l.bound["User/alice"], t("2026-06-04T00:00:00Z"));
        assert_eq!(l.prune_removed(t("2026-06-05T00:00:00Z")), 0);
    }

    #[test]
    fn service_account_users_and_subjects_share_one_key() {
        assert_eq!(
            subject_key("User", None, "system:serviceaccount:ci:deployer"),
            "ServiceAccount/ci/deployer"
        );
        assert_eq!(
            subject_key("ServiceAccount", Some("ci"), "deployer"),
            user_subject("system:serviceaccount:ci:deployer")
        );
        assert_eq!(
            username_of("ServiceAccount/ci/deployer").as_deref(),
            Some("system:serviceaccount:ci:deployer")
        );
        assert_eq!(
            username_of("User/https://idp#bob").as_deref(),
            Some("https://idp#bob")
        );
        assert_eq!(username_of("Group/devs"), None);
    }
}
