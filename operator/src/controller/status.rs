//! The status a control should have, computed from its evaluation: pure functions.
//!
//! This module owns the shape of `Soc2Control.status` (conditions, counts, bounded findings,
//! per-check results) and the decision whether a write is needed. It does not write.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::Resource;
use serde_json::{Value, json};

use soc2_core::checks::access::{ACTIVITY_CHECKS, EVENTS_STOPPED};
use soc2_core::crd::{CheckStatus, Condition, FindingStatus, Soc2Control, Soc2ControlStatus};
use soc2_core::engine::aging::{self, Aging, SlaPolicy, severity_name};
use soc2_core::engine::{ControlResult, Status};

/// At most this many findings are written to status; the rest are in the evidence.
pub const MAX_FINDINGS: usize = 50;

/// Condition type: the spec is valid and was evaluated.
pub const READY: &str = "Ready";
/// Condition type: every check passed.
pub const COMPLIANT: &str = "Compliant";
/// Condition type: enforcement is in place (only for `enforcement: Enforce`).
pub const ENFORCED: &str = "Enforced";
/// Condition type: no failing finding is past its remediation SLA.
pub const WITHIN_SLA: &str = "WithinSla";
/// Condition type: audit events arrive (only for controls with an `access.*` activity check).
pub const AUDIT_EVENTS: &str = "AuditEventsReceived";

/// What enforcement did or could not do, for status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnforcementReport {
    /// The `Enforced` condition: (ok, reason, message). `None` for `Audit` controls.
    pub condition: Option<(bool, String, String)>,
    /// `status.enforcement`: e.g. `admission` → `not served by this cluster; auditing only`.
    pub details: BTreeMap<String, String>,
}

/// Formats a time as status writes it.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The status a control should have after evaluation `result` at `now`, with the default
/// remediation SLAs.
pub fn desired(
    result: &ControlResult,
    previous: Option<&Soc2ControlStatus>,
    enforcement: &EnforcementReport,
    now: Timestamp,
) -> Soc2ControlStatus {
    desired_with_sla(result, previous, enforcement, &SlaPolicy::default(), now)
}

/// Ages the findings of `result`, continuing from the records in the previous status (this is
/// how ages survive restarts and failover: the records live on the object). An invalid spec
/// keeps the previous records untouched.
pub fn aging<'a>(
    result: &'a ControlResult,
    previous: Option<&Soc2ControlStatus>,
    policy: &SlaPolicy,
    now: Timestamp,
) -> Aging<'a> {
    let records = previous.map_or(&[][..], |s| s.finding_ages.as_slice());
    if !result.spec_errors.is_empty() || result.status == Status::Error {
        return Aging {
            open: Vec::new(),
            ages: records.to_vec(),
        };
    }
    let evaluated = previous
        .and_then(|s| s.last_evaluated.as_deref())
        .and_then(|s| s.parse().ok());
    aging::track(result, records, evaluated, policy, now)
}

/// The status a control should have after evaluation `result` at `now` under `policy`.
pub fn desired_with_sla(
    result: &ControlResult,
    previous: Option<&Soc2ControlStatus>,
    enforcement: &EnforcementReport,
    policy: &SlaPolicy,
    now: Timestamp,
) -> Soc2ControlStatus {
    let aged = aging(result, previous, policy, now);
    desired_aged(result, aged, previous, enforcement, now)
}

