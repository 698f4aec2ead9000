//! Aggregates of audit events per UTC hour: counts and small bounded top-lists. This is not a
//! SIEM: no raw event is kept, only who/how many, and the lists have fixed caps with a count of
//! what did not fit.
//!
//! Only `ResponseComplete` and `Panic` events are counted, so a request is counted once however
//! many stages the audit policy records.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::event::AuditEvent;

/// `user.extra` key under which the API server puts the credential id (`X509SHA256=…` for
/// client certificates, `JTI=…` for service account tokens).
pub const CREDENTIAL_ID_EXTRA: &str = "authentication.kubernetes.io/credential-id";

/// The key for requests without a user name (failed authentication leaves `user` empty).
pub const UNAUTHENTICATED: &str = "<unauthenticated>";

/// How events are turned into aggregates.
#[derive(Clone, Debug)]
pub struct AggregateConfig {
    /// Prefix of user names (or groups) given by the OIDC authenticator, e.g. `oidc:` or
    /// `https://issuer.example.com#`. `None`: no user is counted as OIDC.
    pub oidc_prefix: Option<String>,
    /// When set, user names are replaced by `sha256:<hex of SHA-256(salt ‖ name)>`.
    pub hash_salt: Option<String>,
    /// Distinct keys kept per counter (users, IPs); the rest are counted under `other`.
    pub max_keys: usize,
    /// Privileged actions listed per hour; the rest are counted in `privileged_dropped`.
    pub max_privileged: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            oidc_prefix: None,
            hash_salt: None,
            max_keys: 100,
            max_privileged: 200,
        }
    }
}

/// Counts by key with a cap on distinct keys; keys past the cap add to `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BoundedCounts {
    /// Count per key.
    pub counts: BTreeMap<String, u64>,
    /// Events whose key did not fit.
    pub other: u64,
}

impl BoundedCounts {
    fn add(&mut self, key: &str, cap: usize) {
        if let Some(n) = self.counts.get_mut(key) {
            *n += 1;
        } else if self.counts.len() < cap {
            self.counts.insert(key.to_owned(), 1);
        } else {
            self.other += 1;
        }
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
}

/// How a human authenticated, inferred from the user info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Authenticator {
    /// Through the configured OIDC issuer (the MFA-capable path).
    Oidc,
    /// A client certificate (`X509SHA256=` credential id).
    ClientCertificate,
    /// Anything else: static or bootstrap tokens, webhook token authenticators.
    Token,
}

/// The kinds of privileged action listed with who and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// One privileged action: who, when, what (no request body).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegedAction {
    /// What kind.
    pub kind: PrivilegedKind,
    /// The user (hashed when configured).
    pub user: String,
    /// The user impersonated, if any (hashed when configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    /// When the request was received.
    pub at: jiff::Timestamp,
    /// The verb.
    pub verb: String,
    /// `resource[/subresource]` in `group` (empty: core).
    pub resource: String,
    /// Namespace of the object (empty: cluster-scoped).
    pub namespace: String,
    /// Object name (empty: a list).
    pub name: String,
    /// The response code (a denied attempt is listed too, with its 403).
    pub code: u16,
    /// The audit ID, to find the full event in the cluster's own audit log.
    pub audit_id: String,
}

/// The aggregates of one UTC hour.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourBucket {
    /// Requests counted (final stage only).
    pub requests: u64,
    /// 401s by user name (usually empty or `system:anonymous`, the name is what was claimed).
    pub auth_failures_by_user: BoundedCounts,
    /// 401s by client source IP.
    pub auth_failures_by_source_ip: BoundedCounts,
    /// 403s by user.
    pub authz_denials_by_user: BoundedCounts,
    /// Requests of humans by authenticator, by user.
    pub humans_by_authenticator: BTreeMap<Authenticator, BoundedCounts>,
    /// Privileged actions in order of arrival, at most `max_privileged`.
    pub privileged: Vec<PrivilegedAction>,
    /// Privileged actions that did not fit in the list (counted, not lost silently).
    pub privileged_dropped: u64,
}

/// Aggregates by hour start (Unix seconds, UTC).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Aggregates {
    /// Buckets by the hour's start.
    pub hours: BTreeMap<i64, HourBucket>,
    /// Events ignored because they are not at a final stage.
    pub skipped_stages: u64,
}

/// True for a human user: anything not under `system:` (service accounts, nodes, control plane).
pub fn is_human(username: &str) -> bool {
    !username.is_empty() && !username.starts_with("system:")
}

