//! Activity: what the API server's audit events say about access, reduced to hourly
//! aggregates (issue 13). Plain serde types with no I/O, so checks can read them
//! ([`crate::checks::Ctx::activity`]) and the evidence writer can record them.
//!
//! The operator's audit-event intake fills an [`Activity`] (see
//! `soc2_operator::audit_events::aggregate`); this module owns the data model, the bounded
//! counters, the binding ledger ([`ledger`]) and the queries checks share. It does not parse
//! events and never holds a raw event or a request body.

pub mod ledger;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ledger::{BindingLedger, subject_key, user_subject, username_of};

/// The key for requests without a user name (failed authentication leaves `user` empty).
pub const UNAUTHENTICATED: &str = "<unauthenticated>";

/// Groups kept per human and hour (enough for admin-group membership; the rest are dropped).
pub const MAX_GROUPS_PER_HUMAN: usize = 32;

/// Counts by key with a cap on distinct keys; keys past the cap add to `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoundedCounts {
    /// Count per key.
    pub counts: BTreeMap<String, u64>,
    /// Events whose key did not fit.
    pub other: u64,
}

impl BoundedCounts {
    /// Adds `n` to `key`, or to `other` when `cap` distinct keys are already held.
    pub fn add_n(&mut self, key: &str, n: u64, cap: usize) {
        if let Some(c) = self.counts.get_mut(key) {
            *c += n;
        } else if self.counts.len() < cap {
            self.counts.insert(key.to_owned(), n);
        } else {
            self.other += n;
        }
    }

    /// Adds one to `key` (see [`BoundedCounts::add_n`]).
    pub fn add(&mut self, key: &str, cap: usize) {
        self.add_n(key, 1, cap);
    }

    /// The `n` largest counts, largest first (ties by key).
    pub fn top(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self.counts.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// Sum of every count, `other` included.
    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.other
    }

    /// Adds every count of `other` (no cap: merging never loses a key already counted).
    pub fn merge(&mut self, other: &BoundedCounts) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
        self.other += other.other;
    }
}

/// How a human authenticated, inferred from the user info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Authenticator {
    /// Through the configured OIDC issuer (the MFA-capable path).
    Oidc,
    /// A client certificate (`X509SHA256=` credential id).
    ClientCertificate,
    /// Anything else: static or bootstrap tokens, webhook token authenticators.
    Token,
}

impl Authenticator {
    /// The name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Authenticator::Oidc => "oidc",
            Authenticator::ClientCertificate => "clientCertificate",
            Authenticator::Token => "token",
        }
    }
}

/// The kinds of privileged action listed with who and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrivilegedKind {
    /// `pods/exec`.
    #[serde(rename = "pods/exec")]
    PodExec,
    /// `pods/attach`.
    #[serde(rename = "pods/attach")]
    PodAttach,
    /// `pods/portforward`.
    #[serde(rename = "pods/portforward")]
    PodPortForward,
    /// create/update/patch/delete on `rbac.authorization.k8s.io`.
    #[serde(rename = "rbac-write")]
    RbacWrite,
    /// The `impersonate` verb, or any request made with `impersonatedUser` set.
    #[serde(rename = "impersonate")]
    Impersonate,
    /// get/list/watch of Secrets by a human.
    #[serde(rename = "secret-read")]
    SecretReadByHuman,
}

impl PrivilegedKind {
    /// The name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivilegedKind::PodExec => "pods/exec",
            PrivilegedKind::PodAttach => "pods/attach",
            PrivilegedKind::PodPortForward => "pods/portforward",
            PrivilegedKind::RbacWrite => "rbac-write",
            PrivilegedKind::Impersonate => "impersonate",
            PrivilegedKind::SecretReadByHuman => "secret-read",
        }
    }
}

