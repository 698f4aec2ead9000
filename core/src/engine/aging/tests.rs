use super::*;
use crate::checks::Finding;
use crate::crd::Criteria;
use crate::engine::{CheckResult, ExceptedFinding};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n * DAY)
}

fn finding(name: &str) -> Finding {
    Finding::new(
        ResourceRef::new("ClusterRoleBinding", None, name),
        format!("binds cluster-admin to user `{name}`"),
    )
}

fn check(id: &str, severity: Severity, open: Vec<Finding>, excepted: Vec<Finding>) -> CheckResult {
    let mut c = CheckResult::error(id, String::new());
    c.severity = Some(severity);
    c.status = if open.is_empty() {
        Status::Compliant
    } else {
        Status::NonCompliant
    };
    c.findings = open;
    c.excepted = excepted
        .into_iter()
        .map(|finding| ExceptedFinding {
            finding,
            exception: 0,
            approved_by: "ciso".into(),
            expires: "2030-01-01".into(),
        })
        .collect();
    c
}

fn control(checks: Vec<CheckResult>) -> ControlResult {
    let failing = checks.iter().map(|c| c.findings.len()).sum();
    ControlResult {
        name: "cc6-1".into(),
        generation: Some(1),
        control_id: "CC6.1".into(),
        criteria: Criteria::Security,
        title: "t".into(),
        status: if failing > 0 {
            Status::NonCompliant
        } else {
            Status::Compliant
        },
        reason: String::new(),
        spec_errors: vec![],
        resources_checked: 0,
        failing,
        excepted: 0,
        checks,
        exceptions: vec![],
        attestations: vec![],
        remediation_sla: None,
    }
}

fn one(open: Vec<Finding>, excepted: Vec<Finding>) -> ControlResult {
    control(vec![check(
        "rbac.cluster-admin",
        Severity::Critical,
        open,
        excepted,
    )])
}

/// Ids are stored in statuses: they must not change. These were computed from the definition
/// (SHA-256 over the check, kind, namespace, name and message with each ASCII digit run as `#`,
/// each followed by a zero byte; the first 8 bytes in hex) outside this code.
#[test]
fn ids_match_their_definition() {
    let cases = [
        (
            "backup.recent-success",
            ResourceRef::new("Schedule", Some("velero"), "daily"),
            "no Backup within 24h (latest at 2026-01-01T00:00:00Z)",
            "ef9560749aabdcce",
        ),
        (
            "workload.privileged",
            ResourceRef::new("Deployment", Some("shop"), "web"),
            "container `app` runs privileged; ünïcode 42 ends with digits 7",
            "0d14ec894a43d734",
        ),
        (
            "x.a",
            ResourceRef::new("Namespace", None, "n1"),
            "12345",
            "b1ea8c948163a7e6",
        ),
        (
            "x.a",
            ResourceRef::new("Namespace", None, "n1"),
            "",
            "70232ef91d5031fd",
        ),
    ];
    for (check, resource, message, id) in cases {
        assert_eq!(finding_id(check, &resource, message), id, "{message}");
    }
}

#[test]
fn ids_are_stable_across_numbers_in_messages_and_differ_by_what() {
    let r = ResourceRef::new("Schedule", Some("velero"), "daily");
    let a = finding_id(
        "backup.recent-success",
        &r,
        "no Backup within 24h (latest at 2026-01-01T00:00:00Z)",
    );
    let b = finding_id(
        "backup.recent-success",
        &r,
        "no Backup within 24h (latest at 2026-02-03T04:05:06Z)",
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 16);
    let other = ResourceRef::new("Schedule", Some("velero"), "weekly");
    assert_ne!(a, finding_id("backup.recent-success", &other, "no Backup"));
    assert_ne!(
        finding_id("x.a", &r, "no Backup"),
        finding_id("x.b", &r, "no Backup")
    );
    assert_ne!(
        finding_id("x.a", &r, "privileged"),
        finding_id("x.a", &r, "runs as root")
    );
}

#[test]
fn age_survives_a_restart_through_the_persisted_records() {
    let policy = SlaPolicy::default();
    let r = one(vec![finding("alice")], vec![]);
    let t0 = t("2026-01-01T00:00:00Z");
    let first = track(&r, &[], None, &policy, t0);
    assert_eq!(first.ages.len(), 1);
    assert_eq!(first.ages[0].first_seen, "2026-01-01T00:00:00Z");
    // A new process (restart, or another replica after failover) has nothing but the status.
    let persisted: Vec<FindingAge> =
        serde_json::from_value(serde_json::to_value(&first.ages).unwrap()).unwrap();
    let t1 = t("2026-01-11T00:00:00Z");
    let second = track(&r, &persisted, Some(t0), &policy, t1);
    assert_eq!(second.open[0].first_seen, t0);
    assert_eq!(second.open[0].age, days(10));
    assert_eq!(second.ages, first.ages, "nothing changed: no status write");
}

