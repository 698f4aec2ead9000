//! Reconciling one `Soc2Control`, as a pipeline of small steps:
//! decode → (finalizer) → evaluate → enforce or relax → status → events.
//!
//! Evaluation always runs (metrics stay current on standbys); every write — finalizer, status,
//! remediations, admission policies, events — happens only while this replica leads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Resource, ResourceExt};
use soc2_core::engine::aging::Aging;
use tracing::{info, instrument, warn};

use super::Context;
use super::enforce::{self, MANAGER};
use super::status::{self, EnforcementReport};
use crate::{Error, Result, Step};
use soc2_core::checks::access::ACTIVITY_CHECKS;
use soc2_core::crd::{Enforcement, Soc2Control, Soc2ControlStatus};
use soc2_core::engine::{ControlResult, SlaPolicy};
use soc2_core::snapshot::ClusterSnapshot;

/// Finalizer that undoes enforcement when a control is deleted.
pub const FINALIZER: &str = "soc2.evidence.dev/cleanup";

/// How often a valid control is re-evaluated without any change (for time-based checks such
/// as expiring exceptions and backup ages). From the caches: no API reads.
pub const REEVALUATE_EVERY: Duration = Duration::from_secs(300);

/// Entry point for the controller.
#[instrument(skip_all, fields(control = %guard.name_any()))]
pub async fn reconcile(
    guard: Arc<DeserializeGuard<Soc2Control>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let _timer = ctx.metrics.time_reconcile();
    let control = match &guard.0 {
        Ok(c) => c,
        Err(invalid) => {
            // A control that cannot be decoded waits for a change; it never stalls the others.
            warn!(error = %invalid.error, "cannot decode Soc2Control; waiting for a change");
            ctx.metrics
                .reconcile_failure(&Step::Decode.error(Error::Invalid(String::new())));
            if ctx.is_leader() {
                let reference = guard.object_ref(&());
                let ev = Event {
                    type_: EventType::Warning,
                    reason: "InvalidObject".into(),
                    note: Some(truncate(&format!("cannot decode: {}", invalid.error), 1000)),
                    action: "Decode".into(),
                    secondary: None,
                };
                if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
                    warn!(error = %e, "could not publish event");
                    ctx.metrics.reconcile_failure(&Step::Event.error(e));
                }
            }
            return Ok(Action::await_change());
        }
    };
    let control = Arc::new(control.clone());
    if !ctx.is_leader() {
        // Standby: keep metrics current, write nothing. Leadership changes re-trigger.
        let snapshot = ctx.snapshot();
        let _ = evaluate(&ctx, &control, &snapshot);
        return Ok(Action::await_change());
    }
    let has_finalizer = control.finalizers().iter().any(|f| f == FINALIZER);
    if ctx.enforcement || has_finalizer {
        let api: Api<Soc2Control> = Api::all(ctx.client.clone());
        if !ctx.enforcement && control.metadata.deletion_timestamp.is_some() {
            // Enforcement is off: objects it created are garbage-collected by owner
            // reference; release the finalizer without further undo.
            return finalizer::finalizer(&api, FINALIZER, control, |ev| async move {
                match ev {
                    FinalizerEvent::Apply(_) => Ok::<_, Error>(Action::await_change()),
                    FinalizerEvent::Cleanup(_) => Ok(Action::await_change()),
                }
            })
            .await
            .map_err(|e| Step::Finalizer.error(Error::Invalid(e.to_string())));
        }
        let ctx2 = ctx.clone();
        return finalizer::finalizer(&api, FINALIZER, control, |ev| async move {
            match ev {
                FinalizerEvent::Apply(c) => apply(&c, &ctx2).await,
                FinalizerEvent::Cleanup(c) => cleanup(&c, &ctx2).await,
            }
        })
        .await
        .map_err(|e| match e {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
            finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => {
                Step::Finalizer.error(e)
            }
            other => Step::Finalizer.error(Error::Invalid(other.to_string())),
        });
    }
    apply(&control, &ctx).await
}