/// The authenticator of a user, from the credential id, the OIDC prefix and the groups.
pub fn authenticator(user: &super::event::UserInfo, oidc_prefix: Option<&str>) -> Authenticator {
    let cred = user
        .extra
        .get(CREDENTIAL_ID_EXTRA)
        .and_then(|v| v.first())
        .map(String::as_str)
        .unwrap_or("");
    if cred.starts_with("X509SHA256=") {
        return Authenticator::ClientCertificate;
    }
    if let Some(p) = oidc_prefix.filter(|p| !p.is_empty())
        && (user.username.starts_with(p) || user.groups.iter().any(|g| g.starts_with(p)))
    {
        return Authenticator::Oidc;
    }
    Authenticator::Token
}

fn privileged_kind(e: &AuditEvent, human: bool) -> Option<PrivilegedKind> {
    if e.verb == "impersonate" || e.impersonated_user.is_some() {
        return Some(PrivilegedKind::Impersonate);
    }
    let o = e.object_ref.as_ref()?;
    match (
        o.api_group.as_str(),
        o.resource.as_str(),
        o.subresource.as_str(),
    ) {
        ("", "pods", "exec") => Some(PrivilegedKind::PodExec),
        ("", "pods", "attach") => Some(PrivilegedKind::PodAttach),
        ("", "pods", "portforward") => Some(PrivilegedKind::PodPortForward),
        ("rbac.authorization.k8s.io", _, _)
            if matches!(
                e.verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection"
            ) =>
        {
            Some(PrivilegedKind::RbacWrite)
        }
        ("", "secrets", "") if human && matches!(e.verb.as_str(), "get" | "list" | "watch") => {
            Some(PrivilegedKind::SecretReadByHuman)
        }
        _ => None,
    }
}

/// Start of the UTC hour holding `t`, in Unix seconds.
pub fn hour_start(t: jiff::Timestamp) -> i64 {
    t.as_second().div_euclid(3600) * 3600
}

impl Aggregates {
    /// Adds events to their hour buckets.
    pub fn add_all<'a>(
        &mut self,
        cfg: &AggregateConfig,
        events: impl IntoIterator<Item = &'a AuditEvent>,
    ) {
        for e in events {
            self.add(cfg, e);
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

    /// Adds one event (ignored unless at a final stage).
    pub fn add(&mut self, cfg: &AggregateConfig, e: &AuditEvent) {
        if !e.is_final_stage() {
            self.skipped_stages += 1;
            return;
        }
        let b = self
            .hours
            .entry(hour_start(e.request_received_timestamp))
            .or_default();
        b.requests += 1;
        let human = is_human(&e.user.username);
        let user = if e.user.username.is_empty() {
            UNAUTHENTICATED.to_owned()
        } else {
            display_user(cfg, &e.user.username)
        };
        match e.code() {
            401 => {
                b.auth_failures_by_user.add(&user, cfg.max_keys);
                let ip = e.source_ips.first().map_or("", String::as_str);
                b.auth_failures_by_source_ip.add(ip, cfg.max_keys);
                // An unauthenticated request says nothing about a human's authenticator.
                return;
            }
            403 => b.authz_denials_by_user.add(&user, cfg.max_keys),
            _ => {}
        }
        if human {
            let a = authenticator(&e.user, cfg.oidc_prefix.as_deref());
            b.humans_by_authenticator
                .entry(a)
                .or_default()
                .add(&user, cfg.max_keys);
        }
        if let Some(kind) = privileged_kind(e, human) {
            if b.privileged.len() < cfg.max_privileged {
                let o = e.object_ref.clone().unwrap_or_default();
                let mut resource = o.resource;
                if !o.subresource.is_empty() {
                    resource = format!("{resource}/{}", o.subresource);
                }
                if !o.api_group.is_empty() {
                    resource = format!("{resource}.{}", o.api_group);
                }
                b.privileged.push(PrivilegedAction {
                    kind,
                    user,
                    as_user: e
                        .impersonated_user
                        .as_ref()
                        .map(|u| display_user(cfg, &u.username)),
                    at: e.request_received_timestamp,
                    verb: e.verb.clone(),
                    resource,
                    namespace: o.namespace,
                    name: o.name,
                    code: e.code(),
                    audit_id: e.audit_id.clone(),
                });
            } else {
                b.privileged_dropped += 1;
            }
        }
    }
}

/// The user name as stored: hashed with the salt when configured.
pub fn display_user(cfg: &AggregateConfig, username: &str) -> String {
    match &cfg.hash_salt {
        None => username.to_owned(),
        Some(salt) => {
            let mut h = Sha256::new();
            h.update(salt.as_bytes());
            h.update(username.as_bytes());
            format!("sha256:{}", hex::encode(h.finalize()))
        }
    }
}
