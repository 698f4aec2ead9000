//! `logging.audit-log`: the API server writes an audit log (policy plus a log or webhook
//! backend).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::encryption::control_plane::{api_servers, not_observable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct AuditLog;

const ID: &str = "logging.audit-log";
const POLICY_FLAG: &str = "audit-policy-file";
const BACKEND_FLAGS: [&str; 2] = ["audit-log-path", "audit-webhook-config-file"];

/// Parameters of `logging.audit-log` (none yet; unknown keys are refused).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditLogParams {}

impl Check for AuditLog {
    type Params = AuditLogParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: ID,
            title: "The API server writes an audit log",
            description: "Each kube-apiserver static pod in kube-system fails without \
                --audit-policy-file or without a backend (--audit-log-path or \
                --audit-webhook-config-file). When no API server pod is visible (managed control \
                plane) the check fails on Cluster/control-plane until an attestation covers it. \
                The control's namespace scope does not apply.",
            criteria: &["CC7.1", "CC7.2"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Pod])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, _params: &AuditLogParams) -> Outcome {
        let servers = api_servers(ctx.snapshot);
        if servers.is_empty() {
            return Outcome::evaluated(1, vec![not_observable(ID, "API server audit logging")]);
        }
        let mut findings = Vec::new();
        for s in &servers {
            let mut missing = Vec::new();
            if s.flag(POLICY_FLAG).is_none() {
                missing.push(format!(
                    "no --{POLICY_FLAG} (without a policy no events are recorded)"
                ));
            }
            if BACKEND_FLAGS.iter().all(|f| s.flag(f).is_none()) {
                missing.push(format!(
                    "no backend (--{} or --{})",
                    BACKEND_FLAGS[0], BACKEND_FLAGS[1]
                ));
            }
            if missing.is_empty() {
                continue;
            }
            findings.push(Finding::new(
                s.resource(),
                format!(
                    "kube-apiserver pod `{}` does not write an audit log: {}; pass \
                     --{POLICY_FLAG} with an audit Policy and --{} (or --{}) so API activity is \
                     recorded",
                    s.name(),
                    missing.join(" and "),
                    BACKEND_FLAGS[0],
                    BACKEND_FLAGS[1]
                ),
            ));
        }
        Outcome::evaluated(servers.len(), findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    use super::ID;

    fn apiserver(name: &str, args: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system}}\n\
             spec: {{containers: [{{name: kube-apiserver, image: k, command: [kube-apiserver], args: {args}}}]}}\n---\n"
        )
    }

    #[test]
    fn audited_api_servers_pass() {
        let yaml = [
            apiserver(
                "kube-apiserver-cp1",
                "[--audit-policy-file=/etc/kubernetes/audit.yaml, --audit-log-path=/var/log/audit.log]",
            ),
            apiserver(
                "kube-apiserver-cp2",
                "[--audit-policy-file, /etc/kubernetes/audit.yaml, --audit-webhook-config-file, /etc/kubernetes/webhook.yaml]",
            ),
            apiserver(
                "kube-apiserver-cp3",
                "[--audit-policy-file=/etc/audit.yaml, --audit-log-path=-]",
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(3, vec![]));
    }

    #[test]
    fn missing_policy_or_backend_fails() {
        let yaml = [
            apiserver(
                "kube-apiserver-nopolicy",
                "[--audit-log-path=/var/log/a.log]",
            ),
            apiserver(
                "kube-apiserver-nobackend",
                "[--audit-policy-file=/etc/a.yaml]",
            ),
            apiserver("kube-apiserver-none", "[--v=2]"),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec![
                "Pod/kube-system/kube-apiserver-nobackend",
                "Pod/kube-system/kube-apiserver-none",
                "Pod/kube-system/kube-apiserver-nopolicy",
            ]
        );
        assert_eq!(checked(&out), 3);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("no backend"));
        assert!(!findings[0].message.contains("no --audit-policy-file"));
        assert!(findings[1].message.contains("no --audit-policy-file ("));
        assert!(findings[1].message.contains("no backend"));
    }

    #[test]
    fn managed_control_plane_needs_an_attestation() {
        let out = run(
            ID,
            "",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
        );
        assert_eq!(failing(&out), vec!["Cluster/control-plane"]);
        assert_eq!(checked(&out), 1);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("check: logging.audit-log"));
    }

    #[test]
    fn scope_does_not_hide_the_control_plane() {
        let yaml = apiserver("kube-apiserver-cp1", "[]");
        let out = run_scoped(
            ID,
            "",
            &yaml,
            &ScopeFilter::all().excluding(["kube-system"]),
        );
        assert_eq!(failing(&out), vec!["Pod/kube-system/kube-apiserver-cp1"]);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
