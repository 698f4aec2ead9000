//! Test helpers: snapshots from inline YAML and one-call check runs.

use std::sync::LazyLock;

use jiff::Timestamp;

use super::{Ctx, Finding, Outcome, ScopeFilter, catalog};
use crate::snapshot::manifests::{self, Trim};
use crate::snapshot::{ClusterSnapshot, KindId, Objects};

/// The fixed evaluation time of check tests.
pub fn now() -> Timestamp {
    "2026-06-15T12:00:00Z".parse().expect("valid time")
}

/// A snapshot from multi-document YAML (same parsing as `audit --manifests`).
pub fn snapshot(yaml: &str) -> ClusterSnapshot {
    snapshot_with(yaml, Trim::Yes)
}

/// A snapshot from multi-document YAML, trimmed or kept whole.
pub fn snapshot_with(yaml: &str, trim: Trim) -> ClusterSnapshot {
    let docs = manifests::parse_documents(std::path::Path::new("inline.yaml"), yaml)
        .expect("fixture parses");
    let mut objects = Objects::default();
    let mut ignored = Default::default();
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().expect("apiVersion").to_string();
        let kind = doc["kind"].as_str().expect("kind").to_string();
        manifests::add_object_with(&mut objects, &mut ignored, &api_version, &kind, doc, trim)
            .expect("fixture object is valid");
    }
    ClusterSnapshot::new(objects)
}

/// Runs a catalog check with parameters (YAML or JSON text; "" for defaults) over all
/// namespaces.
pub fn run(check: &str, params: &str, yaml: &str) -> Outcome {
    run_scoped(check, params, yaml, &ScopeFilter::all())
}

/// Runs a catalog check with a scope, on the trimmed snapshot that `audit` and the operator
/// build, and again on the objects kept whole: the outcomes must be identical, so every check
/// fixture is also a test that trimming drops nothing the check reads.
pub fn run_scoped(check: &str, params: &str, yaml: &str, scope: &ScopeFilter) -> Outcome {
    run_scoped_at(check, params, yaml, scope, now())
}

/// [`run`] at another evaluation time (RFC 3339), for fixtures written against their own clock.
pub fn run_at(check: &str, params: &str, yaml: &str, at: &str) -> Outcome {
    let at = at.parse().expect("valid time");
    run_scoped_at(check, params, yaml, &ScopeFilter::all(), at)
}

/// [`run_scoped`] at a given evaluation time.
pub fn run_scoped_at(
    check: &str,
    params: &str,
    yaml: &str,
    scope: &ScopeFilter,
    at: Timestamp,
) -> Outcome {
    run_in_control(check, params, yaml, scope, at, "", &[])
}

/// [`run_scoped_at`] inside a control named `control` with these attestations (for checks that
/// read the control's attestations).
pub fn run_in_control(
    check: &str,
    params: &str,
    yaml: &str,
    scope: &ScopeFilter,
    at: Timestamp,
    control: &str,
    attestations: &[crate::crd::Attestation],
) -> Outcome {
    run_inner(check, params, yaml, scope, at, control, attestations, None)
}

