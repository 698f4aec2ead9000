//! `backup.recent-success`: a Velero backup completed recently.

use std::collections::HashMap;

use kube::core::DynamicObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SCHEDULE_NAME_LABEL, VELERO_ABSENT, completed_at, cutoff, display_name};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

super::duration_param!(MaxAge, "maxAge");

/// Fails when no Velero Backup in phase `Completed` has a `status.completionTimestamp` within
/// `maxAge` before the evaluation time (`PartiallyFailed` does not count).
///
/// By default the subject is the cluster (`Cluster/backups`, `checked` = 1). With
/// `perSchedule`, each active (unpaused) Schedule is judged on the backups labelled
/// `velero.io/schedule-name: <schedule>` in its namespace, one finding per stale Schedule.
pub struct RecentSuccess;

/// Parameters of `backup.recent-success`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Oldest acceptable completed backup, as `90s`, `15m`, `1h30m` or `30d`. Default `25h`
    /// (a daily schedule plus slack).
    pub max_age: MaxAge,
    /// Judge each active Schedule separately. Default `false`.
    pub per_schedule: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            max_age: MaxAge::try_from("25h".to_string()).expect("valid default"),
            per_schedule: false,
        }
    }
}

/// The latest completed backup among `backups`, with its completion time.
fn latest<'a>(
    backups: impl Iterator<Item = &'a DynamicObject>,
) -> Option<(jiff::Timestamp, &'a DynamicObject)> {
    backups
        .filter_map(|b| completed_at(b).map(|t| (t, b)))
        .max_by_key(|(t, _)| *t)
}

fn stale_message(max_age: &str, latest: Option<(jiff::Timestamp, &DynamicObject)>) -> String {
    let last = match latest {
        Some((t, b)) => format!("the latest is `{}`, completed at {t}", display_name(b)),
        None => "none has completed".to_string(),
    };
    format!(
        "no Velero Backup completed within {max_age} ({last}); check the Schedule, the backup \
         storage location and the logs of failed backups"
    )
}