#[test]
fn a_finding_back_within_the_grace_period_keeps_its_age() {
    let policy = SlaPolicy::default();
    let present = one(vec![finding("alice")], vec![]);
    let gone = one(vec![], vec![]);
    let t0 = t("2026-01-01T00:00:00Z");
    let a = track(&present, &[], None, &policy, t0);
    // Gone at the next evaluation: kept, lastSeen is the previous evaluation.
    let b = track(&gone, &a.ages, Some(t0), &policy, t("2026-01-01T12:00:00Z"));
    assert_eq!(b.ages.len(), 1, "kept for the grace period");
    assert_eq!(b.ages[0].last_seen.as_deref(), Some("2026-01-01T00:00:00Z"));
    // Back 20h after it was last seen (grace 24h): same firstSeen.
    let c = track(&present, &b.ages, None, &policy, t("2026-01-01T20:00:00Z"));
    assert_eq!(c.open[0].first_seen, t0, "back within the grace");
    assert_eq!(c.open[0].age, SignedDuration::from_hours(20));
    assert_eq!(c.ages[0].last_seen, None);
    // Back two days later: a new finding.
    let late = t("2026-01-03T00:00:00Z");
    let d = track(&present, &b.ages, None, &policy, late);
    assert_eq!(
        d.open[0].first_seen, late,
        "gone longer than the grace: new"
    );
    // Still gone after the grace: dropped.
    let e = track(&gone, &b.ages, None, &policy, t("2026-01-02T00:00:01Z"));
    assert!(e.ages.is_empty(), "dropped after the grace");
}

#[test]
fn crossing_the_sla_is_reported_once() {
    let policy = SlaPolicy::default();
    let r = control(vec![
        check(
            "rbac.cluster-admin",
            Severity::Critical,
            vec![finding("alice")],
            vec![],
        ),
        check(
            "network.default-deny",
            Severity::Low,
            vec![finding("ns")],
            vec![],
        ),
    ]);
    let t0 = t("2026-01-01T00:00:00Z");
    let a = track(&r, &[], None, &policy, t0);
    let b = track(&r, &a.ages, Some(t0), &policy, t0 + days(30));
    assert!(!b.open[0].overdue, "exactly at the SLA is not past it");
    let c = track(&r, &b.ages, Some(t0), &policy, t0 + days(31));
    assert!(c.open[0].overdue && c.open[0].newly_overdue);
    assert_eq!(c.open[0].due, Some(t0 + days(30)));
    assert!(!c.open[1].overdue, "Low has no deadline");
    assert_eq!(
        c.overdue_by_severity(),
        [("Critical".to_string(), 1)].into()
    );
    assert_eq!(c.oldest(), Some(days(31)));
    let d = track(&r, &c.ages, Some(t0), &policy, t0 + days(32));
    assert!(d.open[0].overdue && !d.open[0].newly_overdue);
}

#[test]
fn exceptions_stop_the_clock_and_expiry_restarts_it_with_the_original_age() {
    let policy = SlaPolicy::default();
    let open = one(vec![finding("alice")], vec![]);
    let excepted = one(vec![], vec![finding("alice")]);
    let t0 = t("2026-01-01T00:00:00Z");
    let a = track(&open, &[], None, &policy, t0);
    // Open 10 days, then excepted for 40 days.
    let b = track(&excepted, &a.ages, Some(t0), &policy, t0 + days(10));
    assert_eq!(
        b.ages[0].paused_since.as_deref(),
        Some("2026-01-11T00:00:00Z")
    );
    assert!(b.open.is_empty());
    let c = track(&excepted, &b.ages, Some(t0), &policy, t0 + days(50));
    assert_eq!(c.ages, b.ages, "nothing to write while excepted");
    // The exception expires at day 50: the clock restarts at 10 days, firstSeen kept.
    let d = track(&open, &c.ages, Some(t0), &policy, t0 + days(50));
    assert_eq!(d.open[0].first_seen, t0);
    assert_eq!(d.open[0].age, days(10));
    assert_eq!(d.ages[0].paused_seconds, 40 * DAY as u64);
    assert_eq!(d.ages[0].paused_since, None);
    let e = track(&open, &d.ages, Some(t0), &policy, t0 + days(55));
    assert_eq!(e.open[0].age, days(15));
    assert!(
        !e.open[0].overdue,
        "55 days since firstSeen, but 15 days open"
    );
    assert_eq!(e.open[0].due, Some(t0 + days(70)));
    let f = track(&open, &e.ages, Some(t0), &policy, t0 + days(71));
    assert!(f.open[0].overdue);
}