/// One privileged action: who, when, what (no request body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegedAction {
    /// What kind.
    pub kind: PrivilegedKind,
    /// The user (hashed when configured).
    pub user: String,
    /// The user impersonated, if any (hashed when configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    /// When the request was received.
    pub at: Timestamp,
    /// The verb.
    pub verb: String,
    /// `resource[/subresource]` in `group` (empty: core).
    pub resource: String,
    /// Namespace of the object (empty: cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Object name (empty: a list).
    #[serde(default)]
    pub name: String,
    /// The response code (a denied attempt is listed too, with its 403).
    pub code: u16,
    /// The audit ID, to find the full event in the cluster's own audit log.
    #[serde(default)]
    pub audit_id: String,
}

/// One human's requests in an hour: how many, through which authenticators, in which groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HumanActivity {
    /// Requests (401s excluded: they say nothing about how the human authenticates).
    pub requests: u64,
    /// The authenticators seen.
    pub authenticators: BTreeSet<Authenticator>,
    /// Groups seen (at most [`MAX_GROUPS_PER_HUMAN`]), to tell members of admin groups.
    pub groups: BTreeSet<String>,
}

/// The aggregates of one UTC hour.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HourBucket {
    /// Requests counted (final stage only).
    pub requests: u64,
    /// Requests by user name (service accounts included), for post-termination use.
    pub requests_by_user: BoundedCounts,
    /// 401s by user name (usually empty or `system:anonymous`, the name is what was claimed).
    pub auth_failures_by_user: BoundedCounts,
    /// 401s by client source IP.
    pub auth_failures_by_source_ip: BoundedCounts,
    /// 403s by user.
    pub authz_denials_by_user: BoundedCounts,
    /// Requests of humans by authenticator, by user.
    pub humans_by_authenticator: BTreeMap<Authenticator, BoundedCounts>,
    /// Per human: requests, authenticators and groups (at most `max_keys` humans).
    pub humans: BTreeMap<String, HumanActivity>,
    /// Requests of humans that did not fit in `humans`.
    pub humans_other: u64,
    /// Privileged actions in order of arrival, at most `max_privileged`.
    pub privileged: Vec<PrivilegedAction>,
    /// Privileged actions that did not fit in the list (counted, not lost silently).
    pub privileged_dropped: u64,
}

/// The salt of user-name hashing. Never serialized and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt(String);

