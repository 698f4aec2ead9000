//! Reduces audit events to the hourly aggregates of [`soc2_core::activity`] (the data model
//! lives there so checks and evidence can read it). This is not a SIEM: no raw event is kept,
//! only who/how many, and the lists have fixed caps with a count of what did not fit.
//!
//! Only `ResponseComplete` and `Panic` events are counted, so a request is counted once however
//! many stages the audit policy records.

use jiff::Timestamp;

use super::event::AuditEvent;
pub use soc2_core::activity::{
    Activity, Authenticator, BoundedCounts, HourBucket, HumanActivity, MAX_GROUPS_PER_HUMAN,
    PrivilegedAction, PrivilegedKind, Salt, UNAUTHENTICATED, hash_name, hour_start, is_human,
};

/// The in-memory aggregates: the core [`Activity`], filled by [`Aggregate`].
pub type Aggregates = Activity;

/// `user.extra` key under which the API server puts the credential id (`X509SHA256=…` for
/// client certificates, `JTI=…` for service account tokens).
pub const CREDENTIAL_ID_EXTRA: &str = "authentication.kubernetes.io/credential-id";

/// How events are turned into aggregates. `Debug` prints whether a salt is set, never the salt.
#[derive(Clone)]
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

impl std::fmt::Debug for AggregateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateConfig")
            .field("oidc_prefix", &self.oidc_prefix)
            .field("hash_salt", &self.hash_salt.as_ref().map(|_| "<redacted>"))
            .field("max_keys", &self.max_keys)
            .field("max_privileged", &self.max_privileged)
            .finish()
    }
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

/// Filling an [`Activity`] from audit events.
pub trait Aggregate {
    /// Adds events to their hour buckets (and records the configuration's OIDC and hashing
    /// settings), without marking a batch as received.
    fn add_all<'a>(
        &mut self,
        cfg: &AggregateConfig,
        events: impl IntoIterator<Item = &'a AuditEvent>,
    );
    /// Adds a batch received at `received_at` (the receiver's clock): what "events stopped" is
    /// judged from.
    fn add_batch(&mut self, cfg: &AggregateConfig, events: &[AuditEvent], received_at: Timestamp);
    /// Adds one event (ignored unless at a final stage).
    fn add(&mut self, cfg: &AggregateConfig, e: &AuditEvent);
}

impl Aggregate for Activity {
    fn add_all<'a>(
        &mut self,
        cfg: &AggregateConfig,
        events: impl IntoIterator<Item = &'a AuditEvent>,
    ) {
        self.oidc_configured = cfg.oidc_prefix.as_deref().is_some_and(|p| !p.is_empty());
        self.hashed = cfg.hash_salt.is_some();
        if self.salt.is_none() {
            self.salt = cfg.hash_salt.as_deref().map(Salt::new);
        }
        for e in events {
            self.add(cfg, e);
        }
    }

    fn add_batch(&mut self, cfg: &AggregateConfig, events: &[AuditEvent], received_at: Timestamp) {
        self.add_all(cfg, events);
        self.received(received_at);
    }

    fn add(&mut self, cfg: &AggregateConfig, e: &AuditEvent) {
        if !e.is_final_stage() {
            self.skipped_stages += 1;
            return;
        }
        let at = e.request_received_timestamp;
        if self.last_event.is_none_or(|l| l < at) {
            self.last_event = Some(at);
        }
        let b = self.hours.entry(hour_start(at)).or_default();
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
        b.requests_by_user.add(&user, cfg.max_keys);
        if human {
            let a = authenticator(&e.user, cfg.oidc_prefix.as_deref());
            b.humans_by_authenticator
                .entry(a)
                .or_default()
                .add(&user, cfg.max_keys);
            let fits = b.humans.len() < cfg.max_keys || b.humans.contains_key(&user);
            if fits {
                let h = b.humans.entry(user.clone()).or_default();
                h.requests += 1;
                h.authenticators.insert(a);
                for g in &e.user.groups {
                    if h.groups.len() >= MAX_GROUPS_PER_HUMAN {
                        break;
                    }
                    if !g.starts_with("system:") {
                        h.groups.insert(g.clone());
                    }
                }
            } else {
                b.humans_other += 1;
            }
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
                    at,
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
        Some(salt) => hash_name(&Salt::new(salt.as_str()), username),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_prints_the_salt() {
        let cfg = super::AggregateConfig {
            hash_salt: Some("pepper-1234".into()),
            ..Default::default()
        };
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("pepper-1234"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
