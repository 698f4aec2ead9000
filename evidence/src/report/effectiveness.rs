//! Operating effectiveness over a period: each finding followed across the verified snapshots of
//! a chain, by its stable id (see `soc2_core::engine::aging`).
//!
//! Rules (documented in `docs/type2.md`):
//! - A finding is *present* in a snapshot when its check ran there (status Compliant,
//!   NonCompliant or Attested) and lists it among its findings or excepted findings. A check that
//!   did not run (NotApplicable, Error, control absent) says nothing: open findings stay open.
//! - A *deviation* is a finding opened in the period: the first snapshot showing an id its
//!   check's previous observation in the period did not show. Findings already present at the
//!   first observation of their check in the period are *carried in* (open at period start, their
//!   opening lies before it) and are not deviations.
//! - A finding *closes* at the first later snapshot whose check ran without showing it. If it
//!   comes back within the grace period after it was last seen (the control's
//!   `spec.remediationSla.gracePeriod`, default 24h, as in the aging module) it reopens with its
//!   original opening: that is not a new deviation.
//! - *Time to remediate* = close − open − time under an exception or attestation (the interval
//!   after a snapshot in which the finding was excepted or its check attested counts as paused,
//!   as the aging module stops the clock). Carried-in findings count from the first snapshot of
//!   the period that shows them (a lower bound) and are marked.
//! - *Within SLA*: time to remediate ≤ the deadline of the check's severity under the control's
//!   `spec.remediationSla` as recorded in the snapshot where it closed (for open findings, the
//!   last snapshot; defaults Critical 30d, High 60d, Medium 90d, Low none). Findings without a
//!   deadline are not in the SLA share.
//! - *Overdue at period end*: still open, age at the period end above its deadline.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use soc2_core::crd::RemediationSla;
use soc2_core::engine::aging::{SlaPolicy, finding_id};
use soc2_core::snapshot::ResourceRef;

/// Where a snapshot lies in the store: the evidence reference of an opening or closing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef {
    /// Snapshot time.
    pub time: String,
    /// Manifest key in the store.
    pub key: String,
    /// SHA-256 of the manifest.
    pub digest: String,
}

/// One finding's life in the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingLife {
    /// Stable id.
    pub id: String,
    /// Soc2Control name.
    pub control: String,
    /// Control id.
    pub control_id: String,
    /// Check id.
    pub check: String,
    /// Severity of the check (`Unknown` when not recorded).
    pub severity: String,
    /// `Kind namespace/name`.
    pub resource: String,
    /// What is wrong.
    pub message: String,
    /// The first snapshot showing it.
    pub opened: SnapshotRef,
    /// Whether it opened in the period (false: present at the first observation, carried in).
    pub opened_in_period: bool,
    /// The first later snapshot not showing it, when closed in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<SnapshotRef>,
    /// The last snapshot showing it.
    pub last_seen: SnapshotRef,
    /// Time under an exception or attestation, seconds.
    pub paused_seconds: i64,
    /// Time to remediate in seconds, when closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation_seconds: Option<i64>,
    /// Age at the period end in seconds, when still open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_at_end_seconds: Option<i64>,
    /// Deadline of its severity, seconds (none: no deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_seconds: Option<i64>,
    /// Closed within its deadline (none: open, or no deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_sla: Option<bool>,
    /// Still open at the period end and past its deadline.
    pub overdue_at_end: bool,
}

/// Operating effectiveness figures of a control, a chain or the whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effectiveness {
    /// Findings opened in the period.
    pub deviations: usize,
    /// Findings open at the first observation of the period (opened before it).
    pub carried_in: usize,
    /// Findings closed in the period.
    pub remediated: usize,
    /// Median time to remediate (nearest rank), seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation_median_seconds: Option<i64>,
    /// 90th percentile (nearest rank), seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation_p90_seconds: Option<i64>,
    /// Longest, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation_max_seconds: Option<i64>,
    /// Remediated findings that had a deadline.
    pub remediated_with_sla: usize,
    /// Of which within it.
    pub remediated_within_sla: usize,
    /// `remediated_within_sla / remediated_with_sla` (none when no remediated finding had a
    /// deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_within_sla: Option<f64>,
    /// Findings still open at the period end.
    pub open_at_end: usize,
    /// Of which past their deadline.
    pub overdue_at_end: usize,
}

