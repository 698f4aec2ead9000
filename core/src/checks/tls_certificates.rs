//! `tls.certificates-valid` (CC6.7), over cert-manager's `Certificate` (`cert-manager.io/v1`):
//! every TLS Secret an Ingress names is issued by a Ready Certificate that does not expire
//! within `minDaysLeft`.
//!
//! A Certificate backs a Secret when it is in the Secret's namespace and its `spec.secretName`
//! is the Secret's name (ingress-shim names the Certificate after the Secret, an explicit
//! Certificate may not: only `spec.secretName` counts). Readiness is the `Ready` condition;
//! expiry is `status.notAfter`. Secrets are never read (they are not in a snapshot). Not
//! applicable when cert-manager's API is not served; when it is served but no Certificate
//! backs an Ingress's Secret, that Ingress fails.

use std::collections::HashMap;

use jiff::Timestamp;
use kube::core::DynamicObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Catalog, Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};
use crate::snapshot::DynKind;

/// Adds this module's check to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(CertificatesValid);
}

/// Why the check cannot run.
pub const CERT_MANAGER_ABSENT: &str = "cert-manager API (cert-manager.io/v1 Certificate) is not \
    served by this cluster: install cert-manager, or disable this check";

/// `tls.certificates-valid`.
struct CertificatesValid;

/// Parameters of `tls.certificates-valid`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CertificatesValidParams {
    /// A certificate expiring within this many days fails. Default: 14.
    pub min_days_left: u32,
}

impl Default for CertificatesValidParams {
    fn default() -> Self {
        Self { min_days_left: 14 }
    }
}

/// The `Ready` condition of a Certificate: (status, reason).
fn ready(cert: &DynamicObject) -> Option<(&str, &str)> {
    let conds = cert.data.pointer("/status/conditions")?.as_array()?;
    let c = conds
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    Some((
        c.get("status").and_then(Value::as_str).unwrap_or(""),
        c.get("reason").and_then(Value::as_str).unwrap_or(""),
    ))
}

/// Why a Certificate does not back its Secret well enough, or `None`.
fn problem(cert: &DynamicObject, now: Timestamp, min_days: u32) -> Option<String> {
    let name = cert.metadata.name.as_deref().unwrap_or("");
    let not_after: Option<Timestamp> = cert
        .data
        .pointer("/status/notAfter")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    if let Some(end) = not_after
        && end <= now
    {
        return Some(format!("Certificate `{name}` expired on {end}"));
    }
    match ready(cert) {
        Some(("True", _)) => {}
        Some((_, reason)) => {
            let reason = if reason.is_empty() {
                "no reason"
            } else {
                reason
            };
            return Some(format!("Certificate `{name}` is not Ready ({reason})"));
        }
        None => return Some(format!("Certificate `{name}` has no Ready condition")),
    }
    let Some(end) = not_after else {
        return Some(format!("Certificate `{name}` reports no status.notAfter"));
    };
    let left = end.duration_since(now).as_secs() / 86_400;
    (left < i64::from(min_days)).then(|| {
        format!("Certificate `{name}` expires on {end}, in {left} days (params.minDaysLeft = {min_days})")
    })
}

