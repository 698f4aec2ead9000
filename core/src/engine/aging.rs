//! Finding identity, age and remediation SLAs (Type II operating effectiveness).
//!
//! Pure: the previous age records (from `status.findingAges`) and the evaluation time are
//! inputs, the new records are the output. Because the records live in the object's status,
//! ages survive restarts, failover and upgrades: whichever replica reconciles next continues
//! from what the last leader wrote. See `docs/type2.md`.
//!
//! Semantics:
//! - A finding's id hashes its check, its resource and what is wrong (the message with every run
//!   of digits replaced by `#`, so counts and timestamps in a message do not change the id).
//! - Age is the time since `firstSeen` not spent under an active exception or attestation.
//! - A finding that disappears keeps its record (with `lastSeen`) for the grace period; if it
//!   comes back within it, it keeps its `firstSeen` (the gap counts as open time).
//! - At most [`MAX_TRACKED`] records per control; present findings before cleared ones, oldest
//!   first. A finding beyond the bound is treated as new at each evaluation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use super::result::{ControlResult, Status};
use super::validate::SpecError;
use crate::checks::{Finding, Severity};
use crate::crd::{FindingAge, RemediationSla, parse_duration};
use crate::snapshot::ResourceRef;

/// Most age records kept per control.
pub const MAX_TRACKED: usize = 1000;

/// Default grace period for a finding that disappears and comes back.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(24);

const DAY: i64 = 86_400;

/// Remediation deadlines per severity, resolved from `spec.remediationSla`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaPolicy {
    /// Critical (default 30 days).
    pub critical: Option<SignedDuration>,
    /// High (default 60 days).
    pub high: Option<SignedDuration>,
    /// Medium (default 90 days).
    pub medium: Option<SignedDuration>,
    /// Low (default none).
    pub low: Option<SignedDuration>,
    /// Grace period for a finding that comes back (default 24 hours).
    pub grace: SignedDuration,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            critical: Some(SignedDuration::from_secs(30 * DAY)),
            high: Some(SignedDuration::from_secs(60 * DAY)),
            medium: Some(SignedDuration::from_secs(90 * DAY)),
            low: None,
            grace: DEFAULT_GRACE,
        }
    }
}

impl SlaPolicy {
    /// Resolves `spec.remediationSla`; a field that cannot be read keeps its default and is
    /// reported as a spec error naming the field.
    pub fn resolve(spec: Option<&RemediationSla>) -> (Self, Vec<SpecError>) {
        let mut policy = Self::default();
        let mut errors = Vec::new();
        let Some(spec) = spec else {
            return (policy, errors);
        };
        let mut field = |name: &str, value: &Option<String>, slot: &mut Option<SignedDuration>| {
            let Some(v) = value else { return };
            if v == "none" {
                *slot = None;
                return;
            }
            match parse_duration(v) {
                Ok(d) => *slot = Some(d),
                Err(message) => errors.push(SpecError {
                    field: format!("spec.remediationSla.{name}"),
                    message,
                }),
            }
        };
        field("critical", &spec.critical, &mut policy.critical);
        field("high", &spec.high, &mut policy.high);
        field("medium", &spec.medium, &mut policy.medium);
        field("low", &spec.low, &mut policy.low);
        let mut grace = Some(policy.grace);
        field("gracePeriod", &spec.grace_period, &mut grace);
        policy.grace = grace.unwrap_or(DEFAULT_GRACE);
        (policy, errors)
    }

    /// The deadline for a severity (`None`: no deadline).
    pub fn for_severity(&self, severity: Option<Severity>) -> Option<SignedDuration> {
        match severity? {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

/// The name of a severity as status and metrics write it.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
    }
}

/// The stable id of a finding: the first 16 hex digits of SHA-256 over the check id, the
/// resource (kind, namespace, name) and the message with digit runs replaced by `#`.
pub fn finding_id(check: &str, resource: &ResourceRef, message: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        check,
        &resource.kind,
        resource.namespace.as_deref().unwrap_or(""),
        &resource.name,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // The message, each run of ASCII digits fed as one `#`, without building the copy (UTF-8
    // continuation bytes are never ASCII digits, so bytes give what chars gave).
    let bytes = message.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            h.update(&bytes[start..i]);
            h.update(b"#");
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    h.update(&bytes[start..]);
    h.update([0u8]);
    hex::encode(&h.finalize()[..8])
}

/// A failing finding with its age, borrowing the check id and the finding from the result it
/// was aged from (a control can have tens of thousands; copying each was most of the cost).
#[derive(Clone, Debug, PartialEq)]
pub struct AgedFinding<'a> {
    /// Stable id.
    pub id: String,
    /// Check id.
    pub check: &'a str,
    /// Severity of the check.
    pub severity: Option<Severity>,
    /// The finding.
    pub finding: &'a Finding,
    /// When first seen.
    pub first_seen: Timestamp,
    /// Open time, excepted intervals not counted.
    pub age: SignedDuration,
    /// When it is (or was) due; `None` without a deadline.
    pub due: Option<Timestamp>,
    /// Past its deadline.
    pub overdue: bool,
    /// Past its deadline now but not at the previous evaluation.
    pub newly_overdue: bool,
}