impl Effectiveness {
    /// The figures over a set of findings.
    pub fn of<'a>(lives: impl IntoIterator<Item = &'a FindingLife>) -> Self {
        let mut e = Self::default();
        let mut times = Vec::new();
        for f in lives {
            if f.opened_in_period {
                e.deviations += 1;
            } else {
                e.carried_in += 1;
            }
            match f.remediation_seconds {
                Some(s) => {
                    e.remediated += 1;
                    times.push(s);
                    if let Some(ok) = f.within_sla {
                        e.remediated_with_sla += 1;
                        if ok {
                            e.remediated_within_sla += 1;
                        }
                    }
                }
                None => {
                    e.open_at_end += 1;
                    if f.overdue_at_end {
                        e.overdue_at_end += 1;
                    }
                }
            }
        }
        times.sort_unstable();
        e.remediation_median_seconds = nearest_rank(&times, 50);
        e.remediation_p90_seconds = nearest_rank(&times, 90);
        e.remediation_max_seconds = times.last().copied();
        e.share_within_sla = (e.remediated_with_sla > 0)
            .then(|| e.remediated_within_sla as f64 / e.remediated_with_sla as f64);
        e
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p`% of the
/// values at or below it.
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

// What the report reads of a check in `results.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CheckDoc {
    check: String,
    #[serde(default)]
    severity: Option<String>,
    status: String,
    #[serde(default)]
    findings: Vec<FindingDoc>,
    #[serde(default)]
    excepted: Vec<FindingDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindingDoc {
    // Absent in snapshots written before ids were recorded: computed the same way.
    #[serde(default)]
    id: Option<String>,
    resource: ResourceRef,
    #[serde(default)]
    message: String,
}

struct Open {
    life: FindingLife,
    severity: Option<soc2_core::checks::Severity>,
    last_time: Timestamp,
    opened_time: Timestamp,
    paused: bool,
    paused_seconds: i64,
}

/// Follows one control's findings across snapshots, oldest first.
#[derive(Default)]
pub(super) struct Tracker {
    open: BTreeMap<String, Open>,
    // Closed, kept to reopen within the grace period: id → (record, close time).
    closed: BTreeMap<String, (Open, Timestamp)>,
    // Closed for longer than the grace period when the id came back: final.
    done: Vec<FindingLife>,
    observed_checks: std::collections::BTreeSet<String>,
    policy: SlaPolicy,
}

fn resource_text(r: &ResourceRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
        None => format!("{} {}", r.kind, r.name),
    }
}

fn severity(name: Option<&str>) -> Option<soc2_core::checks::Severity> {
    use soc2_core::checks::Severity;
    match name? {
        "Critical" => Some(Severity::Critical),
        "High" => Some(Severity::High),
        "Medium" => Some(Severity::Medium),
        "Low" => Some(Severity::Low),
        _ => None,
    }
}

impl Tracker {
    /// Records one snapshot of the control.
    pub(super) fn observe(
        &mut self,
        at: &SnapshotRef,
        time: Timestamp,
        names: (&str, &str),
        sla: Option<&RemediationSla>,
        checks: &[CheckDoc],
    ) {
        // The deadlines in force: those recorded in the newest snapshot (a spec error keeps
        // the default of that field, as the operator does).
        self.policy = SlaPolicy::resolve(sla).0;
        // Pause accounting for the interval since each open finding's last observation.
        for o in self.open.values_mut() {
            if o.paused {
                o.paused_seconds += time.duration_since(o.last_time).as_secs().max(0);
            }
        }
        let mut ran = std::collections::BTreeSet::new();
        let mut present: BTreeMap<String, (&CheckDoc, &FindingDoc, bool)> = BTreeMap::new();
        for c in checks {
            if !matches!(c.status.as_str(), "Compliant" | "NonCompliant" | "Attested") {
                continue;
            }
            ran.insert(c.check.clone());
            let attested = c.status == "Attested";
            for (f, excepted) in c
                .findings
                .iter()
                .map(|f| (f, false))
                .chain(c.excepted.iter().map(|f| (f, true)))
            {
                let id =
                    f.id.clone()
                        .unwrap_or_else(|| finding_id(&c.check, &f.resource, &f.message));
                present.entry(id).or_insert((c, f, attested || excepted));
            }
        }
        for (id, (c, f, paused)) in present {
            if let Some(o) = self.open.get_mut(&id) {
                o.last_time = time;
                o.life.last_seen = at.clone();
                o.paused = paused;
                continue;
            }
            if let Some((mut o, _)) = self.closed.remove(&id) {
                if time.duration_since(o.last_time) <= self.policy.grace {
                    // Back within the grace period: the same finding, the gap counts as open
                    // time.
                    o.life.closed = None;
                    o.life.remediation_seconds = None;
                    o.life.within_sla = None;
                    o.last_time = time;
                    o.life.last_seen = at.clone();
                    o.paused = paused;
                    self.open.insert(id, o);
                    continue;
                }
                // Back after the grace period: a new finding (as the aging module does).
                self.done.push(o.life);
            }
            let sev = severity(c.severity.as_deref());
            let life = FindingLife {
                id: id.clone(),
                control: names.0.to_string(),
                control_id: names.1.to_string(),
                check: c.check.clone(),
                severity: c.severity.clone().unwrap_or_else(|| "Unknown".into()),
                resource: resource_text(&f.resource),
                message: f.message.clone(),
                opened: at.clone(),
                opened_in_period: self.observed_checks.contains(&c.check),
                closed: None,
                last_seen: at.clone(),
                paused_seconds: 0,
                remediation_seconds: None,
                age_at_end_seconds: None,
                sla_seconds: self.policy.for_severity(sev).map(|d| d.as_secs()),
                within_sla: None,
                overdue_at_end: false,
            };
            self.open.insert(
                id,
                Open {
                    life,
                    severity: sev,
                    last_time: time,
                    opened_time: time,
                    paused,
                    paused_seconds: 0,
                },
            );
        }
        // Open findings of checks that ran without showing them: closed here.
        let gone: Vec<String> = self
            .open
            .iter()
            .filter(|(_, o)| o.last_time != time && ran.contains(&o.life.check))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(mut o) = self.open.remove(&id) {
                let secs = time.duration_since(o.opened_time).as_secs() - o.paused_seconds;
                let secs = secs.max(0);
                // The deadlines in force where it closed.
                o.life.sla_seconds = self.policy.for_severity(o.severity).map(|d| d.as_secs());
                o.life.closed = Some(at.clone());
                o.life.paused_seconds = o.paused_seconds;
                o.life.remediation_seconds = Some(secs);
                o.life.within_sla = o.life.sla_seconds.map(|s| secs <= s);
                self.closed.insert(id, (o, time));
            }
        }
        self.observed_checks.extend(ran);
    }

    /// Every finding of the period, at `end`: open ones aged to it. Sorted by opening, then id.
    pub(super) fn finish(self, end: Timestamp) -> Vec<FindingLife> {
        let mut out = self.done;
        out.extend(self.closed.into_values().map(|(o, _)| o.life));
        for mut o in self.open.into_values() {
            let mut paused = o.paused_seconds;
            if o.paused && end > o.last_time {
                paused += end.duration_since(o.last_time).as_secs();
            }
            let age = (end.duration_since(o.opened_time).as_secs() - paused).max(0);
            o.life.paused_seconds = paused;
            o.life.age_at_end_seconds = Some(age);
            // The deadlines in force at the last snapshot.
            o.life.sla_seconds = self.policy.for_severity(o.severity).map(|d| d.as_secs());
            o.life.overdue_at_end = o.life.sla_seconds.is_some_and(|s| age > s);
            out.push(o.life);
        }
        out.sort_by(|a, b| (&a.opened.time, &a.id).cmp(&(&b.opened.time, &b.id)));
        out
    }
}

