//! The audit-event activity as the controller and the evidence policies see it: the shared
//! aggregates filled by the intake ([`crate::audit_events`]), with the binding ledger brought
//! up to date from the current snapshot's RBAC and old hours pruned, copied out for one
//! evaluation or one evidence snapshot.
//!
//! The ledger survives restarts through the evidence: [`restore_ledger`] reads it from the
//! chain head's `activity.json` when a policy opens its writer (see
//! [`soc2_core::activity::ledger`] for what a restart can miss).

use std::sync::Mutex;

use jiff::Timestamp;
use soc2_core::activity::{Activity, BindingLedger, hour_start};
use soc2_core::checks::rbac::bound_subjects;
use soc2_core::snapshot::ClusterSnapshot;

/// Hours of aggregates kept in memory: a week of review lag plus a day.
pub const RETENTION_HOURS: i64 = 8 * 24;

/// Updates the ledger from `snapshot`'s bindings, prunes hours and removals older than
/// [`RETENTION_HOURS`], and returns a copy for one evaluation or snapshot at `now`.
pub fn view(shared: &Mutex<Activity>, snapshot: &ClusterSnapshot, now: Timestamp) -> Activity {
    let subjects = bound_subjects(snapshot);
    let mut a = shared.lock().unwrap_or_else(|p| p.into_inner());
    a.bindings.observe(&subjects, now);
    let oldest = hour_start(now) - RETENTION_HOURS * 3600;
    a.prune_before(oldest);
    if let Ok(t) = Timestamp::from_second(oldest) {
        a.bindings.prune_removed(t);
    }
    a.clone()
}

/// Merges a ledger read from the evidence into the shared one: subjects it knew as bound or
/// removed that the running operator has not seen yet. A subject the operator has already
/// observed keeps what the operator saw.
pub fn restore_ledger(shared: &Mutex<Activity>, from_evidence: BindingLedger) {
    let mut a = shared.lock().unwrap_or_else(|p| p.into_inner());
    let l = &mut a.bindings;
    for (k, t) in from_evidence.bound {
        if !l.removed.contains_key(&k) {
            l.bound.entry(k).or_insert(t);
        }
    }
    for (k, t) in from_evidence.removed {
        if !l.bound.contains_key(&k) {
            l.removed.entry(k).or_insert(t);
        }
    }
    if l.observed_at.is_none() {
        l.observed_at = from_evidence.observed_at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soc2_core::snapshot::Objects;

    #[test]
    fn a_restored_ledger_turns_a_binding_removed_while_down_into_a_removal_at_the_next_view() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let mut before = BindingLedger::default();
        before.observe(&["User/bob".to_string()].into(), t("2026-06-01T00:00:00Z"));
        let shared = Mutex::new(Activity::default());
        restore_ledger(&shared, before);
        // The cluster now has no binding at all: bob's removal is dated at this first view.
        let empty = ClusterSnapshot::new(Objects::default());
        let v = view(&shared, &empty, t("2026-06-03T00:00:00Z"));
        assert_eq!(v.bindings.removed["User/bob"], t("2026-06-03T00:00:00Z"));
        assert!(v.bindings.bound.is_empty());
    }
}