/// [`run_in_control`] over all namespaces with the audit-event activity `activity` (for the
/// `access.*` activity checks).
pub fn run_with_activity(
    check: &str,
    params: &str,
    yaml: &str,
    at: Timestamp,
    control: &str,
    attestations: &[crate::crd::Attestation],
    activity: Option<&crate::activity::Activity>,
) -> Outcome {
    let scope = &ScopeFilter::all();
    run_inner(
        check,
        params,
        yaml,
        scope,
        at,
        control,
        attestations,
        activity,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_inner(
    check: &str,
    params: &str,
    yaml: &str,
    scope: &ScopeFilter,
    at: Timestamp,
    control: &str,
    attestations: &[crate::crd::Attestation],
    activity: Option<&crate::activity::Activity>,
) -> Outcome {
    let params: Option<serde_json::Value> = if params.trim().is_empty() {
        None
    } else {
        Some(serde_saphyr::from_str(params).expect("params parse"))
    };
    let [trimmed, whole] = [Trim::Yes, Trim::No].map(|trim| {
        let snap = snapshot_with(yaml, trim);
        let ctx = Ctx {
            snapshot: &snap,
            scope,
            now: at,
            control,
            attestations,
            activity,
        };
        catalog()
            .get(check)
            .unwrap_or_else(|| panic!("unknown check {check}"))
            .run(&ctx, params.as_ref())
            .expect("params valid")
    });
    assert_eq!(
        trimmed, whole,
        "{check}: trimming changed the outcome (the trim drops a field this check reads)"
    );
    let trimmed_objects = snapshot_with(yaml, Trim::Yes).objects().clone();
    let run = |objects: Objects, at: Timestamp| {
        let snap = ClusterSnapshot::new(objects);
        let ctx = Ctx {
            snapshot: &snap,
            scope,
            now: at,
            control,
            attestations,
            activity,
        };
        catalog()
            .get(check)
            .and_then(|c| c.run(&ctx, params.as_ref()).ok())
    };
    assert_reads_declared(check, &trimmed_objects, scope, at, &trimmed, run);
    trimmed
}

/// Objects of every kind that fixtures do not use: a small synthetic cluster with the
/// ecosystem sources.
static FOREIGN: LazyLock<Objects> = LazyLock::new(|| {
    let mut o = crate::synth::generate(400, 7);
    crate::synth::add_ecosystem(&mut o, 20, 7);
    o
});

/// Makes [`Check::reads`](super::Check::reads) honest: the outcome must stay the same with
/// every kind the check does not declare emptied (not served, and served but empty) or
/// replaced by other objects, and, when it does not declare the clock, ten years earlier and
/// later. `run` evaluates the check on objects at a time.
fn assert_reads_declared(
    check: &str,
    objects: &Objects,
    scope: &ScopeFilter,
    at: Timestamp,
    expected: &Outcome,
    run: impl Fn(Objects, Timestamp) -> Option<Outcome>,
) {
    let reads = catalog().get(check).expect("known check").reads();
    for kind in KindId::all() {
        if reads.reads(kind) || (kind == KindId::Namespace && scope.reads_namespaces()) {
            continue;
        }
        let mut variants: Vec<(&str, Objects)> = Vec::new();
        for served in [false, true] {
            let mut o = objects.clone();
            o.empty_kind(kind, served);
            variants.push((
                if served {
                    "served but empty"
                } else {
                    "emptied"
                },
                o,
            ));
        }
        let mut o = objects.clone();
        o.put_kind(kind, FOREIGN.clone().take_kind(kind))
            .expect("same kind");
        variants.push(("replaced by other objects", o));
        for (how, o) in variants {
            assert_eq!(
                run(o, at).as_ref(),
                Some(expected),
                "{check}: the outcome changed with {kind:?} {how}, but the check does not \
                 declare that it reads {kind:?} (Check::reads)"
            );
        }
    }
    if !reads.clock {
        let decade = jiff::SignedDuration::from_hours(24 * 3652);
        for other in [at.checked_sub(decade), at.checked_add(decade)] {
            let other = other.expect("time in range");
            assert_eq!(
                run(objects.clone(), other).as_ref(),
                Some(expected),
                "{check}: the outcome changed at {other}, but the check does not declare that \
                 it reads the clock (Check::reads)"
            );
        }
    }
}

/// The findings of an evaluated outcome, as `Kind/ns/name` strings (panics when not
/// applicable).
pub fn failing(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Evaluated { findings, .. } => findings
            .iter()
            .map(|f: &Finding| f.resource.to_string())
            .collect(),
        Outcome::NotApplicable { reason } => {
            panic!("expected an evaluated outcome, got NotApplicable: {reason}")
        }
    }
}

/// The finding messages of an evaluated outcome (panics when not applicable).
pub fn messages(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Evaluated { findings, .. } => findings.iter().map(|f| f.message.clone()).collect(),
        Outcome::NotApplicable { reason } => {
            panic!("expected an evaluated outcome, got NotApplicable: {reason}")
        }
    }
}

/// The number of resources examined (panics when not applicable).
pub fn checked(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Evaluated { checked, .. } => *checked,
        Outcome::NotApplicable { reason } => {
            panic!("expected an evaluated outcome, got NotApplicable: {reason}")
        }
    }
}