/// The aging of one control's findings at one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aging<'a> {
    /// Every failing (not excepted) finding, in check order.
    pub open: Vec<AgedFinding<'a>>,
    /// The records to persist in `status.findingAges`, sorted by `firstSeen` then id.
    pub ages: Vec<FindingAge>,
}

impl Aging<'_> {
    /// Overdue findings per severity name (only severities with at least one).
    pub fn overdue_by_severity(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for f in self.open.iter().filter(|f| f.overdue) {
            let name = f.severity.map_or("Unknown", severity_name);
            *m.entry(name.to_string()).or_insert(0) += 1;
        }
        m
    }

    /// The age of the oldest failing finding.
    pub fn oldest(&self) -> Option<SignedDuration> {
        self.open.iter().map(|f| f.age).max()
    }
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn secs(d: SignedDuration) -> u64 {
    u64::try_from(d.as_secs()).unwrap_or(0)
}

/// A previous record still usable at `now`: not cleared longer ago than the grace period and
/// with a readable `firstSeen`.
fn live<'a>(
    prev: &'a HashMap<&str, &FindingAge>,
    id: &str,
    grace: SignedDuration,
    now: Timestamp,
) -> Option<(&'a FindingAge, Timestamp)> {
    let rec = *prev.get(id)?;
    let first = ts(&rec.first_seen)?;
    if let Some(last) = rec.last_seen.as_deref().and_then(ts)
        && now.duration_since(last) > grace
    {
        return None;
    }
    Some((rec, first))
}