/// Step: evaluate the control against the current snapshot and record metrics (finding ages
/// continue from the records in the control's status). Incremental: only the checks whose
/// inputs changed since this control's previous evaluation run again
/// ([`Incremental`](soc2_core::engine::Incremental)); the result is the full evaluation's.
pub fn evaluate(ctx: &Context, control: &Soc2Control, snapshot: &ClusterSnapshot) -> ControlResult {
    let (result, now) = evaluate_at(ctx, control, snapshot);
    age(ctx, control, &result, now);
    result
}

/// The evaluation of [`evaluate`] and its time, without the aging.
fn evaluate_at(
    ctx: &Context,
    control: &Soc2Control,
    snapshot: &ClusterSnapshot,
) -> (ControlResult, Timestamp) {
    let now = Timestamp::now();
    // Only controls with an activity check pay for the copy of the aggregates.
    let reads_activity = control
        .spec
        .checks
        .iter()
        .any(|c| ACTIVITY_CHECKS.contains(&c.check.as_str()));
    let activity = reads_activity
        .then(|| ctx.activity_view(snapshot, now))
        .flatten();
    let result = {
        let _t = ctx.metrics.time_evaluation();
        ctx.incremental
            .evaluate_control(control, snapshot, activity.as_ref(), now)
    };
    ctx.metrics.record_result(&result);
    (result, now)
}

/// The aging of a control's findings at `now` (continued from the records in its status),
/// recorded in the metrics. Computed once per reconcile: it hashes every finding.
fn age<'a>(
    ctx: &Context,
    control: &Soc2Control,
    result: &'a ControlResult,
    now: Timestamp,
) -> Aging<'a> {
    let aged = status::aging(result, control.status.as_ref(), &sla_policy(control), now);
    ctx.metrics.record_aging(&result.name, &aged);
    aged
}

/// The control's remediation SLAs (fields that cannot be read keep their defaults; validation
/// reports them).
pub fn sla_policy(control: &Soc2Control) -> SlaPolicy {
    SlaPolicy::resolve(control.spec.remediation_sla.as_ref()).0
}

/// The checks that `Enforce` controls other than `name` remediate.
fn still_enforced(ctx: &Context, name: &str) -> BTreeSet<String> {
    ctx.controls()
        .iter()
        .filter_map(|g| g.0.as_ref().ok())
        .filter(|c| c.name_any() != name && c.spec.enforcement == Enforcement::Enforce)
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .flat_map(|c| c.spec.checks.iter().map(|r| r.check.clone()))
        .collect()
}

/// Step: the live control (evaluate, enforce or relax, status, events).
async fn apply(control: &Soc2Control, ctx: &Context) -> Result<Action> {
    let snapshot = ctx.snapshot();
    let (result, now) = evaluate_at(ctx, control, &snapshot);
    let aged = age(ctx, control, &result, now);
    let valid = result.spec_errors.is_empty();
    let mut report = EnforcementReport::default();
    let mut actions = Vec::new();
    match control.spec.enforcement {
        Enforcement::Enforce if !ctx.enforcement => {
            report.condition = Some((
                false,
                "EnforcementDisabled".into(),
                "the operator runs without --enforcement; auditing only".into(),
            ));
        }
        Enforcement::Enforce if !valid => {
            report.condition = Some((
                false,
                "InvalidSpec".into(),
                "the spec is invalid; nothing is enforced".into(),
            ));
        }
        Enforcement::Enforce => {
            if !ctx.is_leader() {
                return Ok(Action::await_change());
            }
            let out = enforce::enforce(&ctx.client, control, &result, &snapshot, &ctx.namespace)
                .await
                .map_err(|e| Step::Enforce.error(e))?;
            report = out.report;
            actions = out.actions;
        }
        Enforcement::Audit if ctx.enforcement => {
            if !ctx.is_leader() {
                return Ok(Action::await_change());
            }
            let kept = still_enforced(ctx, &control.name_any());
            actions = enforce::relax(&ctx.client, control, &snapshot, &kept)
                .await
                .map_err(|e| Step::Relax.error(e))?;
        }
        Enforcement::Audit => {}
    }
    let mut desired = status::desired_aged(&result, aged, control.status.as_ref(), &report, now);
    status::add_audit_events_condition(&mut desired, &result, control.status.as_ref(), now);
    write_status(ctx, control, &desired).await?;
    publish_events(ctx, control, control.status.as_ref(), &desired, &actions).await;
    ctx.reset_backoff(&control.name_any());
    Ok(if valid {
        Action::requeue(REEVALUATE_EVERY)
    } else {
        Action::await_change()
    })
}

