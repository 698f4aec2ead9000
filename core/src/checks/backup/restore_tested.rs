//! `backup.restore-tested`: a Velero restore (a disaster-recovery test) completed recently.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{VELERO_ABSENT, completed_at, cutoff, display_name};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

super::duration_param!(Period, "period");

/// Fails (on `Cluster/restores`, `checked` = 1) when no Velero Restore in phase `Completed`
/// has a `status.completionTimestamp` within `period` before the evaluation time.
pub struct RestoreTested;

/// Parameters of `backup.restore-tested`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// How often restores must be tested, as `90s`, `15m`, `1h30m` or `30d`. Default `90d`.
    pub period: Period,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            period: Period::try_from("90d".to_string()).expect("valid default"),
        }
    }
}

impl Check for RestoreTested {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "backup.restore-tested",
            title: "Restores from backup are tested",
            description: "Fails when no Velero Restore has completed within the period.",
            criteria: &["A1.2"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::VeleroRestore]).and_clock()
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let Some(restores) = ctx.snapshot.velero_restores.as_ref() else {
            return Outcome::not_applicable(VELERO_ABSENT);
        };
        let since = cutoff(ctx.now, params.period.duration());
        let newest = restores
            .iter()
            .filter_map(|r| completed_at(r).map(|t| (t, r)))
            .max_by_key(|(t, _)| *t);
        let findings = match newest {
            Some((t, _)) if t >= since => Vec::new(),
            _ => {
                let last = match newest {
                    Some((t, r)) => {
                        format!("the latest is `{}`, completed at {t}", display_name(r))
                    }
                    None => "none has completed".to_string(),
                };
                vec![Finding::new(
                    ResourceRef::new("Cluster", None, "restores"),
                    format!(
                        "no Velero Restore completed within {} ({last}); run a restore test \
                         (e.g. into a scratch namespace) and keep its Restore object as evidence",
                        params.period.as_str()
                    ),
                )]
            }
        };
        Outcome::evaluated(1, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{VELERO_SERVED, finished};
    use crate::checks::testing::{checked, failing, now, run};
    use crate::checks::{Outcome, catalog};

    const ID: &str = "backup.restore-tested";

    fn restore(name: &str, phase: &str, days_ago: i64) -> String {
        let t = now() - jiff::SignedDuration::from_hours(24 * days_ago);
        finished("Restore", name, phase, &t.to_string(), "")
    }

    #[test]
    fn not_applicable_without_velero() {
        assert!(matches!(run(ID, "", ""), Outcome::NotApplicable { .. }));
    }

    #[test]
    fn recent_restore_passes() {
        let o = run(ID, "", &restore("dr-test", "Completed", 30));
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn old_failed_or_missing_restores_fail() {
        let y = restore("dr-old", "Completed", 120) + &restore("dr-new", "Failed", 1);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Cluster/restores"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert!(findings[0].message.contains("velero/dr-old"));
        assert_eq!(failing(&run(ID, "", VELERO_SERVED)), ["Cluster/restores"]);
    }

    #[test]
    fn period_param() {
        let y = restore("dr", "Completed", 120);
        assert!(failing(&run(ID, "period: 180d", &y)).is_empty());
        let c = catalog().get(ID).expect("registered");
        let err = c
            .validate(Some(&json!({"period": "3 months"})))
            .expect_err("refused");
        assert!(err.0.contains("params.period"), "{err}");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