/// Ages the findings of `result` at `now`, continuing from the `previous` records.
/// `previous_evaluated` (the status's `lastEvaluated`) dates the `lastSeen` of findings that
/// are gone.
pub fn track<'a>(
    result: &'a ControlResult,
    previous: &[FindingAge],
    previous_evaluated: Option<Timestamp>,
    policy: &SlaPolicy,
    now: Timestamp,
) -> Aging<'a> {
    let prev: HashMap<&str, &FindingAge> = previous.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut records: HashMap<String, FindingAge> = HashMap::new();
    let mut open = Vec::new();
    // Formatted once: every finding seen for the first time now gets it.
    let now_rfc3339 = rfc3339(now);

    for c in result
        .checks
        .iter()
        .filter(|c| c.status == Status::NonCompliant)
    {
        let sla = policy.for_severity(c.severity);
        for f in &c.findings {
            let id = finding_id(&c.check, &f.resource, &f.message);
            let (first_seen, first_seen_text, paused, was_overdue) =
                match live(&prev, &id, policy.grace, now) {
                    Some((rec, first)) => {
                        let mut paused = rec.paused_seconds;
                        if let Some(since) = rec.paused_since.as_deref().and_then(ts) {
                            paused = paused.saturating_add(secs(now.duration_since(since)));
                        }
                        (first, &rec.first_seen, paused, rec.overdue)
                    }
                    None => (now, &now_rfc3339, 0, false),
                };
            let paused_d = SignedDuration::from_secs(i64::try_from(paused).unwrap_or(i64::MAX));
            let age = now
                .duration_since(first_seen)
                .checked_sub(paused_d)
                .unwrap_or(SignedDuration::ZERO)
                .max(SignedDuration::ZERO);
            let overdue = sla.is_some_and(|s| age > s);
            let due = sla
                .and_then(|s| paused_d.checked_add(s))
                .and_then(|d| first_seen.checked_add(d).ok());
            records.entry(id.clone()).or_insert_with(|| FindingAge {
                id: id.clone(),
                check: c.check.clone(),
                first_seen: first_seen_text.clone(),
                last_seen: None,
                paused_seconds: paused,
                paused_since: None,
                overdue,
            });
            open.push(AgedFinding {
                id,
                check: &c.check,
                severity: c.severity,
                finding: f,
                first_seen,
                age,
                due,
                overdue,
                newly_overdue: overdue && !was_overdue,
            });
        }
    }

    // Excepted findings, and findings of attested checks: the clock stops.
    let paused_findings = result.checks.iter().flat_map(|c| {
        let excepted = c.excepted.iter().map(|e| &e.finding);
        let attested = c
            .findings
            .iter()
            .filter(move |_| c.status == Status::Attested);
        excepted.chain(attested).map(move |f| (c.check.as_str(), f))
    });
    for (check, f) in paused_findings {
        let id = finding_id(check, &f.resource, &f.message);
        if records.contains_key(&id) {
            continue;
        }
        let rec = match live(&prev, &id, policy.grace, now) {
            Some((rec, _)) => FindingAge {
                last_seen: None,
                paused_since: Some(rec.paused_since.clone().unwrap_or_else(|| rfc3339(now))),
                overdue: false,
                ..rec.clone()
            },
            None => FindingAge {
                id: id.clone(),
                check: check.to_string(),
                first_seen: rfc3339(now),
                last_seen: None,
                paused_seconds: 0,
                paused_since: Some(rfc3339(now)),
                overdue: false,
            },
        };
        records.insert(id, rec);
    }

    // Gone: keep for the grace period.
    let seen_at = previous_evaluated.unwrap_or(now);
    for rec in previous {
        if records.contains_key(&rec.id) {
            continue;
        }
        let mut rec = rec.clone();
        if rec.last_seen.is_none() {
            rec.last_seen = Some(rfc3339(seen_at));
            if let Some(since) = rec.paused_since.take().as_deref().and_then(ts) {
                rec.paused_seconds = rec
                    .paused_seconds
                    .saturating_add(secs(seen_at.duration_since(since)));
            }
        }
        rec.overdue = false;
        rec.paused_since = None;
        let expired = rec
            .last_seen
            .as_deref()
            .and_then(ts)
            .is_none_or(|last| now.duration_since(last) > policy.grace);
        if !expired && ts(&rec.first_seen).is_some() {
            records.insert(rec.id.clone(), rec);
        }
    }

    let mut ages: Vec<FindingAge> = records.into_values().collect();
    // Present before cleared, oldest first; the RFC 3339 strings sort as times. Ids are unique,
    // so this order is total: the first MAX_TRACKED are found without sorting them all.
    let keep_first = |a: &FindingAge, b: &FindingAge| {
        (a.last_seen.is_some(), &a.first_seen, &a.id).cmp(&(
            b.last_seen.is_some(),
            &b.first_seen,
            &b.id,
        ))
    };
    if ages.len() > MAX_TRACKED {
        ages.select_nth_unstable_by(MAX_TRACKED, keep_first);
        ages.truncate(MAX_TRACKED);
    }
    // The status keeps this list: not the room of every record built above.
    ages.shrink_to_fit();
    ages.sort_by(|a, b| (&a.first_seen, &a.id).cmp(&(&b.first_seen, &b.id)));
    Aging { open, ages }
}

/// Which open findings to show within `max`, in display order: every failing check is
/// represented (highest severity first when there are more checks than room), the rest of the
/// room goes by severity, then overdue and oldest first. Returns indices into `open`.
pub fn select(open: &[AgedFinding<'_>], max: usize) -> Vec<usize> {
    let rank = |i: &usize| {
        let f = &open[*i];
        (
            std::cmp::Reverse(f.severity),
            std::cmp::Reverse(f.overdue),
            std::cmp::Reverse(f.age),
            f.check,
            &f.finding,
        )
    };
    let mut order: Vec<usize> = (0..open.len()).collect();
    order.sort_by_key(rank);
    let mut chosen = BTreeSet::new();
    let mut checks = BTreeSet::new();
    // One per failing check: the first of each check in rank order.
    for &i in &order {
        if chosen.len() >= max {
            break;
        }
        if checks.insert(open[i].check) {
            chosen.insert(i);
        }
    }
    for &i in &order {
        if chosen.len() >= max {
            break;
        }
        chosen.insert(i);
    }
    let mut shown: Vec<usize> = chosen.into_iter().collect();
    shown.sort_by_key(rank);
    shown
}

#[cfg(test)]
mod tests;
