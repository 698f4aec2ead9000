//! The Type II period report: per cluster and control, over `[from, to]`, read only from the
//! evidence store.
//!
//! For each control: the number of evaluations, the share compliant, the longest non-compliant
//! window, the state at the end of the period, exceptions with approver and expiry, and a
//! timeline. For each chain: evidence completeness (snapshots expected by the schedule versus
//! present, gaps, incomplete snapshots) and integrity (the `verify` result, anchor included).
//! Only snapshots that verify count toward compliance, and the report parses the very bytes
//! that verification hashed (each `results.json` is read once). Every format states the trust
//! (pinned keyring and fingerprints, or NOT PINNED). Renderers: JSON (canonical), Markdown,
//! self-contained HTML, OSCAL assessment-results.

pub mod activity;
pub mod effectiveness;
pub mod html;
pub mod markdown;
pub mod oscal;
pub mod population;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::bundle::{ACTIVITY, RESULTS};
use super::checkpoint;
use super::keyring::Keyring;
use super::schedule::ScheduleSpec;
use super::schedule::{Gap, Schedule};
use super::signing::PublicKey;
use super::store::Store;
use super::verify::{self, ChainReport, Limits, Trust, VerifyOptions};
use super::{Result, rfc3339};
pub use effectiveness::{Effectiveness, FindingLife, SnapshotRef};
use soc2_core::crd::RemediationSla;

/// What to report on.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Period start.
    pub from: Timestamp,
    /// Period end.
    pub to: Timestamp,
    /// One cluster, or every cluster in the store.
    pub cluster: Option<String>,
    /// One policy, or every policy.
    pub policy: Option<String>,
    /// Pinned signing key for the integrity check.
    pub public_key: Option<PublicKey>,
    /// Pinned keyring for the integrity check (with `public_key`: both are pinned). Neither:
    /// the report states that it is not pinned.
    pub keyring: Option<Keyring>,
    /// Size caps on what is read.
    pub limits: Limits,
    /// Report generation time.
    pub now: Timestamp,
    /// The schedule the auditor expects (`--expect-schedule`/`--expected-interval`): when set,
    /// completeness is counted against it alone and manifests recording another schedule are
    /// listed; otherwise each schedule in force counts for its own epoch.
    pub expected_schedule: Option<Schedule>,
    /// Witnessed checkpoints (`--checkpoint`): snapshots they show that are missing from the
    /// store are integrity breaks.
    pub checkpoints: Option<std::sync::Arc<checkpoint::Loaded>>,
    /// RFC 3161 time stamp checks passed to verify (`--tsa-ca`, `--require-timestamps`).
    pub timestamps: crate::timestamp::TimestampOptions,
    /// S3 Object Lock checks passed to verify (`--require-object-lock`).
    pub object_lock: verify::ObjectLockOptions,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodReport {
    /// Period start (RFC 3339).
    pub from: String,
    /// Period end (RFC 3339).
    pub to: String,
    /// Generation time.
    pub generated_at: String,
    /// The store.
    pub store: String,
    /// Operator version that produced the report.
    pub operator_version: String,
    /// What the integrity check trusted (pinned keys, or not pinned).
    pub trust: Trust,
    /// Operating effectiveness over every chain.
    pub effectiveness: Effectiveness,
    /// One per chain (cluster and policy).
    pub clusters: Vec<ClusterReport>,
}

/// One chain's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// Cluster.
    pub cluster: String,
    /// Policy.
    pub policy: String,
    /// Evidence integrity.
    pub integrity: Integrity,
    /// Evidence completeness.
    pub completeness: Completeness,
    /// Operating effectiveness over every control of the chain.
    pub effectiveness: Effectiveness,
    /// Per control, sorted by control id and name.
    pub controls: Vec<ControlPeriod>,
    /// Security events from the API server's audit stream (`activity.json`), when the chain
    /// has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<activity::ActivityReport>,
}