/// [`desired_with_sla`] with the findings' aging already computed ([`aging`] with the same
/// result, previous status, policy and time).
pub fn desired_aged(
    result: &ControlResult,
    aged: Aging<'_>,
    previous: Option<&Soc2ControlStatus>,
    enforcement: &EnforcementReport,
    now: Timestamp,
) -> Soc2ControlStatus {
    let prev_conditions: &[Condition] = previous.map_or(&[], |s| s.conditions.as_slice());
    let generation = result.generation;
    let invalid = !result.spec_errors.is_empty() || result.status == Status::Error;
    let ready = if invalid {
        Condition::new(
            READY,
            false,
            "InvalidSpec",
            result.reason.clone(),
            generation,
            now,
            prev_conditions,
        )
    } else {
        Condition::new(
            READY,
            true,
            "Evaluated",
            format!("{} check(s) evaluated", result.checks.len()),
            generation,
            now,
            prev_conditions,
        )
    };
    let (ok, reason) = match result.status {
        Status::Compliant => (true, "Compliant"),
        Status::Attested => (true, "Attested"),
        Status::NotApplicable => (true, "NotApplicable"),
        Status::NonCompliant => (false, "NonCompliant"),
        Status::Error => (false, "InvalidSpec"),
    };
    let message = if result.reason.is_empty() {
        "every check passed".to_string()
    } else {
        result.reason.clone()
    };
    let compliant = Condition::new(
        COMPLIANT,
        ok,
        reason,
        message,
        generation,
        now,
        prev_conditions,
    );
    let overdue_by_severity = aged.overdue_by_severity();
    let overdue: u64 = overdue_by_severity.values().sum();
    let oldest_days = aged.oldest().map(|d| (d.as_secs() / 86_400).max(0) as u64);
    let within_sla = if overdue == 0 {
        Condition::new(
            WITHIN_SLA,
            true,
            "WithinSla",
            "no finding is past its remediation SLA",
            generation,
            now,
            prev_conditions,
        )
    } else {
        let per: Vec<String> = overdue_by_severity
            .iter()
            .map(|(sev, n)| format!("{sev} {n}"))
            .collect();
        Condition::new(
            WITHIN_SLA,
            false,
            "SlaBreached",
            format!(
                "{overdue} finding(s) past their remediation SLA ({}); the oldest is {} day(s) old",
                per.join(", "),
                oldest_days.unwrap_or(0)
            ),
            generation,
            now,
            prev_conditions,
        )
    };
    let mut conditions = vec![ready, compliant, within_sla];
    if let Some((ok, reason, message)) = &enforcement.condition {
        conditions.push(Condition::new(
            ENFORCED,
            *ok,
            reason,
            message.clone(),
            generation,
            now,
            prev_conditions,
        ));
    }

    let total = aged.open.len();
    let findings: Vec<FindingStatus> = aging::select(&aged.open, MAX_FINDINGS)
        .into_iter()
        .map(|i| {
            let f = &aged.open[i];
            FindingStatus {
                id: f.id.clone(),
                check: f.check.to_string(),
                severity: f.severity.map(|s| severity_name(s).to_string()),
                first_seen: Some(rfc3339(f.first_seen)),
                due: f.due.map(rfc3339),
                overdue: f.overdue,
                resource: f.finding.resource.to_string(),
                message: f.finding.message.clone(),
            }
        })
        .collect();
    let omitted = total.saturating_sub(findings.len()) as u64;
    let checks = result
        .checks
        .iter()
        .map(|c| CheckStatus {
            check: c.check.clone(),
            result: c.status.as_str().to_string(),
            reason: c.reason.clone(),
            resources_checked: c.resources_checked as u64,
            failing: c.findings.len() as u64,
            excepted: c.excepted.len() as u64,
        })
        .collect();
    Soc2ControlStatus {
        conditions,
        compliant: (!invalid).then(|| result.compliant()),
        result: Some(result.status.as_str().to_string()),
        last_evaluated: Some(rfc3339(now)),
        observed_generation: generation,
        resources_checked: result.resources_checked as u64,
        failing: result.failing as u64,
        excepted: result.excepted as u64,
        findings,
        findings_truncated: omitted > 0,
        findings_omitted: omitted,
        overdue,
        overdue_by_severity,
        oldest_finding_age_days: oldest_days,
        finding_ages: aged.ages,
        checks,
        enforcement: enforcement.details.clone(),
    }
}

/// Whether writing `desired` would change anything but `lastEvaluated`.
pub fn needs_write(current: Option<&Soc2ControlStatus>, desired: &Soc2ControlStatus) -> bool {
    let Some(current) = current else {
        return true;
    };
    // Field by field, without copying the statuses (up to 1,000 finding ages each); the
    // exhaustive pattern makes a new status field a compile error here.
    let Soc2ControlStatus {
        conditions,
        compliant,
        result,
        last_evaluated: _,
        observed_generation,
        resources_checked,
        failing,
        excepted,
        findings,
        findings_truncated,
        findings_omitted,
        overdue,
        overdue_by_severity,
        oldest_finding_age_days,
        finding_ages,
        checks,
        enforcement,
    } = current;
    *conditions != desired.conditions
        || *compliant != desired.compliant
        || *result != desired.result
        || *observed_generation != desired.observed_generation
        || *resources_checked != desired.resources_checked
        || *failing != desired.failing
        || *excepted != desired.excepted
        || *findings != desired.findings
        || *findings_truncated != desired.findings_truncated
        || *findings_omitted != desired.findings_omitted
        || *overdue != desired.overdue
        || *overdue_by_severity != desired.overdue_by_severity
        || *oldest_finding_age_days != desired.oldest_finding_age_days
        || *finding_ages != desired.finding_ages
        || *checks != desired.checks
        || *enforcement != desired.enforcement
}

