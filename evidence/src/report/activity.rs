//! The period report's security-event section (issue 13): failed logins, MFA adoption,
//! privileged actions and post-termination use over the period, from the `activity.json` of
//! verified snapshots only, each figure with the snapshots (manifest key and digest) it comes
//! from, so an auditor can trace it to signed evidence.
//!
//! Snapshots overlap (each records the last [`crate::activity::EVIDENCE_HOURS`] hours): each
//! hour is taken from the newest verified snapshot that holds it. Post-termination use is
//! computed per snapshot from the binding ledger that snapshot recorded, with the check's
//! default grace of 24 hours, over the hours taken from it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::effectiveness::SnapshotRef;
use crate::activity::ActivityDoc;
use soc2_core::activity::{Activity, Authenticator, BoundedCounts, HourBucket, PrivilegedAction};
use soc2_core::checks::access::post_termination_use;

/// Grace after a binding's removal used for the post-termination figure (the default of
/// `access.terminated-identities`).
pub const GRACE_HOURS: i64 = 24;

/// Entries of the top lists.
pub const TOP: usize = 10;

/// The section.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    /// Hours of the period with aggregates in a verified snapshot.
    pub hours_covered: usize,
    /// Hours in the period.
    pub hours_in_period: usize,
    /// Verified snapshots with `activity.json` in the period.
    pub snapshots: usize,
    /// Whether user names are hashed in the evidence.
    pub hashed: bool,
    /// Failed logins (401).
    pub failed_logins: FailedLogins,
    /// MFA adoption: humans and their requests through the OIDC issuer.
    pub mfa: MfaAdoption,
    /// Privileged actions.
    pub privileged: PrivilegedActions,
    /// Requests by identities after their last binding was removed (plus the grace).
    pub post_termination: Vec<PostTermination>,
}

/// A key and its count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    /// User name or source IP.
    pub key: String,
    /// Count.
    pub count: u64,
}

/// Failed logins over the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedLogins {
    /// 401s in the period.
    pub total: u64,
    /// The users with most 401s (usually `<unauthenticated>`).
    pub top_users: Vec<Count>,
    /// The source IPs with most 401s.
    pub top_source_ips: Vec<Count>,
    /// The snapshots holding the hours with 401s.
    pub evidence: Vec<SnapshotRef>,
}

/// MFA adoption over the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaAdoption {
    /// Requests of humans (401s excluded).
    pub human_requests: u64,
    /// Of those, through the OIDC issuer.
    pub human_requests_oidc: u64,
    /// `human_requests_oidc / human_requests`; absent without human requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_requests_oidc: Option<f64>,
    /// Distinct humans seen.
    pub humans: usize,
    /// Of those, authenticated only through the OIDC issuer.
    pub humans_oidc_only: usize,
    /// `humans_oidc_only / humans`; absent without humans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_humans_oidc_only: Option<f64>,
    /// Humans that used another authenticator, with which.
    pub not_oidc: Vec<HumanAuth>,
    /// The snapshots holding the hours with human requests.
    pub evidence: Vec<SnapshotRef>,
}

/// One human's authenticators over the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HumanAuth {
    /// User (hashed when configured).
    pub user: String,
    /// Authenticators seen.
    pub authenticators: Vec<Authenticator>,
    /// Requests.
    pub requests: u64,
}

/// Privileged actions over the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegedActions {
    /// Actions listed.
    pub total: usize,
    /// Actions counted but not listed (over the intake's per-hour cap).
    pub dropped: u64,
    /// Every action, oldest first, with the snapshot that records it.
    pub actions: Vec<PrivilegedRow>,
}

/// One privileged action and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegedRow {
    /// The action.
    #[serde(flatten)]
    pub action: PrivilegedAction,
    /// The snapshot that records it.
    pub evidence: SnapshotRef,
}

/// Post-termination use by one identity.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostTermination {
    /// `User/<name>` or `ServiceAccount/<ns>/<name>`.
    pub subject: String,
    /// When its last binding was seen removed.
    pub removed_at: Timestamp,
    /// Requests in whole hours after the grace.
    pub requests: u64,
    /// First such hour.
    pub first_hour: Timestamp,
    /// Last such hour.
    pub last_hour: Timestamp,
    /// The snapshots recording those hours and the removal.
    pub evidence: Vec<SnapshotRef>,
}