/// Whether the evidence verifies.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Integrity {
    /// No break in the period.
    pub verified: bool,
    /// Whether signatures were checked against pinned keys (`false`: `verified` means only
    /// internally consistent).
    pub pinned: bool,
    /// Signed snapshots.
    pub signed: usize,
    /// Breaks, as `kind key: message`.
    pub problems: Vec<String>,
    /// Where the chain is anchored, when not at its genesis or when noted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Signing keys.
    pub key_fingerprints: Vec<String>,
    /// Snapshots with a verified RFC 3161 time stamp.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timestamped: usize,
    /// Subjects of the TSA certificates seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tsas: Vec<String>,
    /// S3 Object Lock retention of the chain's objects, when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<verify::LockSummary>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Integrity {
    /// Lines on time stamps and Object Lock retention, for the text formats.
    pub fn assurance_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.timestamped > 0 {
            out.push(format!(
                "RFC 3161 time stamps: {} snapshot(s), TSA {}",
                self.timestamped,
                self.tsas.join(", ")
            ));
        }
        if let Some(l) = &self.object_lock {
            let until = match (l.earliest_until, l.latest_until) {
                (Some(a), Some(b)) => format!(", retained until {} to {}", rfc3339(a), rfc3339(b)),
                _ => String::new(),
            };
            out.push(format!(
                "S3 Object Lock: {} of {} object(s) retained{}{until}",
                l.retained,
                l.objects,
                if l.modes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", l.modes.join(", "))
                }
            ));
        }
        out
    }
}

/// Expected versus present evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Completeness {
    /// The schedule (`interval 1h` or `cron …`).
    pub schedule: String,
    /// Schedule slots in the period.
    pub expected: usize,
    /// Slots covered by a verified snapshot.
    pub present: usize,
    /// `present / expected` (1 when nothing was expected).
    pub ratio: f64,
    /// Runs of missed slots.
    pub gaps: Vec<Gap>,
    /// Snapshots left without a manifest.
    pub incomplete: usize,
    /// Snapshots that failed verification (not counted).
    pub rejected: usize,
    /// Verified snapshots not read from a live cluster (a manifests folder, or no recorded
    /// provenance): shown, never counted toward completeness.
    #[serde(default)]
    pub not_live: usize,
    /// Schedule changes recorded by the manifests in the period (a new schedule epoch), or
    /// manifests whose schedule differs from the expected one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule_changes: Vec<String>,
}

/// One control over the period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPeriod {
    /// Soc2Control name.
    pub name: String,
    /// Control id, e.g. `CC6.1`.
    pub control_id: String,
    /// Criteria.
    pub criteria: String,
    /// Title.
    pub title: String,
    /// Evaluations in the period in which the control was evaluated (every status but
    /// NotApplicable).
    pub evaluations: usize,
    /// Snapshots in which it was NotApplicable (its API absent, nothing configured): not
    /// evaluated, neither compliant nor failing.
    pub not_evaluated: usize,
    /// Of the evaluations, compliant (Compliant or Attested).
    pub compliant: usize,
    /// `compliant / evaluations`; absent when the control was never evaluated in the period
    /// (shown as "not evaluated", never as compliant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_compliant: Option<f64>,
    /// The longest run of non-compliant evaluations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longest_non_compliant: Option<Window>,
    /// Status of the last evaluation in the period.
    pub state_at_end: String,
    /// Failing findings in the last evaluation.
    pub failing_at_end: usize,
    /// Every exception seen in the period.
    pub exceptions: Vec<ExceptionRecord>,
    /// Every attestation seen in the period.
    pub attestations: Vec<AttestationRecord>,
    /// Deviations, remediation times and SLAs.
    pub effectiveness: Effectiveness,
    /// Every evaluation: time, status and open findings.
    pub timeline: Vec<Point>,
    /// Every finding of the period with the snapshots that show it open and closed (the
    /// `findings` population; not in the JSON report, see `report --population`).
    #[serde(skip)]
    pub findings: Vec<FindingLife>,
}