/// Step: write status by server-side apply, unless only `lastEvaluated` would change.
/// Returns whether it wrote.
pub async fn write_status(
    ctx: &Context,
    control: &Soc2Control,
    desired: &Soc2ControlStatus,
) -> Result<bool> {
    if !status::needs_write(control.status.as_ref(), desired) {
        return Ok(false);
    }
    if !ctx.is_leader() {
        return Ok(false);
    }
    let api: Api<Soc2Control> = Api::all(ctx.client.clone());
    api.patch_status(
        &control.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(status::apply_body(desired)),
    )
    .await
    .map_err(|e| Step::Status.error(e))?;
    Ok(true)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Step: Events on compliance changes, invalid specs and enforcement actions.
pub async fn publish_events(
    ctx: &Context,
    control: &Soc2Control,
    previous: Option<&Soc2ControlStatus>,
    desired: &Soc2ControlStatus,
    actions: &[String],
) {
    let mut events = Vec::new();
    if let Some(message) = status::invalid_spec_change(previous, desired) {
        events.push((EventType::Warning, "InvalidSpec", "Validate", message));
    }
    match status::compliance_change(previous, desired) {
        Some(true) => events.push((
            EventType::Normal,
            "Compliant",
            "Evaluate",
            "every check passed".to_string(),
        )),
        Some(false) => {
            let msg = desired
                .conditions
                .iter()
                .find(|c| c.type_ == status::COMPLIANT)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            events.push((EventType::Warning, "NonCompliant", "Evaluate", msg));
        }
        None => {}
    }
    if let Some(note) = status::sla_crossings(previous, desired) {
        events.push((EventType::Warning, "RemediationOverdue", "Evaluate", note));
    }
    if !actions.is_empty() {
        events.push((EventType::Normal, "Enforced", "Enforce", actions.join("; ")));
    }
    if events.is_empty() || !ctx.is_leader() {
        return;
    }
    let reference = control.object_ref(&());
    for (type_, reason, action, note) in events {
        info!(reason, note = %note, "event");
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(&note, 1000)),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
            warn!(error = %e, "could not publish event");
            ctx.metrics.reconcile_failure(&Step::Event.error(e));
        }
    }
}

/// Step: the control is being deleted; undo enforcement and forget its metrics.
async fn cleanup(control: &Soc2Control, ctx: &Context) -> Result<Action> {
    let snapshot = ctx.snapshot();
    if ctx.is_leader() {
        let kept = still_enforced(ctx, &control.name_any());
        let actions = enforce::relax(&ctx.client, control, &snapshot, &kept)
            .await
            .map_err(|e| Step::Relax.error(e))?;
        if !actions.is_empty() {
            info!(actions = ?actions, "undid enforcement");
        }
    }
    let checks: Vec<String> = control
        .spec
        .checks
        .iter()
        .map(|c| c.check.clone())
        .collect();
    ctx.metrics.forget_control(
        &control.spec.control_id,
        control.spec.criteria.as_str(),
        &control.name_any(),
        &checks,
    );
    ctx.metrics.forget_aging(&control.name_any());
    ctx.incremental.forget(control);
    Ok(Action::await_change())
}

/// What to do after a failed reconcile: per-object exponential backoff, reset on success.
pub fn error_policy(
    guard: Arc<DeserializeGuard<Soc2Control>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    warn!(control = %guard.name_any(), error = %error, "reconcile failed");
    ctx.metrics.reconcile_failure(error);
    Action::requeue(ctx.next_backoff(&guard.name_any()))
}