/// The server-side apply body for a status (apiVersion and kind are required).
pub fn apply_body(status: &Soc2ControlStatus) -> Value {
    json!({
        "apiVersion": Soc2Control::api_version(&()),
        "kind": Soc2Control::kind(&()),
        "status": status,
    })
}

/// A change of compliance worth an Event: `Some(true)` became compliant, `Some(false)` became
/// non-compliant. `None` when unchanged or when the spec is invalid.
pub fn compliance_change(
    previous: Option<&Soc2ControlStatus>,
    desired: &Soc2ControlStatus,
) -> Option<bool> {
    let new = desired.compliant?;
    let old = previous.and_then(|s| s.compliant);
    (old != Some(new)).then_some(new)
}

/// The message of a newly invalid spec (Ready became False, or its message changed).
pub fn invalid_spec_change(
    previous: Option<&Soc2ControlStatus>,
    desired: &Soc2ControlStatus,
) -> Option<String> {
    let find = |s: &Soc2ControlStatus| s.conditions.iter().find(|c| c.type_ == READY).cloned();
    let new = find(desired)?;
    if new.status != "False" {
        return None;
    }
    let old = previous.and_then(find);
    match old {
        Some(o) if o.status == "False" && o.message == new.message => None,
        _ => Some(new.message),
    }
}

/// Findings that passed their remediation SLA since `previous`, as an Event note: `None`
/// when none did.
pub fn sla_crossings(
    previous: Option<&Soc2ControlStatus>,
    desired: &Soc2ControlStatus,
) -> Option<String> {
    let was_overdue =
        |id: &str| previous.is_some_and(|p| p.finding_ages.iter().any(|r| r.id == id && r.overdue));
    let crossed: Vec<&str> = desired
        .finding_ages
        .iter()
        .filter(|r| r.overdue && !was_overdue(&r.id))
        .map(|r| r.id.as_str())
        .collect();
    if crossed.is_empty() {
        return None;
    }
    let named: Vec<String> = crossed
        .iter()
        .take(5)
        .map(|id| match desired.findings.iter().find(|f| f.id == *id) {
            Some(f) => format!(
                "{} on {} ({}, first seen {})",
                f.check,
                f.resource,
                f.severity.as_deref().unwrap_or("?"),
                f.first_seen.as_deref().unwrap_or("?")
            ),
            None => format!("finding {id}"),
        })
        .collect();
    let more = crossed.len().saturating_sub(named.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{} finding(s) passed their remediation SLA: {}{tail}",
        crossed.len(),
        named.join("; ")
    ))
}