/// An attestation as recorded in the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationRecord {
    /// The check it satisfies.
    pub check: String,
    /// What is attested.
    pub statement: String,
    /// Who attests.
    pub attested_by: String,
    /// Expiry as written.
    pub expires: String,
    /// First evaluation it appears in.
    pub first_seen: String,
    /// Last evaluation it appears in.
    pub last_seen: String,
    /// Evaluations in which it satisfied its check.
    pub applied_in: usize,
    /// Whether it was still in force (not expired) at the last evaluation it appears in.
    pub in_force_at_end: bool,
}

/// A non-compliant window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// First non-compliant evaluation.
    pub from: String,
    /// The next compliant evaluation, or the period end when still non-compliant.
    pub to: String,
    /// Length in seconds.
    pub seconds: i64,
    /// Non-compliant evaluations in the window.
    pub evaluations: usize,
    /// Whether it lasted until the end of the period.
    pub open: bool,
}

/// An exception as recorded in the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionRecord {
    /// The check it applies to (absent: every check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Justification.
    pub reason: String,
    /// Approver.
    pub approved_by: String,
    /// Expiry as written.
    pub expires: String,
    /// Ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// First evaluation it appears in.
    pub first_seen: String,
    /// Last evaluation it appears in.
    pub last_seen: String,
    /// Findings it covered, summed over evaluations.
    pub findings_covered: usize,
    /// Whether it had expired by the last evaluation it appears in.
    pub expired_at_end: bool,
    /// The first snapshot showing it.
    pub first_snapshot: SnapshotRef,
    /// The last snapshot showing it.
    pub last_snapshot: SnapshotRef,
}

/// One evaluation on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Time.
    pub time: String,
    /// Status.
    pub status: String,
    /// Findings open at this evaluation (failing, excepted or attested).
    pub open: usize,
}