/// Open findings at each snapshot time, from the lives (for the chart).
pub fn open_over_time(lives: &[FindingLife], times: &[Timestamp]) -> Vec<usize> {
    let parse = |s: &str| s.parse::<Timestamp>().ok();
    times
        .iter()
        .map(|t| {
            lives
                .iter()
                .filter(|f| {
                    parse(&f.opened.time).is_some_and(|o| o <= *t)
                        && f.closed
                            .as_ref()
                            .and_then(|c| parse(&c.time))
                            .is_none_or(|c| c > *t)
                })
                .count()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(failing: bool) -> Vec<CheckDoc> {
        let findings = if failing {
            serde_json::json!([{ "resource": { "kind": "Namespace", "name": "a" }, "message": "m" }])
        } else {
            serde_json::json!([])
        };
        serde_json::from_value(serde_json::json!([{
            "check": "network.default-deny", "severity": "High",
            "status": if failing { "NonCompliant" } else { "Compliant" },
            "findings": findings
        }]))
        .expect("check docs")
    }

    fn snap(day: i64) -> (SnapshotRef, Timestamp) {
        let t = Timestamp::from_second(1_780_000_000 + day * 86_400).expect("time");
        let r = SnapshotRef {
            time: crate::rfc3339(t),
            key: format!("k{day}"),
            digest: format!("d{day}"),
        };
        (r, t)
    }

    #[test]
    fn a_finding_is_judged_by_the_deadline_in_force_where_it_closed() {
        let mut tr = Tracker::default();
        let names = ("cc6-1", "CC6.1");
        let (r0, t0) = snap(0);
        tr.observe(&r0, t0, names, None, &checks(false));
        let (r1, t1) = snap(1);
        tr.observe(&r1, t1, names, None, &checks(true));
        let tight = RemediationSla {
            high: Some("5d".into()),
            ..Default::default()
        };
        let (r11, t11) = snap(11);
        tr.observe(&r11, t11, names, Some(&tight), &checks(false));
        let lives = tr.finish(t11);
        assert_eq!(lives.len(), 1);
        let f = &lives[0];
        assert!(f.opened_in_period);
        assert_eq!(f.opened.key, "k1");
        assert_eq!(f.closed.as_ref().map(|c| c.key.as_str()), Some("k11"));
        assert_eq!(f.remediation_seconds, Some(10 * 86_400));
        assert_eq!(f.sla_seconds, Some(5 * 86_400));
        assert_eq!(f.within_sla, Some(false));
        // Under the default (60 days for High) it would have been within.
        let mut tr = Tracker::default();
        tr.observe(&r0, t0, names, None, &checks(false));
        tr.observe(&r1, t1, names, None, &checks(true));
        tr.observe(&r11, t11, names, None, &checks(false));
        assert_eq!(tr.finish(t11)[0].within_sla, Some(true));
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(nearest_rank(&v, 50), Some(5));
        assert_eq!(nearest_rank(&v, 90), Some(9));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3], 90), Some(3));
    }
}
