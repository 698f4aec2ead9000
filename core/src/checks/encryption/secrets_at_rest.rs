//! `encryption.secrets-at-rest`: the API server encrypts Secrets in etcd.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::control_plane::{api_servers, not_observable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// The check.
pub(super) struct SecretsAtRest;

const ID: &str = "encryption.secrets-at-rest";
const FLAG: &str = "encryption-provider-config";

/// Parameters of `encryption.secrets-at-rest` (none yet; unknown keys are refused).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsAtRestParams {}

impl Check for SecretsAtRest {
    type Params = SecretsAtRestParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: ID,
            title: "Secrets are encrypted at rest",
            description: "Each kube-apiserver static pod in kube-system fails without \
                --encryption-provider-config. When no API server pod is visible (managed control \
                plane) the check fails on Cluster/control-plane until an attestation covers it. \
                The control's namespace scope does not apply.",
            criteria: &["CC6.7"],
            severity: Severity::Critical,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Pod])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, _params: &SecretsAtRestParams) -> Outcome {
        let servers = api_servers(ctx.snapshot);
        if servers.is_empty() {
            return Outcome::evaluated(
                1,
                vec![not_observable(ID, "encryption of Secrets in etcd")],
            );
        }
        let findings = servers
            .iter()
            .filter(|s| s.flag(FLAG).is_none())
            .map(|s| {
                Finding::new(
                    s.resource(),
                    format!(
                        "kube-apiserver pod `{}` runs without --{FLAG}, so Secrets are stored \
                         unencrypted in etcd; pass --{FLAG} pointing to an EncryptionConfiguration \
                         with a kms, aescbc, aesgcm or secretbox provider for secrets",
                        s.name()
                    ),
                )
            })
            .collect();
        Outcome::evaluated(servers.len(), findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    use super::ID;

    fn apiserver(name: &str, command: &str, args: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system, labels: {{component: kube-apiserver, tier: control-plane}}}}\n\
             spec: {{containers: [{{name: kube-apiserver, image: registry.k8s.io/kube-apiserver:v1.37.0, command: {command}, args: {args}}}]}}\n---\n"
        )
    }

    #[test]
    fn configured_api_servers_pass() {
        let yaml = [
            apiserver(
                "kube-apiserver-cp1",
                "[kube-apiserver, --encryption-provider-config=/etc/kubernetes/enc/config.yaml]",
                "[]",
            ),
            apiserver(
                "kube-apiserver-cp2",
                "[kube-apiserver]",
                "[--encryption-provider-config, /etc/kubernetes/enc/config.yaml]",
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn api_server_without_flag_fails() {
        let yaml = [
            apiserver(
                "kube-apiserver-cp1",
                "[kube-apiserver, --encryption-provider-config=/etc/enc.yaml]",
                "[]",
            ),
            apiserver(
                "kube-apiserver-cp2",
                "[kube-apiserver, --encryption-provider-config=]",
                "[--etcd-servers=https://127.0.0.1:2379]",
            ),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Pod/kube-system/kube-apiserver-cp2"]);
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn managed_control_plane_needs_an_attestation() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n";
        let out = run(ID, "", yaml);
        assert_eq!(failing(&out), vec!["Cluster/control-plane"]);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("attestations"));
    }

    #[test]
    fn attestation_satisfies_the_managed_control_plane_finding() {
        let control: crate::crd::Soc2Control = serde_json::from_value(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1",
            "kind": "Soc2Control",
            "metadata": {"name": "etcd-encryption"},
            "spec": {
                "controlId": "CC6.7-1",
                "criteria": "Security",
                "title": "Secrets encrypted at rest",
                "checks": [{"check": ID}],
                "attestations": [{
                    "check": ID,
                    "statement": "EKS encrypts Secrets with KMS key alias/eks-prod",
                    "attestedBy": "secops@example.com",
                    "expires": "2027-01-01"
                }]
            }
        }))
        .expect("control parses");
        let snap = crate::checks::testing::snapshot(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
        );
        let result =
            crate::engine::evaluate_control(&control, &snap, crate::checks::testing::now());
        assert_eq!(result.checks[0].status, crate::engine::Status::Attested);
        assert!(result.compliant());
    }

    #[test]
    fn scope_does_not_hide_the_control_plane() {
        let yaml = apiserver("kube-apiserver-cp1", "[kube-apiserver]", "[]");
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
        assert!(check.validate(Some(&json!({}))).is_ok());
    }
}
