//! `data.classification`: every namespace says how sensitive its data is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The default classification label key.
pub const DEFAULT_LABEL_KEY: &str = "data.soc2.evidence.dev/classification";

/// Flags in-scope namespaces without the classification label, or with a value outside the
/// allowed list.
pub struct Classification;

/// Parameters of `data.classification`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// The namespace label that holds the classification. Default
    /// `data.soc2.evidence.dev/classification`.
    pub label_key: String,
    /// Values the label may have. Default `["public", "internal", "confidential",
    /// "restricted"]`.
    pub allowed_values: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            label_key: DEFAULT_LABEL_KEY.to_string(),
            allowed_values: ["public", "internal", "confidential", "restricted"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Check for Classification {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "data.classification",
            title: "Namespaces carry a data-classification label",
            description: "A namespace fails when its data-classification label is missing or \
                          not one of the allowed values.",
            criteria: &["C1.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Namespace])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let key = &params.label_key;
        let allowed = params.allowed_values.join(", ");
        let mut checked = 0;
        let mut findings = Vec::new();
        for ns in ctx.namespaces() {
            checked += 1;
            let value = ns.metadata.labels.as_ref().and_then(|l| l.get(key));
            let message = match value {
                Some(v) if params.allowed_values.contains(v) => continue,
                Some(v) => format!(
                    "label {key} is `{v}`, not an allowed classification; set it to one of: \
                     {allowed}"
                ),
                None => format!("namespace has no {key} label; set it to one of: {allowed}"),
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

    const ID: &str = "data.classification";

    const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: billing, labels: {data.soc2.evidence.dev/classification: restricted}}
---
apiVersion: v1
kind: Namespace
metadata: {name: docs, labels: {data.soc2.evidence.dev/classification: public, tier: web}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy, labels: {data.soc2.evidence.dev/classification: secret-ish}}
---
apiVersion: v1
kind: Namespace
metadata: {name: scratch}
"#;

    #[test]
    fn unlabelled_and_unknown_values_fail() {
        let o = run(ID, "", NAMESPACES);
        assert_eq!(failing(&o), ["Namespace/legacy", "Namespace/scratch"]);
        assert_eq!(checked(&o), 4);
    }

    #[test]
    fn labelled_namespaces_pass() {
        let o = run_scoped(
            ID,
            "",
            NAMESPACES,
            &ScopeFilter::all().excluding(["legacy", "scratch"]),
        );
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn params_change_key_and_values() {
        let o = run(ID, "{labelKey: tier, allowedValues: [web]}", NAMESPACES);
        assert_eq!(
            failing(&o),
            ["Namespace/billing", "Namespace/legacy", "Namespace/scratch"]
        );
        let o = run(
            ID,
            "allowedValues: [restricted, public, secret-ish]",
            NAMESPACES,
        );
        assert_eq!(failing(&o), ["Namespace/scratch"]);
    }

    #[test]
    fn unknown_params_are_refused() {
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