/// Adds the [`AUDIT_EVENTS`] condition to a control that has an activity check
/// ([`ACTIVITY_CHECKS`]): `False` with reason `EventsStopped` and the check's message when
/// events stopped arriving (the control is not operating), `False` with `NoEvents` when none
/// was ever received or the intake is off, `True` otherwise.
pub fn add_audit_events_condition(
    desired: &mut Soc2ControlStatus,
    result: &ControlResult,
    previous: Option<&Soc2ControlStatus>,
    now: Timestamp,
) {
    let activity: Vec<_> = result
        .checks
        .iter()
        .filter(|c| ACTIVITY_CHECKS.contains(&c.check.as_str()))
        .collect();
    if activity.is_empty() {
        return;
    }
    let prev: &[Condition] = previous.map_or(&[], |s| s.conditions.as_slice());
    let stopped = activity.iter().find_map(|c| {
        c.findings
            .iter()
            .chain(c.excepted.iter().map(|e| &e.finding))
            .find(|f| f.message.starts_with(EVENTS_STOPPED))
    });
    let (ok, reason, message) = if let Some(f) = stopped {
        (false, "EventsStopped", f.message.clone())
    } else if let Some(na) = activity.iter().find(|c| c.status == Status::NotApplicable) {
        (false, "NoEvents", na.reason.clone())
    } else {
        (true, "Receiving", "audit events are arriving".to_string())
    };
    desired.conditions.push(Condition::new(
        AUDIT_EVENTS,
        ok,
        reason,
        message,
        result.generation,
        now,
        prev,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use soc2_core::checks::Finding;
    use soc2_core::crd::Criteria;
    use soc2_core::engine::{CheckResult, SpecError};
    use soc2_core::snapshot::ResourceRef;

    fn now() -> Timestamp {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn check(id: &str, findings: usize) -> CheckResult {
        let mut c = CheckResult::error(id, String::new());
        c.status = if findings == 0 {
            Status::Compliant
        } else {
            Status::NonCompliant
        };
        c.resources_checked = 100;
        c.findings = (0..findings)
            .map(|i| {
                Finding::new(
                    ResourceRef::new("Namespace", None, &format!("ns-{i:03}")),
                    "no default-deny NetworkPolicy",
                )
            })
            .collect();
        c
    }

    fn result(checks: Vec<CheckResult>, errors: Vec<SpecError>) -> ControlResult {
        let failing = checks.iter().map(|c| c.findings.len()).sum();
        let status = if !errors.is_empty() {
            Status::Error
        } else if failing > 0 {
            Status::NonCompliant
        } else {
            Status::Compliant
        };
        let reason = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        ControlResult {
            name: "cc6-1".into(),
            generation: Some(3),
            control_id: "CC6.1".into(),
            criteria: Criteria::Security,
            title: "t".into(),
            status,
            reason,
            spec_errors: errors,
            resources_checked: checks.iter().map(|c| c.resources_checked).sum(),
            failing,
            excepted: 0,
            checks,
            exceptions: vec![],
            attestations: vec![],
            remediation_sla: None,
        }
    }

    #[test]
    fn findings_are_bounded_and_flagged() {
        let r = result(vec![check("network.default-deny", 120)], vec![]);
        let s = desired(&r, None, &EnforcementReport::default(), now());
        assert_eq!(s.findings.len(), MAX_FINDINGS);
        assert!(s.findings_truncated);
        assert_eq!(s.failing, 120);
        assert_eq!(s.compliant, Some(false));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.findings[0].resource, "Namespace/ns-000");
        assert_eq!(s.checks[0].failing, 120);
        let compliant = s.conditions.iter().find(|c| c.type_ == COMPLIANT).unwrap();
        assert_eq!(compliant.status, "False");
        assert_eq!(compliant.reason, "NonCompliant");
    }

    #[test]
    fn status_lists_severity_first_every_failing_check_and_counts_the_rest() {
        use soc2_core::checks::Severity;
        // 155 findings in check order: 150 Low namespaces first, the Critical binding last
        // (the old status showed 50 namespaces and not the binding).
        let sev = |id: &str, n: usize, s: Severity| {
            let mut c = check(id, n);
            c.severity = Some(s);
            c
        };
        let mut admin = sev("rbac.cluster-admin", 1, Severity::Critical);
        admin.findings[0] = Finding::new(
            ResourceRef::new("ClusterRoleBinding", None, "alice-admin"),
            "binds cluster-admin to user `alice`",
        );
        let r = result(
            vec![
                sev("network.default-deny", 150, Severity::Low),
                sev("workload.run-as-non-root", 3, Severity::Medium),
                sev("tls.ingress", 1, Severity::High),
                admin,
            ],
            vec![],
        );
        let s = desired(&r, None, &EnforcementReport::default(), now());
        assert_eq!(s.failing, 155);
        assert_eq!(s.findings.len(), MAX_FINDINGS);
        assert_eq!(s.findings_omitted, 105);
        assert!(s.findings_truncated);
        assert_eq!(s.findings[0].resource, "ClusterRoleBinding/alice-admin");
        assert_eq!(s.findings[0].severity.as_deref(), Some("Critical"));
        assert_eq!(s.findings[1].check, "tls.ingress");
        let shown: std::collections::BTreeSet<&str> =
            s.findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(shown.len(), 4, "every failing check is represented");
        assert!(s.findings.iter().all(|f| f.id.len() == 16));
        assert_eq!(s.finding_ages.len(), 155);
        assert_eq!(s.overdue, 0);
        let sla = s.conditions.iter().find(|c| c.type_ == WITHIN_SLA).unwrap();
        assert_eq!(sla.status, "True");
    }

    #[test]
    fn sla_crossing_is_an_event_note_once() {
        use soc2_core::checks::Severity;
        let mut c = check("rbac.cluster-admin", 1);
        c.severity = Some(Severity::Critical);
        let r = result(vec![c], vec![]);
        let t0 = now();
        let first = desired(&r, None, &EnforcementReport::default(), t0);
        let later = t0 + jiff::SignedDuration::from_hours(24 * 31);
        let crossed = desired(&r, Some(&first), &EnforcementReport::default(), later);
        assert_eq!(crossed.overdue, 1);
        let sla = crossed
            .conditions
            .iter()
            .find(|c| c.type_ == WITHIN_SLA)
            .unwrap();
        assert_eq!(
            (sla.status.as_str(), sla.reason.as_str()),
            ("False", "SlaBreached")
        );
        let note = sla_crossings(Some(&first), &crossed).expect("crossed");
        assert!(
            note.contains("rbac.cluster-admin on Namespace/ns-000 (Critical"),
            "{note}"
        );
        let again = desired(&r, Some(&crossed), &EnforcementReport::default(), later);
        assert_eq!(sla_crossings(Some(&crossed), &again), None, "not repeated");
    }

    #[test]
    fn invalid_spec_names_the_field() {
        let r = result(
            vec![CheckResult::error("foo", "unknown".into())],
            vec![SpecError {
                field: "spec.checks[1].check".into(),
                message: "unknown check id \"foo\"".into(),
            }],
        );
        let s = desired(&r, None, &EnforcementReport::default(), now());
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "InvalidSpec");
        assert_eq!(
            ready.message,
            "spec.checks[1].check: unknown check id \"foo\""
        );
        assert_eq!(s.compliant, None);
        assert_eq!(
            invalid_spec_change(None, &s).as_deref(),
            Some(ready.message.as_str())
        );
        assert_eq!(invalid_spec_change(Some(&s), &s), None, "no repeat event");
    }

    #[test]
    fn only_last_evaluated_changing_needs_no_write() {
        let r = result(vec![check("network.default-deny", 2)], vec![]);
        let first = desired(&r, None, &EnforcementReport::default(), now());
        let later = desired(
            &r,
            Some(&first),
            &EnforcementReport::default(),
            "2026-03-01T11:00:00Z".parse().unwrap(),
        );
        assert_ne!(first.last_evaluated, later.last_evaluated);
        assert_eq!(
            first.conditions, later.conditions,
            "transition times are kept"
        );
        assert!(!needs_write(Some(&first), &later));
        assert!(needs_write(None, &later));
        let fixed = result(vec![check("network.default-deny", 0)], vec![]);
        let after = desired(&fixed, Some(&first), &EnforcementReport::default(), now());
        assert!(needs_write(Some(&first), &after));
        assert_eq!(compliance_change(Some(&first), &after), Some(true));
        assert_eq!(compliance_change(Some(&after), &after), None);
    }

    #[test]
    fn apply_body_has_api_version_and_kind() {
        let r = result(vec![check("network.default-deny", 0)], vec![]);
        let body = apply_body(&desired(&r, None, &EnforcementReport::default(), now()));
        assert_eq!(body["apiVersion"], "soc2.evidence.dev/v1alpha1");
        assert_eq!(body["kind"], "Soc2Control");
        assert_eq!(body["status"]["compliant"], true);
        assert_eq!(body["status"]["lastEvaluated"], "2026-03-01T10:00:00Z");
    }

    #[test]
    fn enforcement_condition_is_written_when_reported() {
        let r = result(vec![check("network.default-deny", 0)], vec![]);
        let report = EnforcementReport {
            condition: Some((
                false,
                "AdmissionNotServed".into(),
                "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is not served".into(),
            )),
            details: [("admission".to_string(), "not served".to_string())].into(),
        };
        let s = desired(&r, None, &report, now());
        let c = s.conditions.iter().find(|c| c.type_ == ENFORCED).unwrap();
        assert_eq!(c.status, "False");
        assert_eq!(s.enforcement["admission"], "not served");
    }
}
