//! Checks of the `network` domain: default-deny ingress per namespace, pods no ingress policy
//! selects, and Services exposed outside the cluster.
//!
//! This module owns NetworkPolicy and Service reasoning, including the Cilium and Calico policy
//! kinds that isolate pods where those CNIs are installed ([`cni`]). It does not create policies (the
//! enforcement controller remediates `network.default-deny` findings).

mod calico_selector;
mod cni;
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

    /// 100k pods in 1,000 namespaces plus policies (half of the namespaces isolated by Cilium
    /// and Calico policies instead of a NetworkPolicy), Services, Ingresses and volumes: every
    /// check of this worktree's domains must stay linear. Run with `--ignored` (and
    /// `--release` for real numbers); it prints the time per check.
    #[test]
    #[ignore = "large; run explicitly"]
    fn large_snapshot_stays_linear() {
        use std::sync::Arc;

        use serde_json::json;

        use crate::checks::{Ctx, ScopeFilter, catalog};
        use crate::snapshot::{ClusterSnapshot, DynKind, Objects};

        fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
            Arc::new(serde_json::from_value(v).expect("valid object"))
        }
        let mut o = Objects::default();
        for n in 0..1_000 {
            let ns = format!("ns-{n}");
            o.namespaces.push(obj(json!({"metadata": {"name": ns}})));
            if n % 2 == 0 {
                o.network_policies
                    .push(obj(json!({"metadata": {"name": "deny", "namespace": ns},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})));
            } else {
                // Half the namespaces rely on Cilium and Calico policies instead.
                o.dynamic
                    .get_mut(DynKind::CiliumNetworkPolicy)
                    .get_or_insert_default()
                    .push(obj(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                        "metadata": {"name": "web", "namespace": ns},
                        "spec": {"endpointSelector": {"matchLabels": {"app": "app-1"}}, "ingress": [{}]}})));
                o.dynamic
                    .get_mut(DynKind::CalicoNetworkPolicy)
                    .get_or_insert_default()
                    .push(obj(json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "jobs", "namespace": ns},
                        "spec": {"selector": "app in {'app-2', 'app-3'} && !has(debug)", "types": ["Ingress"]}})));
            }
            for p in 0..2 {
                o.network_policies.push(obj(json!({"metadata": {"name": format!("np-{p}"), "namespace": ns},
                    "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": [format!("app-{p}")]}]}}})));
            }
            for p in 0..100 {
                o.pods.push(obj(json!({"metadata": {"name": format!("pod-{p}"), "namespace": ns, "labels": {"app": format!("app-{}", p % 7)}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}})));
            }
            for s in 0..10 {
                o.services.push(obj(
                    json!({"metadata": {"name": format!("svc-{s}"), "namespace": ns},
                    "spec": {"type": if s == 0 { "LoadBalancer" } else { "ClusterIP" }}}),
                ));
            }
            for i in 0..5 {
                o.ingresses.push(obj(json!({"metadata": {"name": format!("ing-{i}"), "namespace": ns},
                    "spec": {"tls": [{"hosts": [format!("*.{ns}.example.com")]}],
                             "rules": [{"host": format!("h{i}.{ns}.example.com")}, {"host": format!("x.h{i}.{ns}.example.com")}]}})));
            }
            for v in 0..5 {
                o.persistent_volumes.push(obj(json!({"metadata": {"name": format!("pv-{n}-{v}")},
                    "spec": {"storageClassName": "gp3", "claimRef": {"namespace": ns, "name": format!("d{v}")}}})));
            }
        }
        o.dynamic
            .get_mut(DynKind::CiliumClusterwideNetworkPolicy)
            .get_or_insert_default()
            .push(obj(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": "odd"},
                "spec": {"endpointSelector": {"matchExpressions": [{"key": "io.kubernetes.pod.namespace", "operator": "In",
                    "values": (0..1_000).filter(|n| n % 4 == 1).map(|n| format!("ns-{n}")).collect::<Vec<_>>()}]},
                    "ingress": [{"fromEntities": ["cluster"]}]}})));
        o.dynamic
            .get_mut(DynKind::CalicoGlobalNetworkPolicy)
            .get_or_insert_default()
            .push(obj(json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy",
                "metadata": {"name": "app-4"}, "spec": {"selector": "app == 'app-4'", "types": ["Ingress"]}})));
        o.storage_classes.push(obj(json!({"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com", "parameters": {"encrypted": "true"}})));
        let snapshot = ClusterSnapshot::new(o);
        assert!(snapshot.len() > 100_000);
        let scope = ScopeFilter::all().excluding(["ns-0"]);
        let ctx = Ctx {
            snapshot: &snapshot,
            scope: &scope,
            now: crate::checks::testing::now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        for id in [
            "network.default-deny",
            "network.pods-isolated",
            "network.restricted-exposure",
            "tls.ingress",
            "encryption.secrets-at-rest",
            "encryption.volumes",
            "logging.audit-log",
        ] {
            let started = std::time::Instant::now();
            let out = catalog()
                .get(id)
                .expect("registered")
                .run(&ctx, None)
                .expect("runs");
            let crate::checks::Outcome::Evaluated { checked, findings } = out else {
                panic!("{id} not applicable")
            };
            println!(
                "{id}: {checked} checked, {} findings, {:?}",
                findings.len(),
                started.elapsed()
            );
        }
    }
}