impl Check for RecentSuccess {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "backup.recent-success",
            title: "Backups complete successfully and recently",
            description: "Fails when no Velero Backup has completed within maxAge (per cluster, \
                          or per Schedule).",
            criteria: &["A1.2"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::VeleroBackup,
            crate::snapshot::KindId::VeleroSchedule,
        ])
        .and_clock()
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let (Some(backups), Some(schedules)) = (
            ctx.snapshot.velero_backups.as_ref(),
            ctx.snapshot.velero_schedules.as_ref(),
        ) else {
            return Outcome::not_applicable(VELERO_ABSENT);
        };
        let since = cutoff(ctx.now, params.max_age.duration());
        let max_age = params.max_age.as_str();
        if !params.per_schedule {
            let newest = latest(backups.iter().map(AsRef::as_ref));
            let findings = match newest {
                Some((t, _)) if t >= since => Vec::new(),
                _ => vec![Finding::new(
                    ResourceRef::new("Cluster", None, "backups"),
                    stale_message(max_age, newest),
                )],
            };
            return Outcome::evaluated(1, findings);
        }
        // The latest completed backup of each (namespace, schedule name), in one pass.
        let mut by_schedule: HashMap<(&str, &str), (jiff::Timestamp, &DynamicObject)> =
            HashMap::new();
        for b in backups {
            let Some(schedule) = b
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SCHEDULE_NAME_LABEL))
            else {
                continue;
            };
            let Some(t) = completed_at(b) else {
                continue;
            };
            let key = (
                b.metadata.namespace.as_deref().unwrap_or(""),
                schedule.as_str(),
            );
            let entry = by_schedule.entry(key).or_insert((t, b));
            if t > entry.0 {
                *entry = (t, b);
            }
        }
        let mut checked = 0;
        let mut findings = Vec::new();
        for s in schedules {
            if s.data
                .pointer("/spec/paused")
                .and_then(serde_json::Value::as_bool)
                == Some(true)
            {
                continue;
            }
            checked += 1;
            let ns = s.metadata.namespace.as_deref().unwrap_or("");
            let name = s.metadata.name.as_deref().unwrap_or("");
            let newest = by_schedule.get(&(ns, name)).copied();
            if !matches!(newest, Some((t, _)) if t >= since) {
                findings.push(Finding::new(
                    ResourceRef::new("Schedule", Some(ns), name),
                    stale_message(max_age, newest),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{VELERO_SERVED, finished};
    use crate::checks::testing::{checked, failing, now, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "backup.recent-success";

    fn ago(hours: i64) -> String {
        (now() - jiff::SignedDuration::from_hours(hours)).to_string()
    }

    fn backup(name: &str, phase: &str, hours_ago: i64, schedule: &str) -> String {
        let labels = if schedule.is_empty() {
            String::new()
        } else {
            format!("velero.io/schedule-name: {schedule}")
        };
        finished("Backup", name, phase, &ago(hours_ago), &labels)
    }

    fn schedule(name: &str) -> String {
        format!(
            "apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {{name: {name}, namespace: \
             velero}}\nspec: {{schedule: '0 2 * * *', template: {{}}}}\n---\n"
        )
    }

    #[test]
    fn not_applicable_without_velero() {
        assert!(matches!(run(ID, "", ""), Outcome::NotApplicable { .. }));
    }

    #[test]
    fn backup_two_hours_old_passes() {
        let y = backup("daily-1", "Completed", 2, "daily");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn backup_thirty_hours_old_fails() {
        let y = backup("daily-0", "Completed", 30, "daily")
            // Newer, but not successful.
            + &backup("daily-1", "PartiallyFailed", 2, "daily")
            + &backup("daily-2", "InProgress", 1, "daily");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Cluster/backups"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        let m = &findings[0].message;
        assert!(m.contains("within 25h"), "{m}");
        assert!(m.contains("velero/daily-0"), "{m}");
    }

    #[test]
    fn no_backups_at_all_fails() {
        let o = run(ID, "", VELERO_SERVED);
        assert_eq!(failing(&o), ["Cluster/backups"]);
    }

    #[test]
    fn max_age_param() {
        let y = backup("daily-0", "Completed", 30, "");
        assert!(failing(&run(ID, "maxAge: 2d", &y)).is_empty());
        assert_eq!(failing(&run(ID, "maxAge: 1h30m", &y)), ["Cluster/backups"]);
    }

    #[test]
    fn per_schedule() {
        let y = schedule("daily")
            + &schedule("hourly")
            + &backup("daily-1", "Completed", 2, "daily")
            + &backup("hourly-1", "Completed", 30, "hourly");
        // Cluster-wide, the daily backup is recent enough.
        assert!(failing(&run(ID, "", &y)).is_empty());
        let o = run(ID, "perSchedule: true", &y);
        assert_eq!(failing(&o), ["Schedule/velero/hourly"]);
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn bad_durations_are_refused() {
        let c = catalog().get(ID).expect("registered");
        let err = c
            .validate(Some(&json!({"maxAge": "25 hours"})))
            .expect_err("bad duration refused");
        assert!(err.0.contains("params.maxAge"), "{err}");
        assert!(c.validate(Some(&json!({"maxAge": "0h"}))).is_err());
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(c.validate(Some(&json!({"maxAge": "36h"}))).is_ok());
        assert_eq!(c.default_params()["maxAge"], json!("25h"));
    }

    #[test]
    fn scope_does_not_hide_velero_objects() {
        // Velero's own namespace being out of scope must not make backups disappear.
        let y = backup("daily-1", "Completed", 2, "daily");
        let scope = ScopeFilter::all().excluding(["velero"]);
        assert!(failing(&run_scoped(ID, "", &y, &scope)).is_empty());
    }
}
