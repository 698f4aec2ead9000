//! What the four activity checks share: reading [`Ctx::activity`], NotApplicable when the
//! intake is off or nothing was ever received, and the failing finding when events stopped.

use jiff::SignedDuration;

use crate::activity::{Activity, stopped};
use crate::checks::{Ctx, Finding, Outcome, ResourceRef};

/// The ids of the checks that read the audit-event activity (and only it, with the snapshot
/// for RBAC where noted in each check).
pub const ACTIVITY_CHECKS: [&str; 4] = [
    "access.failed-logins",
    "access.mfa",
    "access.privileged-actions-reviewed",
    "access.terminated-identities",
];

/// How every "events stopped" finding begins; the operator's status turns it into a
/// condition.
pub const EVENTS_STOPPED: &str = "no audit events since";

/// Default of every activity check's `staleAfterMinutes`.
pub(super) const STALE_AFTER_MINUTES: u32 = 60;

/// The control being evaluated, as a finding's resource.
pub(super) fn control_ref(ctx: &Ctx<'_>) -> ResourceRef {
    ResourceRef::new("Soc2Control", None, ctx.control)
}

/// The activity when the control is operating; otherwise the outcome to return:
/// NotApplicable without an intake or before the first event, and one failing finding when
/// events were received before but none for more than `stale_after_minutes`.
pub(super) fn operating<'a>(
    ctx: &Ctx<'a>,
    stale_after_minutes: u32,
) -> Result<&'a Activity, Outcome> {
    let Some(activity) = ctx.activity else {
        return Err(Outcome::not_applicable(
            "the audit-event intake is not running (soc2-operator run --audit-listen): there \
             is no activity to judge",
        ));
    };
    if activity.last_received.is_none() {
        return Err(Outcome::not_applicable(
            "no audit events have been received yet: point the API server's audit webhook or a \
             log shipper at the intake (docs/audit-events.md)",
        ));
    }
    let stale = SignedDuration::from_mins(i64::from(stale_after_minutes));
    if let Some(last) = stopped(activity, ctx.now, stale) {
        return Err(Outcome::evaluated(
            1,
            vec![Finding::new(
                control_ref(ctx),
                format!(
                    "{EVENTS_STOPPED} {last}: the control is not operating (nothing received for \
                     more than {stale_after_minutes} minutes); check the API server's audit \
                     webhook or log shipper and soc2_audit_batches_rejected_total"
                ),
            )],
        ));
    }
    Ok(activity)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Activities for the activity checks' tests.

    use jiff::Timestamp;

    use crate::activity::{Activity, hour_start};
    use crate::checks::testing::now;

    /// An activity that received its last batch 10 minutes before the tests' `now()`.
    pub fn live() -> Activity {
        let mut a = Activity {
            oidc_configured: true,
            ..Activity::default()
        };
        a.received(at(-600));
        a
    }

    /// `now()` shifted by `secs`.
    pub fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(now().as_second() + secs).expect("valid time")
    }

    /// The hour bucket `hours_ago` hours before the one holding `now()`.
    pub fn hour(a: &mut Activity, hours_ago: i64) -> &mut crate::activity::HourBucket {
        a.hours
            .entry(hour_start(now()) - hours_ago * 3600)
            .or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{at, live};
    use super::*;
    use crate::checks::testing::{messages, now, run_with_activity};

    #[test]
    fn every_activity_check_is_not_applicable_without_intake_or_events_and_fails_when_stopped() {
        for id in ACTIVITY_CHECKS {
            let none = run_with_activity(id, "", "", now(), "cc", &[], None);
            assert!(
                matches!(&none, Outcome::NotApplicable { reason } if reason.contains("--audit-listen")),
                "{id}: {none:?}"
            );
            let empty = Activity::default();
            let out = run_with_activity(id, "", "", now(), "cc", &[], Some(&empty));
            assert!(
                matches!(&out, Outcome::NotApplicable { reason } if reason.contains("no audit events have been received")),
                "{id}: {out:?}"
            );
            let mut stale = live();
            stale.last_received = Some(at(-2 * 3600));
            let out = run_with_activity(id, "", "", now(), "cc", &[], Some(&stale));
            let m = messages(&out);
            assert_eq!(m.len(), 1, "{id}: {out:?}");
            assert!(
                m[0].starts_with(
                    "no audit events since 2026-06-15T10:00:00Z: the control is not operating"
                ),
                "{id}: {}",
                m[0]
            );
            // A longer staleAfterMinutes accepts the same gap.
            let out = run_with_activity(
                id,
                "staleAfterMinutes: 180",
                "",
                now(),
                "cc",
                &[],
                Some(&stale),
            );
            assert!(messages(&out).is_empty(), "{id}: {out:?}");
        }
    }
}
