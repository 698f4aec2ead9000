//! Checks of the `network` domain: default-deny ingress per namespace, pods no ingress policy
//! selects, and Services exposed outside the cluster.
//!
//! This module owns NetworkPolicy and Service reasoning. It does not create policies (the
//! enforcement controller remediates `network.default-deny` findings).

mod default_deny;
mod exposure;
mod pods_isolated;

use k8s_openapi::api::networking::v1::NetworkPolicySpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(default_deny::DefaultDeny);
    catalog.add(pods_isolated::PodsIsolated);
    catalog.add(exposure::RestrictedExposure);
}

/// Whether a label selector selects everything (`{}` or absent).
fn selects_all(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    })
}

/// Whether a policy governs ingress. Kubernetes rule: when `policyTypes` is absent, `Ingress`
/// is always implied (and `Egress` only when egress rules exist).
fn governs_ingress(spec: &NetworkPolicySpec) -> bool {
    spec.policy_types
        .as_ref()
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> NetworkPolicySpec {
        serde_saphyr::from_str(yaml).expect("spec parses")
    }

    #[test]
    fn policy_types_absent_implies_ingress() {
        assert!(governs_ingress(&spec("podSelector: {}")));
        assert!(governs_ingress(&spec("podSelector: {}\negress: [{}]")));
        assert!(!governs_ingress(&spec(
            "podSelector: {}\npolicyTypes: [Egress]"
        )));
        assert!(governs_ingress(&spec(
            "podSelector: {}\npolicyTypes: [Egress, Ingress]"
        )));
    }

    #[test]
    fn empty_selectors_select_all() {
        assert!(selects_all(None));
        assert!(selects_all(Some(&LabelSelector::default())));
        let s: LabelSelector = serde_saphyr::from_str("matchLabels: {app: web}").expect("parses");
        assert!(!selects_all(Some(&s)));
    }

    #[test]
    fn every_network_check_is_registered() {
        for id in [
            "network.default-deny",
            "network.pods-isolated",
            "network.restricted-exposure",
        ] {
            assert!(super::super::catalog().get(id).is_some(), "{id}");
        }
    }
}