/// Builds the section from the verified snapshots' documents (oldest first), over
/// `[from, to)`. `None` when no snapshot has `activity.json`.
pub fn build(
    docs: &[(SnapshotRef, ActivityDoc)],
    from: Timestamp,
    to: Timestamp,
) -> Option<ActivityReport> {
    if docs.is_empty() {
        return None;
    }
    // Each hour from the newest snapshot holding it.
    let mut source: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, (_, doc)) in docs.iter().enumerate() {
        for h in &doc.hours {
            let s = h.start.as_second();
            if s >= from.as_second() && s < to.as_second() {
                source.insert(s, i);
            }
        }
    }
    let bucket = |h: i64, i: usize| -> Option<&HourBucket> {
        docs[i]
            .1
            .hours
            .iter()
            .find(|x| x.start.as_second() == h)
            .map(|x| &x.bucket)
    };
    let mut by_user = BoundedCounts::default();
    let mut by_ip = BoundedCounts::default();
    let mut failed_refs = BTreeSet::new();
    let mut oidc_requests = 0;
    let mut human_requests = 0;
    let mut humans: BTreeMap<String, (BTreeSet<Authenticator>, u64)> = BTreeMap::new();
    let mut human_refs = BTreeSet::new();
    let mut actions = Vec::new();
    let mut dropped = 0;
    for (&h, &i) in &source {
        let Some(b) = bucket(h, i) else { continue };
        if b.auth_failures_by_source_ip.total() + b.auth_failures_by_user.total() > 0 {
            by_user.merge(&b.auth_failures_by_user);
            by_ip.merge(&b.auth_failures_by_source_ip);
            failed_refs.insert(i);
        }
        let total: u64 = b
            .humans_by_authenticator
            .values()
            .map(BoundedCounts::total)
            .sum();
        if total > 0 {
            human_refs.insert(i);
        }
        human_requests += total;
        oidc_requests += b
            .humans_by_authenticator
            .get(&Authenticator::Oidc)
            .map_or(0, BoundedCounts::total);
        for (user, a) in &b.humans {
            let e = humans.entry(user.clone()).or_default();
            e.0.extend(a.authenticators.iter().copied());
            e.1 += a.requests;
        }
        for a in &b.privileged {
            actions.push(PrivilegedRow {
                action: a.clone(),
                evidence: docs[i].0.clone(),
            });
        }
        dropped += b.privileged_dropped;
    }
    actions
        .sort_by(|a, b| (a.action.at, &a.action.audit_id).cmp(&(b.action.at, &b.action.audit_id)));
    let humans_oidc_only = humans
        .values()
        .filter(|(a, _)| a.iter().all(|x| *x == Authenticator::Oidc))
        .count();
    let not_oidc = humans
        .iter()
        .filter(|(_, (a, _))| a.iter().any(|x| *x != Authenticator::Oidc))
        .map(|(u, (a, n))| HumanAuth {
            user: u.clone(),
            authenticators: a.iter().copied().collect(),
            requests: *n,
        })
        .collect();
    let refs = |set: &BTreeSet<usize>| set.iter().map(|i| docs[*i].0.clone()).collect::<Vec<_>>();
    let share = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let top = |c: &BoundedCounts| {
        c.top(TOP)
            .into_iter()
            .map(|(k, n)| Count {
                key: k.to_owned(),
                count: n,
            })
            .collect()
    };
    Some(ActivityReport {
        hours_covered: source.len(),
        hours_in_period: usize::try_from((to.as_second() - from.as_second()).max(0) / 3600)
            .unwrap_or(0),
        snapshots: docs.len(),
        hashed: docs.iter().any(|(_, d)| d.hashed),
        failed_logins: FailedLogins {
            total: by_user.total().max(by_ip.total()),
            top_users: top(&by_user),
            top_source_ips: top(&by_ip),
            evidence: refs(&failed_refs),
        },
        mfa: MfaAdoption {
            human_requests,
            human_requests_oidc: oidc_requests,
            share_requests_oidc: share(oidc_requests, human_requests),
            humans: humans.len(),
            humans_oidc_only,
            share_humans_oidc_only: share(humans_oidc_only as u64, humans.len() as u64),
            not_oidc,
            evidence: refs(&human_refs),
        },
        privileged: PrivilegedActions {
            total: actions.len(),
            dropped,
            actions,
        },
        post_termination: post_termination(docs, &source),
    })
}

