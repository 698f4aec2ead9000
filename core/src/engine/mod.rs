//! The evaluation engine: `evaluate(controls, snapshot, now)` → per-control results.
//!
//! Pure: no I/O and no clock (time is an input). It validates each control's spec, runs its
//! checks, applies exceptions and attestations, and orders everything deterministically. It
//! does not write status or evidence.

pub mod aging;
mod exceptions;
mod incremental;
mod result;
mod validate;

use jiff::Timestamp;
use kube::ResourceExt;

use crate::activity::Activity;
use crate::checks::{AnyCheck, Ctx, Outcome, ScopeFilter, catalog};
use crate::crd::Soc2Control;
use crate::snapshot::ClusterSnapshot;

pub use aging::{AgedFinding, Aging, SlaPolicy, finding_id};
pub use exceptions::{AttestationState, ExceptionState};
pub use incremental::Incremental;
pub use result::{CheckResult, ControlResult, Evaluation, ExceptedFinding, Status};
pub use validate::{SpecError, validate};

/// Evaluates every control against the snapshot at time `now`. Results are sorted by criteria,
/// control id and name.
pub fn evaluate(
    controls: &[Soc2Control],
    snapshot: &ClusterSnapshot,
    now: Timestamp,
) -> Evaluation {
    evaluate_with_activity(controls, snapshot, None, now)
}

/// [`evaluate`] with the audit-event activity the `access.*` activity checks read (`None`:
/// the intake is not running, and those checks are NotApplicable).
pub fn evaluate_with_activity(
    controls: &[Soc2Control],
    snapshot: &ClusterSnapshot,
    activity: Option<&Activity>,
    now: Timestamp,
) -> Evaluation {
    let results = controls
        .iter()
        .map(|c| evaluate_control_with_activity(c, snapshot, activity, now))
        .collect();
    assemble(results, snapshot, now)
}

/// The evaluation of `results`, sorted by criteria, control id and name: one order for the
/// full pass and [`Incremental`].
fn assemble(
    mut results: Vec<ControlResult>,
    snapshot: &ClusterSnapshot,
    now: Timestamp,
) -> Evaluation {
    results.sort_by(|a, b| {
        (a.criteria, &a.control_id, &a.name).cmp(&(b.criteria, &b.control_id, &b.name))
    });
    Evaluation {
        evaluated_at: now,
        objects: snapshot.len(),
        controls: results,
    }
}

/// Evaluates one control.
pub fn evaluate_control(
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
    now: Timestamp,
) -> ControlResult {
    evaluate_control_with_activity(control, snapshot, None, now)
}

/// Evaluates one control, with the audit-event activity (see [`evaluate_with_activity`]).
pub fn evaluate_control_with_activity(
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
    activity: Option<&Activity>,
    now: Timestamp,
) -> ControlResult {
    evaluate_control_with(
        control,
        snapshot,
        activity,
        now,
        &mut |_: usize, check: &dyn AnyCheck, ctx: &Ctx<'_>, params: Option<&serde_json::Value>| {
            check.run(ctx, params)
        },
    )
}

/// Runs the check at position `i` of a control's `spec.checks` (the full path runs it; the
/// incremental one may reuse an earlier outcome).
type RunCheck<'r> = dyn FnMut(
        usize,
        &dyn AnyCheck,
        &Ctx<'_>,
        Option<&serde_json::Value>,
    ) -> Result<Outcome, crate::checks::ParamError>
    + 'r;

/// Evaluates one control, getting each check's outcome from `run`.
fn evaluate_control_with(
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
    activity: Option<&Activity>,
    now: Timestamp,
    run: &mut RunCheck<'_>,
) -> ControlResult {
    let spec = &control.spec;
    let errors = validate(spec);
    let scope = ScopeFilter::from_spec(&spec.scope).unwrap_or_else(|_| ScopeFilter::all());
    let control_name = control.name_any();
    let ctx = Ctx {
        snapshot,
        scope: &scope,
        now,
        control: &control_name,
        attestations: &spec.attestations,
        activity,
    };
    let mut exceptions = exceptions::resolve(&spec.exceptions, now);
    let mut attestations = exceptions::resolve_attestations(&spec.attestations, now);

    let mut checks = Vec::with_capacity(spec.checks.len());
    for (i, check_ref) in spec.checks.iter().enumerate() {
        let field = format!("spec.checks[{i}]");
        let Some(check) = catalog().get(&check_ref.check) else {
            checks.push(CheckResult::error(
                &check_ref.check,
                format!("{field}.check: unknown check id {:?}", check_ref.check),
            ));
            continue;
        };
        let meta = check.meta();
        let outcome = match run(i, check, &ctx, check_ref.params.as_ref()) {
            Ok(o) => o,
            Err(e) => {
                checks.push(CheckResult::error(
                    &check_ref.check,
                    format!("{field}.params: {e}"),
                ));
                continue;
            }
        };
        let attestation = attestations
            .iter_mut()
            .filter(|_| check_ref.check != validate::ACCESS_REVIEW_CHECK)
            .find(|a| a.check == check_ref.check && !a.expired && a.kind.is_none());
        checks.push(result::check_result(
            &meta,
            outcome,
            &mut exceptions,
            attestation,
        ));
    }

    result::control_result(
        control.name_any(),
        control.metadata.generation,
        spec,
        checks,
        errors,
        exceptions,
        attestations,
    )
}

/// Whether an outcome found nothing.
pub fn is_clean(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Evaluated { findings, .. } if findings.is_empty())
}

#[cfg(test)]
mod tests;
