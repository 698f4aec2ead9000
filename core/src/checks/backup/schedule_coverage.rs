//! `backup.schedule-coverage`: every in-scope namespace is in some active Velero Schedule.

use std::collections::HashMap;

use kube::core::DynamicObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{VELERO_ABSENT, display_name};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// Flags in-scope namespaces that no active Velero Schedule backs up.
///
/// A Schedule covers a namespace when its `spec.template.includedNamespaces` is absent or empty
/// (Velero then backs up every namespace), contains `*`, or contains a pattern matching the
/// namespace (`*` wildcards are supported), and `spec.template.excludedNamespaces` does not
/// match it. Schedules with `spec.paused: true` or in phase `FailedValidation` do not count.
pub struct ScheduleCoverage;

/// Parameters of `backup.schedule-coverage`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Namespaces that need no backup (e.g. ephemeral CI namespaces). Default empty.
    pub ignore_namespaces: Vec<String>,
}

#[allow(clippy::derivable_impls)] // Written out so the defaults are documented in one place.
impl Default for Params {
    fn default() -> Self {
        Self {
            ignore_namespaces: Vec::new(),
        }
    }
}

/// `*`-wildcard match (`*` matches any run of characters, including none).
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The namespace patterns of an active schedule: (included, excluded). `None` when the
/// schedule does not count.
struct ActiveSchedule {
    name: String,
    included: Vec<String>,
    excluded: Vec<String>,
}

impl ActiveSchedule {
    fn from(obj: &DynamicObject) -> Option<Self> {
        let spec = obj.data.get("spec")?;
        if spec.get("paused").and_then(Value::as_bool) == Some(true)
            || super::phase(obj) == Some("FailedValidation")
        {
            return None;
        }
        let list = |field: &str| -> Vec<String> {
            spec.pointer(&format!("/template/{field}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        Some(Self {
            name: display_name(obj),
            included: list("includedNamespaces"),
            excluded: list("excludedNamespaces"),
        })
    }

    fn covers(&self, ns: &str) -> bool {
        (self.included.is_empty() || self.included.iter().any(|p| glob_match(p, ns)))
            && !self.excluded.iter().any(|p| glob_match(p, ns))
    }
}

impl Check for ScheduleCoverage {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "backup.schedule-coverage",
            title: "Every namespace is covered by a Velero backup schedule",
            description: "A namespace fails when no active (unpaused, valid) Velero Schedule \
                          includes it.",
            criteria: &["A1.2"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::VeleroSchedule,
            crate::snapshot::KindId::Namespace,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let Some(schedules) = ctx.snapshot.velero_schedules.as_ref() else {
            return Outcome::not_applicable(VELERO_ABSENT);
        };
        let active: Vec<ActiveSchedule> = schedules
            .iter()
            .filter_map(|s| ActiveSchedule::from(s))
            .collect();
        // Schedules that list namespaces literally are looked up by name; only the ones with
        // patterns or an empty include list are tried one by one. Keeps large fleets linear.
        let mut by_name: HashMap<&str, Vec<&ActiveSchedule>> = HashMap::new();
        let mut broad: Vec<&ActiveSchedule> = Vec::new();
        for s in &active {
            if s.included.is_empty() || s.included.iter().any(|p| p.contains('*')) {
                broad.push(s);
            } else {
                for ns in &s.included {
                    by_name.entry(ns.as_str()).or_default().push(s);
                }
            }
        }
        let mut checked = 0;
        let mut findings = Vec::new();
        for ns in ctx.namespaces() {
            let name = ns.metadata.name.as_deref().unwrap_or("");
            if params.ignore_namespaces.iter().any(|i| i == name) {
                continue;
            }
            checked += 1;
            let literal = by_name.get(name).into_iter().flatten();
            if literal.chain(broad.iter()).any(|s| s.covers(name)) {
                continue;
            }
            let message = if active.is_empty() {
                "no active Velero Schedule exists; create a Schedule whose \
                 spec.template.includedNamespaces includes this namespace"
                    .to_string()
            } else {
                const SHOWN: usize = 5;
                let mut names: Vec<&str> =
                    active.iter().take(SHOWN).map(|s| s.name.as_str()).collect();
                let more = format!("and {} more", active.len().saturating_sub(SHOWN));
                if active.len() > SHOWN {
                    names.push(&more);
                }
                format!(
                    "no active Velero Schedule includes this namespace (active: {}); add it to \
                     a Schedule's spec.template.includedNamespaces or remove it from \
                     excludedNamespaces",
                    names.join(", ")
                )
            };
            findings.push(Finding::new(ResourceRef::of(ns), message));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::glob_match;
    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "backup.schedule-coverage";

    const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: app-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: app-b}
---
apiVersion: v1
kind: Namespace
metadata: {name: scratch}
---
"#;

    fn schedule(name: &str, template: &str, paused: bool) -> String {
        format!(
            r#"
apiVersion: velero.io/v1
kind: Schedule
metadata: {{name: {name}, namespace: velero}}
spec:
  schedule: "0 2 * * *"
  paused: {paused}
  template: {template}
---
"#
        )
    }

    #[test]
    fn not_applicable_without_velero() {
        let o = run(ID, "", NAMESPACES);
        assert_eq!(
            o,
            Outcome::not_applicable("Velero API (velero.io/v1) is not served by this cluster")
        );
    }

    #[test]
    fn covered_namespaces_pass() {
        let y = NAMESPACES.to_string()
            + &schedule("apps", "{includedNamespaces: [app-a, app-b]}", false)
            + &schedule(
                "rest",
                "{includedNamespaces: ['*'], excludedNamespaces: [app-*]}",
                false,
            );
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 3);
        // No includedNamespaces means every namespace.
        let y = NAMESPACES.to_string() + &schedule("all", "{ttl: 720h}", false);
        assert!(failing(&run(ID, "", &y)).is_empty());
    }

