//! Engine tests: exceptions, attestations, validation errors, scope, ordering.

use super::*;
use crate::checks::testing::{now, snapshot};
use crate::crd::Soc2Control;

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: payments, labels: {data.soc2.evidence.dev/classification: restricted}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Namespace
metadata: {name: scratch, labels: {tier: dev}}
"#;

fn control(yaml: &str) -> Soc2Control {
    serde_saphyr::from_str(yaml).expect("control parses")
}

fn c11(extra: &str) -> Soc2Control {
    control(&format!(
        r#"
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata: {{name: c11, generation: 3}}
spec:
  controlId: C1.1
  criteria: Confidentiality
  title: Confidential data is classified
  checks:
    - check: data.classification
{extra}
"#
    ))
}

#[test]
fn failing_namespaces_make_the_control_non_compliant() {
    let r = evaluate_control(&c11(""), &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::NonCompliant);
    assert_eq!(r.failing, 2);
    assert_eq!(r.generation, Some(3));
    let failing: Vec<String> = r
        .failing_findings()
        .map(|(_, f)| f.resource.to_string())
        .collect();
    assert_eq!(failing, ["Namespace/legacy", "Namespace/scratch"]);
}

#[test]
fn an_active_exception_covers_its_resources_only() {
    let r = evaluate_control(
        &c11(r#"
  exceptions:
    - check: data.classification
      resources: [{kind: Namespace, name: legacy}]
      reason: Decommissioned in Q3; holds no customer data
      approvedBy: ciso@example.com
      expires: "2026-09-30"
"#),
        &snapshot(CLUSTER),
        now(),
    );
    assert_eq!(r.status, Status::NonCompliant, "scratch still fails");
    assert_eq!((r.failing, r.excepted), (1, 1));
    let excepted = &r.checks[0].excepted[0];
    assert_eq!(excepted.finding.resource.to_string(), "Namespace/legacy");
    assert_eq!(excepted.approved_by, "ciso@example.com");
    assert_eq!(r.exceptions[0].matched, 1);
    assert!(!r.exceptions[0].expired);
}

#[test]
fn a_prefix_exception_can_make_the_control_compliant() {
    let r = evaluate_control(
        &c11(r#"
  exceptions:
    - resources: [{kind: Namespace, name: "legacy*"}, {name: scratch}]
      reason: Non-production
      approvedBy: ciso@example.com
      expires: "2026-12-31T00:00:00Z"
"#),
        &snapshot(CLUSTER),
        now(),
    );
    assert_eq!(r.status, Status::Compliant);
    assert!(r.compliant());
    assert_eq!((r.failing, r.excepted), (0, 2));
}

#[test]
fn an_expired_exception_stops_applying_and_says_so() {
    let r = evaluate_control(
        &c11(r#"
  exceptions:
    - resources: [{kind: Namespace}]
      reason: Temporary
      approvedBy: ciso@example.com
      expires: "2026-06-01"
"#),
        &snapshot(CLUSTER),
        now(),
    );
    assert_eq!(r.status, Status::NonCompliant);
    assert_eq!((r.failing, r.excepted), (2, 0));
    assert!(r.exceptions[0].expired);
    assert_eq!(r.exceptions[0].matched, 0);
}

#[test]
fn a_valid_attestation_satisfies_a_failing_check_and_an_expired_one_does_not() {
    let attested = |expires: &str| {
        c11(&format!(
            r#"
  attestations:
    - check: data.classification
      statement: Classification is tracked in the data inventory (DI-12)
      evidence: https://grc.example.com/di-12
      attestedBy: dpo@example.com
      expires: "{expires}"
"#
        ))
    };
    let r = evaluate_control(&attested("2026-12-31"), &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::Compliant);
    assert_eq!(r.checks[0].status, Status::Attested);
    assert!(r.attestations[0].applied);
    assert_eq!(r.failing, 0);

    let r = evaluate_control(&attested("2026-01-01"), &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::NonCompliant);
    assert!(r.attestations[0].expired);
    assert!(!r.attestations[0].applied);
}

#[test]
fn unknown_checks_and_bad_params_name_the_field() {
    let c = control(
        r#"
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata: {name: bad}
spec:
  controlId: C1.1
  criteria: Confidentiality
  title: Bad
  checks:
    - check: data.classification
      params: {labelKey: x, bogus: 1}
    - check: data.nope
"#,
    );
    let r = evaluate_control(&c, &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::Error);
    let fields: Vec<&str> = r.spec_errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["spec.checks[0].params", "spec.checks[1].check"]);
    assert!(
        r.spec_errors[0].message.contains("bogus"),
        "{}",
        r.spec_errors[0].message
    );
    assert!(
        r.reason.contains("unknown check id \"data.nope\""),
        "{}",
        r.reason
    );
}

#[test]
fn unreadable_dates_and_selectors_name_the_field() {
    let c = c11(r#"
  scope:
    namespaceSelector:
      matchExpressions: [{key: tier, operator: Sideways, values: [dev]}]
  exceptions:
    - resources: [{name: legacy}]
      reason: r
      approvedBy: a
      expires: "2026-02-30"
"#);
    let errors = validate(&c.spec);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.scope.namespaceSelector", "spec.exceptions[0].expires"]
    );
    assert_eq!(
        evaluate_control(&c, &snapshot(CLUSTER), now()).status,
        Status::Error
    );
}

#[test]
fn scope_excludes_namespaces_and_selects_by_label() {
    let excluded = c11("  scope: {excludedNamespaces: [legacy]}");
    let r = evaluate_control(&excluded, &snapshot(CLUSTER), now());
    let failing: Vec<String> = r
        .failing_findings()
        .map(|(_, f)| f.resource.to_string())
        .collect();
    assert_eq!(failing, ["Namespace/scratch"]);

    let selected = c11("  scope: {namespaceSelector: {matchLabels: {tier: dev}}}");
    let r = evaluate_control(&selected, &snapshot(CLUSTER), now());
    assert_eq!(r.resources_checked, 1);
    assert_eq!(r.failing, 1);
}

#[test]
fn optional_apis_absent_roll_up_to_not_applicable() {
    let c = control(
        r#"
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata: {name: a12}
spec:
  controlId: A1.2
  criteria: Availability
  title: Backups
  checks:
    - check: backup.schedule-coverage
    - check: backup.restore-tested
"#,
    );
    let r = evaluate_control(&c, &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::NotApplicable, "{}", r.reason);
    assert!(r.reason.contains("velero"), "{}", r.reason);
    assert!(r.compliant());
}

#[test]
fn results_do_not_depend_on_input_order() {
    let a = c11("");
    let mut b = c11("");
    b.metadata.name = Some("another".into());
    b.spec.control_id = "C1.0".into();
    let docs: Vec<&str> = CLUSTER.split("---").collect();
    let reversed = docs.iter().rev().copied().collect::<Vec<_>>().join("---\n");
    let first = evaluate(&[a.clone(), b.clone()], &snapshot(CLUSTER), now());
    let second = evaluate(&[b, a], &snapshot(&reversed), now());
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
    assert_eq!(first.controls[0].control_id, "C1.0");
}

fn cc63(attestations: &str) -> Soc2Control {
    control(&format!(
        r#"
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata: {{name: soc2-cc6-3}}
spec:
  controlId: CC6.3
  criteria: Security
  title: Least privilege
  checks:
    - check: rbac.access-review-current
{attestations}
"#
    ))
}

#[test]
fn an_access_review_is_judged_by_its_age_and_never_attests_the_check() {
    let review = |at: &str| {
        cc63(&format!(
            r#"
  attestations:
    - kind: AccessReview
      check: rbac.access-review-current
      statement: Q1 review of cluster access, two bindings removed
      attestedBy: alice@example.com
      attestedAt: "{at}"
      ticket: SEC-101
      expires: "2027-01-01"
"#
        ))
    };
    let r = evaluate_control(&review("2026-04-01"), &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::Compliant, "{r:?}");
    assert_eq!(r.checks[0].status, Status::Compliant);
    assert!(!r.attestations[0].applied);
    assert_eq!(r.attestations[0].ticket.as_deref(), Some("SEC-101"));

    // Unexpired but old: the check fails; the attestation does not paper over it.
    let r = evaluate_control(&review("2026-01-02"), &snapshot(CLUSTER), now());
    assert_eq!(r.status, Status::NonCompliant);
    assert_eq!(r.checks[0].status, Status::NonCompliant);
    assert!(!r.attestations[0].applied);
    let (_, f) = r.failing_findings().next().expect("a finding");
    assert_eq!(f.resource.to_string(), "Soc2Control/soc2-cc6-3");
    assert!(
        f.message
            .contains("reviewed by alice@example.com on 2026-01-02, ticket SEC-101"),
        "{}",
        f.message
    );
}

#[test]
fn an_access_review_without_its_date_is_a_spec_error_naming_the_field() {
    let c = cc63(
        r#"
  attestations:
    - kind: AccessReview
      check: rbac.access-review-current
      statement: review
      attestedBy: alice@example.com
      expires: "2027-01-01"
"#,
    );
    let errors = validate(&c.spec);
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("spec.attestations[0].attestedAt")),
        "{errors:?}"
    );
    let json = serde_json::to_value(&c.spec).unwrap();
    let cel = crate::crd::Soc2ControlSpec::validate_cel(&json, None);
    assert!(cel.is_err(), "the CRD refuses it too");
}

#[test]
fn a_statement_cannot_stand_in_for_an_access_review() {
    let c = cc63(
        r#"
  attestations:
    - check: rbac.access-review-current
      statement: We review access regularly
      attestedBy: cto@example.com
      expires: "2027-01-01"
"#,
    );
    let errors = validate(&c.spec);
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("spec.attestations[0].kind")),
        "{errors:?}"
    );
    let json = serde_json::to_value(&c.spec).unwrap();
    assert!(crate::crd::Soc2ControlSpec::validate_cel(&json, None).is_err());
    // Even evaluated, the statement does not make the check pass.
    let r = evaluate_control(&c, &snapshot(CLUSTER), now());
    assert_eq!(r.checks[0].status, Status::NonCompliant);
    assert!(!r.attestations[0].applied);
}
