//! Incremental evaluation: the same results as [`evaluate`](super::evaluate), re-running only
//! the checks whose inputs changed since the previous evaluation of their control.
//!
//! Per control (by name) it keeps the spec it last evaluated and, per entry of `spec.checks`,
//! the check's outcome with the inputs it was computed from: the snapshot stamp
//! ([`Stamps`](crate::snapshot::Stamps)) of every kind the check declares it reads
//! ([`Check::reads`](crate::checks::Check::reads)), plus `Namespace` when the control's scope
//! has a namespace label selector, and the evaluation time when the check reads the clock. A
//! check is re-run when its control's spec changed, when one of those stamps differs, or — for
//! the clock readers (backup ages, restore tests, certificate expiry, vulnerability deadlines
//! and scan ages, access review age) — at every evaluation, since `now` moves. Those read
//! only optional kinds and are cheap next to the workload and RBAC checks.
//!
//! Checks that read the audit-event activity ([`Reads::activity`](crate::checks::Reads)) are
//! re-run at every evaluation while the intake runs: the aggregates have no stamp and change
//! with every batch. Without the intake they are reused like any other check.
//!
//! What is never reused: exceptions and attestations are applied to every outcome at every
//! evaluation (their expiry depends on `now`), and spec validation runs every time; both are
//! cheap. The full pass ([`evaluate`](super::evaluate)) stays the reference: the property test
//! below compares the two after random change sequences.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use kube::ResourceExt;

use super::{ControlResult, Evaluation, assemble, evaluate_control_with};
use crate::activity::Activity;
use crate::checks::{AnyCheck, Ctx, Outcome, ParamError};
use crate::crd::{Soc2Control, Soc2ControlSpec};
use crate::snapshot::{ClusterSnapshot, KindId};

/// Keeps the previous outcome of every check of every control and re-runs a check only when
/// what it reads changed. Safe to share between threads; evaluations of different controls
/// run in parallel, the same control's should not (the later one wins the memo).
#[derive(Default)]
pub struct Incremental {
    controls: Mutex<HashMap<String, ControlMemo>>,
    ran: AtomicU64,
    reused: AtomicU64,
}

/// What was remembered of one control.
struct ControlMemo {
    spec: Soc2ControlSpec,
    checks: Vec<Option<CheckMemo>>,
}

/// One check's outcome and the inputs it came from.
struct CheckMemo {
    inputs: Vec<(KindId, u64)>,
    clock: Option<Timestamp>,
    /// Whether the outcome was computed from audit-event activity (which has no stamp: it
    /// changes with every batch received, so such an outcome is never reused).
    live_activity: bool,
    outcome: Outcome,
}

impl Incremental {
    /// An evaluator that remembers nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every control, as [`evaluate`](super::evaluate) would give; forgets controls that are no
    /// longer listed.
    pub fn evaluate(
        &self,
        controls: &[Soc2Control],
        snapshot: &ClusterSnapshot,
        activity: Option<&Activity>,
        now: Timestamp,
    ) -> Evaluation {
        {
            let keep: std::collections::HashSet<String> = controls.iter().map(key).collect();
            self.lock().retain(|k, _| keep.contains(k));
        }
        let results = controls
            .iter()
            .map(|c| self.evaluate_control(c, snapshot, activity, now))
            .collect();
        assemble(results, snapshot, now)
    }

    /// One control, as [`evaluate_control`](super::evaluate_control) would give.
    pub fn evaluate_control(
        &self,
        control: &Soc2Control,
        snapshot: &ClusterSnapshot,
        activity: Option<&Activity>,
        now: Timestamp,
    ) -> ControlResult {
        let key = key(control);
        let previous = self.lock().remove(&key);
        let mut memo = previous
            .filter(|m| m.spec == control.spec)
            .unwrap_or_else(|| ControlMemo {
                spec: control.spec.clone(),
                checks: Vec::new(),
            });
        memo.checks.resize_with(control.spec.checks.len(), || None);
        let (mut ran, mut reused) = (0, 0);
        let mut run = |i: usize,
                       check: &dyn AnyCheck,
                       ctx: &Ctx<'_>,
                       params: Option<&serde_json::Value>|
         -> Result<Outcome, ParamError> {
            let reads = check.reads();
            let mut inputs: Vec<(KindId, u64)> = reads
                .kinds
                .iter()
                .map(|k| (*k, snapshot.stamps().get(*k)))
                .collect();
            if ctx.scope.reads_namespaces() && !reads.reads(KindId::Namespace) {
                inputs.push((KindId::Namespace, snapshot.stamps().get(KindId::Namespace)));
            }
            let clock = reads.clock.then_some(now);
            let slot = &mut memo.checks[i];
            let live_activity = reads.activity && ctx.activity.is_some();
            if let Some(m) = slot.as_ref()
                && !live_activity
                && !m.live_activity
                && m.inputs == inputs
                && m.clock == clock
            {
                reused += 1;
                return Ok(m.outcome.clone());
            }
            *slot = None;
            ran += 1;
            let outcome = check.run(ctx, params)?;
            *slot = Some(CheckMemo {
                inputs,
                clock,
                live_activity,
                outcome: outcome.clone(),
            });
            Ok(outcome)
        };
        let result = evaluate_control_with(control, snapshot, activity, now, &mut run);
        self.ran.fetch_add(ran, Ordering::Relaxed);
        self.reused.fetch_add(reused, Ordering::Relaxed);
        self.lock().insert(key, memo);
        result
    }

    /// Forgets a control (it was deleted).
    pub fn forget(&self, control: &Soc2Control) {
        self.lock().remove(&key(control));
    }

    /// How many check runs were done and how many outcomes were reused, since creation.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.ran.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ControlMemo>> {
        self.controls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Controls are cluster-scoped; the namespace is kept in the key anyway.
fn key(control: &Soc2Control) -> String {
    format!(
        "{}/{}",
        control.namespace().unwrap_or_default(),
        control.name_any()
    )
}

#[cfg(test)]
mod tests;