/// Per snapshot, its ledger over the hours taken from it; merged by subject.
fn post_termination(
    docs: &[(SnapshotRef, ActivityDoc)],
    source: &BTreeMap<i64, usize>,
) -> Vec<PostTermination> {
    let mut out: BTreeMap<String, PostTermination> = BTreeMap::new();
    for (i, (at, doc)) in docs.iter().enumerate() {
        let mut activity: Activity = doc.to_activity();
        activity.hours.retain(|h, _| source.get(h) == Some(&i));
        for u in post_termination_use(&activity, SignedDuration::from_hours(GRACE_HOURS)) {
            let e = out
                .entry(u.subject.clone())
                .or_insert_with(|| PostTermination {
                    subject: u.subject.clone(),
                    removed_at: u.removed_at,
                    requests: 0,
                    first_hour: u.first_hour,
                    last_hour: u.last_hour,
                    evidence: Vec::new(),
                });
            e.requests += u.requests;
            e.first_hour = e.first_hour.min(u.first_hour);
            e.last_hour = e.last_hour.max(u.last_hour);
            e.removed_at = e.removed_at.min(u.removed_at);
            e.evidence.push(at.clone());
        }
    }
    out.into_values().collect()
}

/// Snapshot references as text: `key (sha256 digest)`, at most `max`, then how many more.
pub fn refs_text(refs: &[SnapshotRef], max: usize) -> String {
    let mut parts: Vec<String> = refs
        .iter()
        .take(max)
        .map(|r| format!("{} (sha256 {})", r.key, r.digest))
        .collect();
    if refs.len() > max {
        parts.push(format!(
            "and {} more (all in the JSON report)",
            refs.len() - max
        ));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

/// The section as lines of plain text (Markdown and HTML escape and wrap them).
pub fn lines(a: &ActivityReport) -> Vec<String> {
    let pct = |s: Option<f64>| s.map_or_else(|| "n/a".to_string(), super::percent);
    let mut out = vec![format!(
        "Coverage: {} of {} hour(s) of the period from {} verified snapshot(s){}",
        a.hours_covered,
        a.hours_in_period,
        a.snapshots,
        if a.hashed {
            "; user names are hashed"
        } else {
            ""
        }
    )];
    let f = &a.failed_logins;
    let list = |c: &[Count]| {
        if c.is_empty() {
            "none".to_string()
        } else {
            c.iter()
                .map(|x| format!("{} {}", x.key, x.count))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    out.push(format!(
        "Failed logins (401): {} (top users: {}; top source IPs: {}). Evidence: {}",
        f.total,
        list(&f.top_users),
        list(&f.top_source_ips),
        refs_text(&f.evidence, 5)
    ));
    let m = &a.mfa;
    out.push(format!(
        "MFA adoption: {} of {} human request(s) through the OIDC issuer ({}); {} of {} human(s) only through OIDC ({}){}. Evidence: {}",
        m.human_requests_oidc,
        m.human_requests,
        pct(m.share_requests_oidc),
        m.humans_oidc_only,
        m.humans,
        pct(m.share_humans_oidc_only),
        if m.not_oidc.is_empty() {
            String::new()
        } else {
            format!(
                "; other authenticators: {}",
                m.not_oidc
                    .iter()
                    .map(|h| format!(
                        "{} ({})",
                        h.user,
                        h.authenticators.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        refs_text(&m.evidence, 5)
    ));
    let p = &a.privileged;
    out.push(format!(
        "Privileged actions: {} listed{}",
        p.total,
        if p.dropped > 0 {
            format!(
                ", {} more counted but not listed (over the per-hour cap)",
                p.dropped
            )
        } else {
            String::new()
        }
    ));
    for r in &p.actions {
        let x = &r.action;
        out.push(format!(
            "  {} {} by {}{} {} {}{} (code {}, audit ID {}). Evidence: {}",
            x.at,
            x.kind.as_str(),
            x.user,
            x.as_user
                .as_deref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            x.verb,
            x.resource,
            match (x.namespace.as_str(), x.name.as_str()) {
                ("", "") => String::new(),
                ("", n) => format!(" {n}"),
                (ns, n) => format!(" {ns}/{n}"),
            },
            x.code,
            x.audit_id,
            refs_text(std::slice::from_ref(&r.evidence), 1)
        ));
    }
    out.push(format!(
        "Post-termination use (more than {GRACE_HOURS} h after the last binding was removed): {} identit{}",
        a.post_termination.len(),
        if a.post_termination.len() == 1 { "y" } else { "ies" }
    ));
    for u in &a.post_termination {
        out.push(format!(
            "  {}: {} request(s) from {} to the hour after {}, binding removed {}. Evidence: {}",
            u.subject,
            u.requests,
            u.first_hour,
            u.last_hour,
            u.removed_at,
            refs_text(&u.evidence, 5)
        ));
    }
    out
}