    #[test]
    fn uncovered_excluded_and_paused_fail() {
        let y = NAMESPACES.to_string()
            + &schedule(
                "apps",
                "{includedNamespaces: [app-*], excludedNamespaces: [app-b]}",
                false,
            )
            + &schedule("paused", "{includedNamespaces: ['*']}", true);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Namespace/app-b", "Namespace/scratch"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert!(
            findings[0].message.contains("velero/apps"),
            "{}",
            findings[0].message
        );
        assert!(!findings[0].message.contains("velero/paused"));
    }

    #[test]
    fn served_but_empty_fails_everything() {
        let y = NAMESPACES.to_string() + super::super::test_support::VELERO_SERVED;
        let o = run(ID, "", &y);
        assert_eq!(checked(&o), 3);
        assert_eq!(failing(&o).len(), 3);
    }

    #[test]
    fn ignore_namespaces_param() {
        let y = NAMESPACES.to_string()
            + &schedule("apps", "{includedNamespaces: [app-a, app-b]}", false);
        assert_eq!(failing(&run(ID, "", &y)), ["Namespace/scratch"]);
        let o = run(ID, "ignoreNamespaces: [scratch]", &y);
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 2);
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }

    #[test]
    fn scope_is_respected() {
        let y = NAMESPACES.to_string() + &schedule("apps", "{includedNamespaces: [app-a]}", false);
        let o = run_scoped(
            ID,
            "",
            &y,
            &ScopeFilter::all().excluding(["app-b", "scratch"]),
        );
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "x"));
        assert!(glob_match("app-*", "app-a"));
        assert!(glob_match("*-a", "app-a"));
        assert!(glob_match("a*p*a", "app-a"));
        assert!(!glob_match("app-*", "ap"));
        assert!(!glob_match("app", "app-a"));
        assert!(glob_match("app", "app"));
        assert!(!glob_match("a*a", "a"));
    }
}
