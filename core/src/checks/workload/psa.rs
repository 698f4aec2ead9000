//! `workload.pod-security-admission`: namespaces enforce a Pod Security Standard.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The namespace label the Pod Security Admission controller enforces.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// Flags in-scope namespaces whose `pod-security.kubernetes.io/enforce` label is missing or
/// not one of the allowed levels. Remediation sets the label to the strictest allowed level.
pub struct PodSecurityAdmission;

/// A Pod Security Standard level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Hardened pod configuration.
    Restricted,
}

impl Level {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Parameters of `workload.pod-security-admission`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Levels the enforce label may have (`privileged`, `baseline`, `restricted`). Default
    /// `["baseline", "restricted"]`.
    pub allowed_levels: Vec<Level>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            allowed_levels: vec![Level::Baseline, Level::Restricted],
        }
    }
}

impl Check for PodSecurityAdmission {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "workload.pod-security-admission",
            title: "Namespaces enforce a Pod Security Standard",
            description: "A namespace fails when its pod-security.kubernetes.io/enforce label is \
                          missing or not one of the allowed levels.",
            criteria: &["CC6.8"],
            severity: Severity::High,
            remediable: true,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Namespace])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let allowed: Vec<&str> = params.allowed_levels.iter().map(|l| l.as_str()).collect();
        let allowed_text = allowed.join(", ");
        let mut checked = 0;
        let mut findings = Vec::new();
        for ns in ctx.namespaces() {
            checked += 1;
            let value = ns
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ENFORCE_LABEL));
            let message = match value {
                Some(v) if allowed.contains(&v.as_str()) => continue,
                Some(v) => format!(
                    "label {ENFORCE_LABEL} is `{v}`, not an allowed level; set it to one of: \
                     {allowed_text}"
                ),
                None => format!(
                    "namespace has no {ENFORCE_LABEL} label; set it to one of: {allowed_text}"
                ),
            };
            findings.push(Finding::new(ResourceRef::of(ns), message));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "workload.pod-security-admission";

    const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: good, labels: {pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: v1
kind: Namespace
metadata: {name: base, labels: {pod-security.kubernetes.io/enforce: baseline}}
---
apiVersion: v1
kind: Namespace
metadata: {name: priv, labels: {pod-security.kubernetes.io/enforce: privileged}}
---
apiVersion: v1
kind: Namespace
metadata: {name: none, labels: {pod-security.kubernetes.io/warn: restricted}}
"#;

    #[test]
    fn missing_or_weak_labels_fail() {
        let o = run(ID, "", NAMESPACES);
        assert_eq!(failing(&o), ["Namespace/none", "Namespace/priv"]);
        assert_eq!(checked(&o), 4);
    }

    #[test]
    fn labelled_namespaces_pass() {
        let good = NAMESPACES
            .split("---")
            .take(2)
            .collect::<Vec<_>>()
            .join("---");
        let o = run(ID, "", &good);
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn allowed_levels_param() {
        let o = run(ID, "allowedLevels: [restricted]", NAMESPACES);
        assert_eq!(
            failing(&o),
            ["Namespace/base", "Namespace/none", "Namespace/priv"]
        );
    }

    #[test]
    fn params_are_validated() {
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            c.validate(Some(&json!({"allowedLevels": ["strict"]})))
                .is_err()
        );
        assert!(c.meta().remediable);
    }

    #[test]
    fn scope_excludes_namespaces() {
        let o = run_scoped(
            ID,
            "",
            NAMESPACES,
            &ScopeFilter::all().excluding(["priv", "none"]),
        );
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 2);
    }
}