impl Check for CertificatesValid {
    type Params = CertificatesValidParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "tls.certificates-valid",
            title: "Ingress TLS certificates are managed, ready and not about to expire",
            description: "Fails for each Ingress in scope with a TLS Secret that no cert-manager \
                Certificate (same namespace, spec.secretName) issues, or whose Certificate is \
                expired, not Ready, or expires within params.minDaysLeft days. Not applicable \
                when the cert-manager API is not served.",
            criteria: &["CC6.7"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::CertManagerCertificate),
            crate::snapshot::KindId::Ingress,
        ])
        .and_clock()
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &CertificatesValidParams) -> Outcome {
        let Some(certs) = ctx.snapshot.dynamic.get(DynKind::CertManagerCertificate) else {
            return Outcome::not_applicable(CERT_MANAGER_ABSENT);
        };
        let mut by_secret: HashMap<(&str, &str), Vec<&DynamicObject>> = HashMap::new();
        for c in certs {
            let ns = c.metadata.namespace.as_deref().unwrap_or("");
            if let Some(secret) = c.data.pointer("/spec/secretName").and_then(Value::as_str) {
                by_secret.entry((ns, secret)).or_default().push(c);
            }
        }
        let mut checked = 0;
        let mut findings = Vec::new();
        for ing in &ctx.snapshot.ingresses {
            let ns = ing.metadata.namespace.as_deref().unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            let mut secrets: Vec<&str> = ing
                .spec
                .iter()
                .flat_map(|s| s.tls.iter().flatten())
                .filter_map(|t| t.secret_name.as_deref())
                .filter(|s| !s.is_empty())
                .collect();
            secrets.sort_unstable();
            secrets.dedup();
            if secrets.is_empty() {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            for secret in secrets {
                match by_secret.get(&(ns, secret)) {
                    None => problems.push(format!(
                        "TLS Secret `{secret}` is not issued by any cert-manager Certificate \
                         (nothing renews it)"
                    )),
                    Some(certs) => {
                        // Any one good Certificate for the Secret is enough.
                        let bad: Vec<String> = certs
                            .iter()
                            .filter_map(|c| problem(c, ctx.now, params.min_days_left))
                            .collect();
                        if bad.len() == certs.len() {
                            problems.push(format!("TLS Secret `{secret}`: {}", bad.join(", ")));
                        }
                    }
                }
            }
            if !problems.is_empty() {
                findings.push(Finding::new(
                    ResourceRef::of(ing.as_ref()),
                    format!(
                        "{}; renew or repair the Certificate (kubectl describe certificate), \
                         and issue a Secret nothing issues through a cert-manager Certificate",
                        problems.join("; ")
                    ),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::{checked, failing, run_at};
    use crate::checks::{Outcome, catalog};

    const ID: &str = "tls.certificates-valid";
    const PASS: &str = include_str!("../../tests/fixtures/ecosystem/certmanager/pass.yaml");
    const FAIL: &str = include_str!("../../tests/fixtures/ecosystem/certmanager/fail.yaml");
    const NOW: &str = "2025-06-15T12:00:00Z";

    #[test]
    fn ready_certificates_far_from_expiry_pass() {
        let out = run_at(ID, "", PASS, NOW);
        assert_eq!(out, Outcome::evaluated(2, vec![]), "{out:?}");
        // pay-acme-io expires 2025-08-18, 63 days after the fixture clock.
        let out = run_at(ID, "minDaysLeft: 70", PASS, NOW);
        assert_eq!(failing(&out), ["Ingress/payments/checkout-api"]);
        let Outcome::Evaluated { findings, .. } = &out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("in 63 days"), "{findings:?}");
    }

    #[test]
    fn expired_unready_and_unmanaged_certificates_fail() {
        let out = run_at(ID, "", FAIL, NOW);
        assert_eq!(
            failing(&out),
            [
                "Ingress/payments/checkout-api",
                "Ingress/web/legacy-admin",
                "Ingress/web/storefront"
            ]
        );
        assert_eq!(checked(&out), 3);
        let Outcome::Evaluated { findings, .. } = &out else {
            unreachable!()
        };
        assert!(findings[0].message.contains("not Ready (DoesNotExist)"));
        assert!(
            findings[1]
                .message
                .contains("not issued by any cert-manager Certificate")
        );
        assert!(
            findings[2]
                .message
                .contains("expired on 2025-06-02T10:00:00Z")
        );
    }

    #[test]
    fn unserved_api_is_not_applicable() {
        let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: a}\nspec: {tls: [{secretName: s}]}\n";
        let out = run_at(ID, "", ingress, NOW);
        assert!(
            matches!(&out, Outcome::NotApplicable { reason } if reason.contains("cert-manager.io/v1")),
            "{out:?}"
        );
        let served = format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: certificates.cert-manager.io}}\n\
             spec: {{group: cert-manager.io, names: {{kind: Certificate}}}}\n---\n{ingress}"
        );
        assert_eq!(failing(&run_at(ID, "", &served, NOW)), ["Ingress/a/i"]);
    }

    #[test]
    fn params_are_validated() {
        let check = catalog().get(ID).expect("registered");
        assert!(
            check
                .validate(Some(&serde_json::json!({"minDays": 1})))
                .is_err()
        );
        assert!(
            check
                .validate(Some(&serde_json::json!({"minDaysLeft": 30})))
                .is_ok()
        );
    }
}