// What the report reads from `results.json` (a subset of the engine's `Evaluation`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultsDoc {
    controls: Vec<ControlDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlDoc {
    name: String,
    control_id: String,
    criteria: String,
    #[serde(default)]
    title: String,
    status: String,
    #[serde(default)]
    failing: usize,
    #[serde(default)]
    exceptions: Vec<ExceptionDoc>,
    #[serde(default)]
    attestations: Vec<AttestationDoc>,
    #[serde(default)]
    checks: Vec<effectiveness::CheckDoc>,
    #[serde(default)]
    remediation_sla: Option<RemediationSla>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttestationDoc {
    #[serde(default)]
    check: String,
    #[serde(default)]
    statement: String,
    #[serde(default)]
    attested_by: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    applied: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExceptionDoc {
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    approved_by: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    ticket: Option<String>,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    matched: usize,
}

/// Whether a status counts as compliant.
pub fn is_compliant(status: &str) -> bool {
    matches!(status, "Compliant" | "Attested" | "NotApplicable")
}

/// Builds the report from the store.
pub async fn build(store: &Store, options: &ReportOptions) -> Result<PeriodReport> {
    let verify_options = VerifyOptions {
        cluster: options.cluster.clone(),
        policy: options.policy.clone(),
        from: Some(options.from),
        to: Some(options.to),
        public_key: options.public_key,
        keyring: options.keyring.clone(),
        limits: options.limits,
        keep: Some(RESULTS.to_string()),
        also_keep: vec![ACTIVITY.to_string()],
        now: options.now,
        timestamps: options.timestamps.clone(),
        object_lock: options.object_lock,
    };
    let mut verified = verify::verify(store, &verify_options).await?;
    if let Some(loaded) = &options.checkpoints {
        checkpoint::check(&mut verified, loaded, &verify_options);
    }
    let mut clusters = Vec::new();
    for chain in &verified.chains {
        clusters.push(chain_report(chain, verified.trust.pinned, options));
    }
    let effectiveness = Effectiveness::of(
        clusters
            .iter()
            .flat_map(|c| c.controls.iter().flat_map(|ctl| ctl.findings.iter())),
    );
    Ok(PeriodReport {
        effectiveness,
        from: rfc3339(options.from),
        to: rfc3339(options.to),
        generated_at: rfc3339(options.now),
        store: store.to_string(),
        operator_version: env!("CARGO_PKG_VERSION").to_string(),
        trust: verified.trust,
        clusters,
    })
}

struct Accum {
    doc_name: String,
    control_id: String,
    criteria: String,
    title: String,
    points: Vec<(Timestamp, String)>,
    failing_at_end: usize,
    exceptions: BTreeMap<(Option<String>, String, String, String), ExceptionRecord>,
    attestations: BTreeMap<(String, String, String, String), AttestationRecord>,
    tracker: effectiveness::Tracker,
}

fn chain_report(chain: &ChainReport, pinned: bool, options: &ReportOptions) -> ClusterReport {
    let mut controls: BTreeMap<String, Accum> = BTreeMap::new();
    let mut rejected = 0;
    let mut live: Vec<(Timestamp, ScheduleSpec)> = Vec::new();
    let mut not_live = 0;
    let mut activity_docs = Vec::new();
    for entry in &chain.entries {
        if !entry.ok {
            rejected += 1;
            continue;
        }
        // The bytes verification hashed, not a second read that could differ.
        let Some(bytes) = &entry.kept else {
            rejected += 1;
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<ResultsDoc>(bytes) else {
            rejected += 1;
            continue;
        };
        // Provenance and schedule from the manifest verify read and checked, not a new read.
        if entry.live {
            live.push((entry.time, entry.schedule.clone()));
        } else {
            not_live += 1;
        }
        let time = rfc3339(entry.time);
        if let Some(a) = entry
            .also_kept
            .get(ACTIVITY)
            .and_then(|b| super::activity::ActivityDoc::parse(b).ok())
        {
            activity_docs.push((
                SnapshotRef {
                    time: time.clone(),
                    key: entry.key.clone(),
                    digest: entry.digest.clone(),
                },
                a,
            ));
        }
        for c in doc.controls {
            let acc = controls.entry(c.name.clone()).or_insert_with(|| Accum {
                doc_name: c.name.clone(),
                control_id: c.control_id.clone(),
                criteria: c.criteria.clone(),
                title: c.title.clone(),
                points: Vec::new(),
                failing_at_end: 0,
                exceptions: BTreeMap::new(),
                attestations: BTreeMap::new(),
                tracker: Default::default(),
            });
            acc.control_id = c.control_id;
            acc.title = c.title;
            acc.criteria = c.criteria;
            let at = SnapshotRef {
                time: time.clone(),
                key: entry.key.clone(),
                digest: entry.digest.clone(),
            };
            acc.tracker.observe(
                &at,
                entry.time,
                (&c.name, &acc.control_id),
                c.remediation_sla.as_ref(),
                &c.checks,
            );
            acc.points.push((entry.time, c.status));
            acc.failing_at_end = c.failing;
            for a in c.attestations {
                let k = (
                    a.check.clone(),
                    a.statement.clone(),
                    a.attested_by.clone(),
                    a.expires.clone(),
                );
                let rec = acc
                    .attestations
                    .entry(k)
                    .or_insert_with(|| AttestationRecord {
                        check: a.check,
                        statement: a.statement,
                        attested_by: a.attested_by,
                        expires: a.expires,
                        first_seen: time.clone(),
                        last_seen: time.clone(),
                        applied_in: 0,
                        in_force_at_end: false,
                    });
                rec.last_seen = time.clone();
                rec.applied_in += usize::from(a.applied);
                rec.in_force_at_end = !a.expired;
            }
            for e in c.exceptions {
                let k = (
                    e.check.clone(),
                    e.reason.clone(),
                    e.approved_by.clone(),
                    e.expires.clone(),
                );
                let rec = acc.exceptions.entry(k).or_insert_with(|| ExceptionRecord {
                    check: e.check,
                    reason: e.reason,
                    approved_by: e.approved_by,
                    expires: e.expires,
                    ticket: e.ticket,
                    first_seen: time.clone(),
                    last_seen: time.clone(),
                    findings_covered: 0,
                    expired_at_end: false,
                    first_snapshot: at.clone(),
                    last_snapshot: at.clone(),
                });
                rec.last_seen = time.clone();
                rec.last_snapshot = at.clone();
                rec.findings_covered = rec.findings_covered.saturating_add(e.matched);
                rec.expired_at_end = e.expired;
            }
        }
    }
    let mut out: Vec<ControlPeriod> = controls
        .into_values()
        // An open window ends at the period end, or now when the period has not ended yet:
        // the report never claims a state for time that has not happened.
        .map(|a| control_period(a, options.to.min(options.now)))
        .collect();
    out.sort_by(|a, b| (&a.control_id, &a.name).cmp(&(&b.control_id, &b.name)));

    let counted = completeness(
        options.from,
        options.to,
        &live,
        chain.schedule.as_ref(),
        options.expected_schedule.as_ref(),
    );
    let (expected, present, schedule_text) = (counted.expected, counted.present, counted.schedule);
    let anchor = chain.anchor.as_ref().and_then(|a| {
        (!a.genesis).then(|| format!("{} (sequence {}): {}", a.key, a.sequence, a.note))
    });
    let effectiveness = Effectiveness::of(out.iter().flat_map(|ctl| ctl.findings.iter()));
    ClusterReport {
        effectiveness,
        cluster: chain.cluster.clone(),
        policy: chain.policy.clone(),
        integrity: Integrity {
            verified: chain.ok(),
            pinned,
            signed: chain.signed,
            problems: chain
                .problems
                .iter()
                .map(|p| format!("{} {}: {}", p.kind, p.key, p.message))
                .collect(),
            anchor,
            key_fingerprints: chain.key_fingerprints.clone(),
            timestamped: chain.timestamped,
            tsas: chain.tsas.clone(),
            object_lock: chain.object_lock.clone(),
        },
        completeness: Completeness {
            schedule: schedule_text,
            expected,
            present,
            ratio: if expected == 0 {
                1.0
            } else {
                present as f64 / expected as f64
            },
            gaps: chain.gaps.iter().map(|g| g.gap.clone()).collect(),
            incomplete: chain
                .problems
                .iter()
                .filter(|p| p.kind == "incomplete")
                .count(),
            rejected,
            not_live,
            schedule_changes: counted.changes,
        },
        controls: out,
        activity: activity::build(&activity_docs, options.from, options.to),
    }
}

/// Completeness of one chain over `[from, to)`.
#[derive(Debug, PartialEq)]
pub struct Counted {
    /// Slots expected.
    pub expected: usize,
    /// Slots covered by a live snapshot.
    pub present: usize,
    /// The schedule(s), as shown.
    pub schedule: String,
    /// Schedule changes (or differences from the expected schedule).
    pub changes: Vec<String>,
}

fn describe(spec: &ScheduleSpec) -> String {
    match (&spec.cron, &spec.interval) {
        (Some(c), _) => format!("cron {c}"),
        (None, Some(i)) => format!("every {i}"),
        _ => "unknown".into(),
    }
}

/// Counts expected and covered slots. `live` are the verified live snapshots (time and the
/// schedule their manifest recorded), oldest first. With `expected`, every slot of that
/// schedule in the period is expected. Otherwise each recorded schedule is in force for its own
/// epoch: the first from the period start, each change to a denser schedule from the slot that
/// the first snapshot under it covers. A change to a sparser schedule (fewer slots per week) is
/// listed but not counted against: a writer cannot lower the bar by itself. `newest` is the schedule of the newest
/// manifest, used when no live snapshot lies in the period.
pub fn completeness(
    from: Timestamp,
    to: Timestamp,
    live: &[(Timestamp, ScheduleSpec)],
    newest: Option<&ScheduleSpec>,
    expected: Option<&Schedule>,
) -> Counted {
    let mut changes = Vec::new();
    let mut epochs: Vec<(Timestamp, Schedule, ScheduleSpec)> = Vec::new();
    if let Some(s) = expected {
        let spec = s.spec();
        for (t, recorded) in live {
            if *recorded != spec {
                changes.push(format!(
                    "snapshot at {} recorded schedule {}, expected {}",
                    rfc3339(*t),
                    describe(recorded),
                    describe(&spec)
                ));
            }
        }
        epochs.push((from, s.clone(), spec));
    } else {
        for (t, recorded) in live {
            let Ok(s) = Schedule::from_manifest(recorded) else {
                continue;
            };
            match epochs.last() {
                None => epochs.push((from, s, recorded.clone())),
                Some((start, current, spec)) if spec != recorded => {
                    // A writer cannot lower the bar by itself: a sparser schedule is listed,
                    // not counted against, unless the auditor expects it.
                    let week = SignedDuration::from_hours(24 * 7);
                    let density = |x: &Schedule| {
                        from.checked_add(week)
                            .map_or(0, |end| x.slots(from, end).len())
                    };
                    if density(&s) < density(current) {
                        changes.push(format!(
                            "snapshot at {} recorded schedule {}, sparser than {} in force: not counted against (pass the expected schedule to accept it)",
                            rfc3339(*t),
                            describe(recorded),
                            describe(spec)
                        ));
                        continue;
                    }
                    changes.push(format!(
                        "schedule changed from {} to {} at {}",
                        describe(spec),
                        describe(recorded),
                        rfc3339(*t)
                    ));
                    let begin = s.slot_of(*t).unwrap_or(*t).max(*start);
                    epochs.push((begin, s, recorded.clone()));
                }
                Some(_) => {}
            }
        }
        if epochs.is_empty()
            && let Some(s) = newest.and_then(|n| Schedule::from_manifest(n).ok())
        {
            epochs.push((from, s, newest.cloned().unwrap_or_default()));
        }
    }
    let mut expected_slots = 0;
    let mut covered = std::collections::BTreeSet::new();
    for (i, (start, s, _)) in epochs.iter().enumerate() {
        let end = epochs.get(i + 1).map_or(to, |e| e.0).min(to);
        let start = (*start).max(from);
        if start >= end {
            continue;
        }
        expected_slots += s.slots(start, end).len();
        for (t, _) in live {
            if let Some(slot) = s.slot_of(*t)
                && slot >= start
                && slot < end
            {
                covered.insert((i, slot));
            }
        }
    }
    let schedule = match epochs.as_slice() {
        [] => "unknown (no snapshot)".to_string(),
        [(_, _, spec)] => describe(spec),
        many => many
            .iter()
            .map(|(start, _, spec)| format!("{} from {}", describe(spec), rfc3339(*start)))
            .collect::<Vec<_>>()
            .join(", then "),
    };
    Counted {
        expected: expected_slots,
        present: covered.len().min(expected_slots),
        schedule,
        changes,
    }
}

fn control_period(a: Accum, period_end: Timestamp) -> ControlPeriod {
    let not_evaluated = a
        .points
        .iter()
        .filter(|(_, s)| s == "NotApplicable")
        .count();
    let evaluations = a.points.len() - not_evaluated;
    let compliant = a
        .points
        .iter()
        .filter(|(_, s)| matches!(s.as_str(), "Compliant" | "Attested"))
        .count();
    let findings = a.tracker.finish(period_end);
    let times: Vec<Timestamp> = a.points.iter().map(|(t, _)| *t).collect();
    let open = effectiveness::open_over_time(&findings, &times);
    let mut longest: Option<Window> = None;
    let mut i = 0;
    while i < a.points.len() {
        if is_compliant(&a.points[i].1) {
            i += 1;
            continue;
        }
        let start = a.points[i].0;
        let mut j = i;
        while j < a.points.len() && !is_compliant(&a.points[j].1) {
            j += 1;
        }
        let (end, open) = match a.points.get(j) {
            Some((t, _)) => (*t, false),
            None => (period_end.max(a.points[j - 1].0), true),
        };
        let w = Window {
            from: rfc3339(start),
            to: rfc3339(end),
            seconds: end.duration_since(start).as_secs(),
            evaluations: j - i,
            open,
        };
        if longest.as_ref().is_none_or(|l| w.seconds > l.seconds) {
            longest = Some(w);
        }
        i = j;
    }
    ControlPeriod {
        name: a.doc_name,
        control_id: a.control_id,
        criteria: a.criteria,
        title: a.title,
        evaluations,
        not_evaluated,
        compliant,
        share_compliant: (evaluations > 0).then(|| compliant as f64 / evaluations as f64),
        longest_non_compliant: longest,
        state_at_end: a
            .points
            .last()
            .map_or_else(|| "NoEvidence".to_string(), |(_, s)| s.clone()),
        failing_at_end: a.failing_at_end,
        exceptions: a.exceptions.into_values().collect(),
        attestations: a.attestations.into_values().collect(),
        effectiveness: Effectiveness::of(&findings),
        timeline: a
            .points
            .into_iter()
            .zip(open)
            .map(|((t, s), open)| Point {
                time: rfc3339(t),
                status: s,
                open,
            })
            .collect(),
        findings,
    }
}

/// The integrity verdict in words: never "verified" alone when the keys were not pinned.
pub fn integrity_word(i: &Integrity) -> &'static str {
    match (i.verified, i.pinned) {
        (true, true) => "verified against the pinned keys",
        (true, false) => "internally consistent only, NOT PINNED (signing keys not verified)",
        (false, _) => "BROKEN",
    }
}

/// The trust statement with the pinned fingerprints and windows, in one paragraph.
pub fn trust_text(t: &Trust) -> String {
    let mut out = format!("Trust: {}.", t.statement);
    for k in &t.keys {
        let f = |x: Option<Timestamp>| x.map_or("-".to_string(), rfc3339);
        out.push_str(&format!(
            " Pinned key {} valid [{}, {}]{}.",
            k.fingerprint,
            f(k.not_before),
            f(k.not_after),
            if k.comment.is_empty() {
                String::new()
            } else {
                format!(" ({})", k.comment)
            }
        ));
    }
    out
}

/// The compliant share, or "not evaluated" for a control never evaluated in the period.
pub fn share_text(ctl: &ControlPeriod) -> String {
    ctl.share_compliant
        .map_or_else(|| "not evaluated".to_string(), percent)
}

/// A duration in seconds as text, or `—`.
pub fn maybe_duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_string(), human_duration)
}

/// Formats a share as a percentage with one decimal.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// Formats seconds as `3d 4h 5m`.
pub fn human_duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Column names of the operating-effectiveness tables.
pub const EFFECTIVENESS_COLUMNS: [&str; 9] = [
    "Deviations",
    "Carried in",
    "Remediated",
    "Median time to remediate",
    "p90",
    "Max",
    "Remediated within SLA",
    "Open at period end",
    "Open past SLA at period end",
];

/// The operating-effectiveness figures as table cells, in [`EFFECTIVENESS_COLUMNS`] order.
pub fn effectiveness_cells(e: &Effectiveness) -> [String; 9] {
    [
        e.deviations.to_string(),
        e.carried_in.to_string(),
        e.remediated.to_string(),
        maybe_duration(e.remediation_median_seconds),
        maybe_duration(e.remediation_p90_seconds),
        maybe_duration(e.remediation_max_seconds),
        e.share_within_sla.map_or_else(
            || "—".to_string(),
            |s| {
                format!(
                    "{} ({} of {})",
                    percent(s),
                    e.remediated_within_sla,
                    e.remediated_with_sla
                )
            },
        ),
        e.open_at_end.to_string(),
        e.overdue_at_end.to_string(),
    ]
}