#[test]
fn records_are_bounded_keeping_the_oldest() {
    let policy = SlaPolicy::default();
    let old: Vec<Finding> = (0..600).map(|i| finding(&format!("old-{i}"))).collect();
    let t0 = t("2026-01-01T00:00:00Z");
    let first = one(old.clone(), vec![]);
    let a = track(&first, &[], None, &policy, t0);
    let mut all = old;
    all.extend((0..600).map(|i| finding(&format!("new-{i}"))));
    let second = one(all, vec![]);
    let b = track(&second, &a.ages, Some(t0), &policy, t0 + days(1));
    assert_eq!(b.ages.len(), MAX_TRACKED);
    let kept_old = b
        .ages
        .iter()
        .filter(|r| r.first_seen == "2026-01-01T00:00:00Z")
        .count();
    assert_eq!(kept_old, 600);
}

#[test]
fn sla_overrides_and_bad_values_name_the_field() {
    let spec = RemediationSla {
        critical: Some("7d".into()),
        low: Some("180d".into()),
        medium: Some("none".into()),
        grace_period: Some("1h".into()),
        high: None,
    };
    let (p, errors) = SlaPolicy::resolve(Some(&spec));
    assert!(errors.is_empty());
    assert_eq!(p.critical, Some(days(7)));
    assert_eq!(p.high, Some(days(60)));
    assert_eq!(p.medium, None);
    assert_eq!(p.low, Some(days(180)));
    assert_eq!(p.grace, SignedDuration::from_hours(1));
    let bad = RemediationSla {
        high: Some("0d".into()),
        ..Default::default()
    };
    let (p, errors) = SlaPolicy::resolve(Some(&bad));
    assert_eq!(errors[0].field, "spec.remediationSla.high");
    assert_eq!(p.high, Some(days(60)), "the default stays");
}

#[test]
fn selection_puts_severity_first_and_represents_every_failing_check() {
    // 155 findings: 150 Low namespaces (check order first), 3 Medium, 1 High, 1 Critical.
    let ns = |i: usize| {
        Finding::new(
            ResourceRef::new("Namespace", None, &format!("ns-{i:03}")),
            "no default-deny NetworkPolicy",
        )
    };
    let r = control(vec![
        check(
            "network.default-deny",
            Severity::Low,
            (0..150).map(ns).collect(),
            vec![],
        ),
        check(
            "workload.privileged",
            Severity::Medium,
            (0..3).map(ns).collect(),
            vec![],
        ),
        check("tls.ingress", Severity::High, vec![ns(7)], vec![]),
        check(
            "rbac.cluster-admin",
            Severity::Critical,
            vec![finding("bob")],
            vec![],
        ),
    ]);
    let t0 = t("2026-01-01T00:00:00Z");
    let aging = track(&r, &[], None, &SlaPolicy::default(), t0);
    assert_eq!(aging.open.len(), 155);
    let shown = select(&aging.open, 50);
    assert_eq!(shown.len(), 50);
    let checks: Vec<&str> = shown.iter().map(|&i| aging.open[i].check).collect();
    assert_eq!(checks[0], "rbac.cluster-admin");
    assert_eq!(checks[1], "tls.ingress");
    assert_eq!(&checks[2..5], ["workload.privileged"; 3]);
    assert!(checks[5..].iter().all(|c| *c == "network.default-deny"));
    // Too little room for every finding of the top check: each failing check still shows.
    let tight = select(&aging.open, 3);
    let tight_checks: BTreeSet<&str> = tight.iter().map(|&i| aging.open[i].check).collect();
    assert_eq!(
        tight_checks,
        ["rbac.cluster-admin", "tls.ingress", "workload.privileged"].into()
    );
}

#[test]
fn selection_puts_overdue_and_oldest_first_within_a_severity() {
    let policy = SlaPolicy::default();
    let t0 = t("2026-01-01T00:00:00Z");
    let first = one(vec![finding("old")], vec![]);
    let a = track(&first, &[], None, &policy, t0);
    let both = one(vec![finding("new"), finding("old")], vec![]);
    let b = track(&both, &a.ages, Some(t0), &policy, t0 + days(40));
    let shown = select(&b.open, 50);
    assert_eq!(b.open[shown[0]].finding.resource.name, "old");
    assert!(b.open[shown[0]].overdue);
    assert!(!b.open[shown[1]].overdue);
}