impl Salt {
    /// Wraps a salt.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

/// `sha256:<hex of SHA-256(salt ‖ name)>`.
pub fn hash_name(salt: &Salt, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.0.as_bytes());
    h.update(name.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Everything the audit events said, by hour, plus the binding ledger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Activity {
    /// Buckets by the hour's start (Unix seconds, UTC).
    pub hours: BTreeMap<i64, HourBucket>,
    /// Events ignored because they are not at a final stage.
    pub skipped_stages: u64,
    /// When the first batch of events was received (wall clock of the receiver).
    pub first_received: Option<Timestamp>,
    /// When the last batch of events was received (wall clock of the receiver): "events
    /// stopped" is judged from this.
    pub last_received: Option<Timestamp>,
    /// The newest `requestReceivedTimestamp` seen.
    pub last_event: Option<Timestamp>,
    /// Whether an OIDC prefix is configured (without one no human counts as OIDC).
    pub oidc_configured: bool,
    /// Whether user names are hashed.
    pub hashed: bool,
    /// RBAC subjects seen bound, and when their last binding disappeared.
    pub bindings: BindingLedger,
    /// The hashing salt, to look RBAC subject names up in hashed aggregates (never
    /// serialized).
    #[serde(skip)]
    pub salt: Option<Salt>,
}

/// Start of the UTC hour holding `t`, in Unix seconds.
pub fn hour_start(t: Timestamp) -> i64 {
    t.as_second().div_euclid(3600) * 3600
}

/// True for a human user: anything not under `system:` (service accounts, nodes, control plane).
pub fn is_human(username: &str) -> bool {
    !username.is_empty() && !username.starts_with("system:")
}

impl Activity {
    /// The user name as the aggregates store it: hashed with the salt when set.
    pub fn user_key(&self, username: &str) -> String {
        match &self.salt {
            Some(salt) => hash_name(salt, username),
            None => username.to_owned(),
        }
    }

    /// Records that a batch was received at `at` (the receiver's clock).
    pub fn received(&mut self, at: Timestamp) {
        self.first_received.get_or_insert(at);
        if self.last_received.is_none_or(|l| l < at) {
            self.last_received = Some(at);
        }
    }

    /// Forgets the hours that start before `hour` (Unix seconds): the retention of the
    /// in-memory buckets. Returns how many were removed.
    pub fn prune_before(&mut self, hour: i64) -> usize {
        let keep = self.hours.split_off(&hour);
        let removed = self.hours.len();
        self.hours = keep;
        removed
    }

    /// The buckets of the `hours` hours up to and including the one holding `now`.
    pub fn window(&self, now: Timestamp, hours: u32) -> impl Iterator<Item = (i64, &HourBucket)> {
        let end = hour_start(now);
        let start = end - i64::from(hours.saturating_sub(1)) * 3600;
        self.hours.range(start..=end).map(|(h, b)| (*h, b))
    }

    /// A copy holding only the hours in `[from_hour, to_hour]` (for the evidence document).
    pub fn hours_between(&self, from_hour: i64, to_hour: i64) -> Activity {
        let mut out = self.clone();
        out.hours = self
            .hours
            .range(from_hour..=to_hour)
            .map(|(h, b)| (*h, b.clone()))
            .collect();
        out
    }
}

/// Whether the events stopped: received before, but nothing for longer than `stale`. Returns
/// the time of the last batch when stopped.
pub fn stopped(
    activity: &Activity,
    now: Timestamp,
    stale: jiff::SignedDuration,
) -> Option<Timestamp> {
    let last = activity.last_received?;
    (now.duration_since(last) > stale).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_counts_cap_keys_and_merge_without_loss() {
        let mut c = BoundedCounts::default();
        c.add("a", 2);
        c.add("b", 2);
        c.add("c", 2);
        c.add_n("a", 3, 2);
        assert_eq!(c.counts["a"], 4);
        assert_eq!(c.other, 1);
        assert_eq!(c.total(), 6);
        let mut d = BoundedCounts::default();
        d.merge(&c);
        d.merge(&c);
        assert_eq!(d.total(), 12);
        assert_eq!(d.top(1), [("a", 8)]);
    }

    #[test]
    fn window_and_stopped_use_whole_hours_and_receipt_time() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let mut a = Activity::default();
        for h in [
            "2026-06-14T11:10:00Z",
            "2026-06-15T10:59:00Z",
            "2026-06-15T12:30:00Z",
        ] {
            a.hours.entry(hour_start(t(h))).or_default().requests += 1;
        }
        let now = t("2026-06-15T12:45:00Z");
        // 24 hours: 2026-06-14T13:00 to 2026-06-15T12:00, so 11:10 the day before is out.
        assert_eq!(a.window(now, 24).count(), 2);
        assert_eq!(a.window(now, 26).count(), 3);
        assert_eq!(stopped(&a, now, jiff::SignedDuration::from_hours(1)), None);
        a.received(t("2026-06-15T11:00:00Z"));
        a.received(t("2026-06-15T10:00:00Z"));
        assert_eq!(a.first_received, Some(t("2026-06-15T11:00:00Z")));
        assert_eq!(
            stopped(&a, now, jiff::SignedDuration::from_hours(1)),
            Some(t("2026-06-15T11:00:00Z"))
        );
        assert_eq!(stopped(&a, now, jiff::SignedDuration::from_hours(2)), None);
    }

    #[test]
    fn user_keys_are_hashed_with_the_salt_and_the_salt_is_never_shown() {
        let mut a = Activity::default();
        assert_eq!(a.user_key("alice"), "alice");
        a.salt = Some(Salt::new("pepper"));
        let k = a.user_key("alice");
        assert!(k.starts_with("sha256:") && k.len() == 71, "{k}");
        assert!(!format!("{a:?}").contains("pepper"));
        assert!(!serde_json::to_string(&a).expect("json").contains("pepper"));
    }
}
