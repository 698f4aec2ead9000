//! `network.restricted-exposure`: Services reachable from outside the cluster (LoadBalancer,
//! NodePort, externalIPs) only where allowlisted.

use std::collections::BTreeMap;

use crate::snapshot::kinds::Service;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct RestrictedExposure;

/// Parameters of `network.restricted-exposure`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RestrictedExposureParams {
    /// Services allowed to be exposed, as `namespace/name`. Default: none.
    pub allowed_services: Vec<String>,
    /// Allow every `type: LoadBalancer` Service. Default: false.
    pub allow_load_balancer: bool,
    /// Allow every `type: NodePort` Service. Default: false.
    pub allow_node_port: bool,
    /// Annotations (key: value, value compared case-insensitively) that mark a LoadBalancer
    /// as internal, which is then allowed. Default: the AWS
    /// (`service.beta.kubernetes.io/aws-load-balancer-internal: "true"`,
    /// `service.beta.kubernetes.io/aws-load-balancer-scheme: internal`), GCP
    /// (`networking.gke.io/load-balancer-type: Internal`,
    /// `cloud.google.com/load-balancer-type: Internal`) and Azure
    /// (`service.beta.kubernetes.io/azure-load-balancer-internal: "true"`) internal-LB
    /// annotations.
    pub allowed_annotations: BTreeMap<String, String>,
}

impl Default for RestrictedExposureParams {
    fn default() -> Self {
        Self {
            allowed_services: Vec::new(),
            allow_load_balancer: false,
            allow_node_port: false,
            allowed_annotations: [
                (
                    "service.beta.kubernetes.io/aws-load-balancer-internal",
                    "true",
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-scheme",
                    "internal",
                ),
                ("networking.gke.io/load-balancer-type", "Internal"),
                ("cloud.google.com/load-balancer-type", "Internal"),
                (
                    "service.beta.kubernetes.io/azure-load-balancer-internal",
                    "true",
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }
}

impl RestrictedExposureParams {
    fn internal_lb(&self, svc: &Service) -> bool {
        let Some(annotations) = svc.metadata.annotations.as_ref() else {
            return false;
        };
        self.allowed_annotations.iter().any(|(k, v)| {
            annotations
                .get(k)
                .is_some_and(|a| a.eq_ignore_ascii_case(v))
        })
    }
}

/// What exposes a Service outside the cluster, after the allow parameters.
fn exposure(svc: &Service, params: &RestrictedExposureParams) -> Vec<String> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let node_ports = || {
        let ports: Vec<String> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.node_port.map(|n| n.to_string()))
            .collect();
        if ports.is_empty() {
            String::new()
        } else {
            format!(" ({})", ports.join(", "))
        }
    };
    match spec.type_.as_deref() {
        Some("LoadBalancer") if !params.allow_load_balancer && !params.internal_lb(svc) => {
            problems.push("type LoadBalancer exposes it through an external load balancer".into());
        }
        Some("NodePort") if !params.allow_node_port => {
            problems.push(format!(
                "type NodePort opens port(s){} on every node",
                node_ports()
            ));
        }
        _ => {}
    }
    if let Some(ips) = spec.external_ips.as_ref().filter(|ips| !ips.is_empty()) {
        problems.push(format!(
            "externalIPs [{}] route traffic to it",
            ips.join(", ")
        ));
    }
    problems
}

impl Check for RestrictedExposure {
    type Params = RestrictedExposureParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "network.restricted-exposure",
            title: "Services are exposed outside the cluster only where allowed",
            description: "A Service of type LoadBalancer or NodePort, or with externalIPs, fails \
                unless it is allowlisted, its type is allowed, or (LoadBalancer) it carries an \
                internal load-balancer annotation.",
            criteria: &["CC6.1", "CC6.6"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Service])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &RestrictedExposureParams) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for chunk in ctx
            .snapshot
            .services
            .chunk_by(|a, b| a.metadata.namespace == b.metadata.namespace)
        {
            let ns = chunk
                .first()
                .and_then(|s| s.metadata.namespace.as_deref())
                .unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            for svc in chunk {
                checked += 1;
                let name = svc.metadata.name.as_deref().unwrap_or("");
                let key = format!("{ns}/{name}");
                if params.allowed_services.contains(&key) {
                    continue;
                }
                let problems = exposure(svc, params);
                if problems.is_empty() {
                    continue;
                }
                findings.push(Finding::new(
                    ResourceRef::new("Service", Some(ns), name),
                    format!(
                        "Service `{key}` is reachable from outside the cluster: {}; use type \
                         ClusterIP behind an Ingress or gateway, mark the load balancer internal, \
                         or add `{key}` to params.allowedServices",
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
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "network.restricted-exposure";

    fn svc(ns: &str, name: &str, annotations: &str, spec: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}, annotations: {annotations}}}\nspec: {spec}\n---\n"
        )
    }

    fn exposed() -> String {
        [
            svc("a", "cip", "{}", "{type: ClusterIP, ports: [{port: 80}]}"),
            svc(
                "a",
                "lb",
                "{}",
                "{type: LoadBalancer, ports: [{port: 443}]}",
            ),
            svc(
                "a",
                "np",
                "{}",
                "{type: NodePort, ports: [{port: 80, nodePort: 30080}]}",
            ),
            svc(
                "b",
                "ext",
                "{}",
                "{type: ClusterIP, externalIPs: [203.0.113.7], ports: [{port: 80}]}",
            ),
            svc(
                "b",
                "internal",
                "{service.beta.kubernetes.io/aws-load-balancer-internal: \"true\"}",
                "{type: LoadBalancer, ports: [{port: 443}]}",
            ),
            svc(
                "b",
                "gke",
                "{networking.gke.io/load-balancer-type: Internal}",
                "{type: LoadBalancer, ports: [{port: 443}]}",
            ),
        ]
        .concat()
    }

    #[test]
    fn cluster_ip_and_internal_lbs_pass() {
        let yaml = [
            svc("a", "cip", "{}", "{ports: [{port: 80}]}"),
            svc(
                "a",
                "azure",
                "{service.beta.kubernetes.io/azure-load-balancer-internal: \"true\"}",
                "{type: LoadBalancer}",
            ),
            svc("a", "headless", "{}", "{clusterIP: None}"),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(3, vec![]));
    }

    #[test]
    fn exposed_services_fail() {
        let out = run(ID, "", &exposed());
        assert_eq!(
            failing(&out),
            vec!["Service/a/lb", "Service/a/np", "Service/b/ext"]
        );
        assert_eq!(checked(&out), 6);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert!(findings[1].message.contains("30080"));
        assert!(findings[2].message.contains("203.0.113.7"));
        assert!(findings[0].message.contains("params.allowedServices"));
    }

    #[test]
    fn allowed_services_param() {
        let out = run(ID, "allowedServices: [a/lb, b/ext]", &exposed());
        assert_eq!(failing(&out), vec!["Service/a/np"]);
    }

    #[test]
    fn allow_type_params() {
        let out = run(ID, "allowLoadBalancer: true", &exposed());
        assert_eq!(failing(&out), vec!["Service/a/np", "Service/b/ext"]);
        let out = run(ID, "allowNodePort: true", &exposed());
        assert_eq!(failing(&out), vec!["Service/a/lb", "Service/b/ext"]);
    }

    #[test]
    fn allowed_annotations_param_replaces_defaults() {
        let out = run(ID, "allowedAnnotations: {}", &exposed());
        assert_eq!(
            failing(&out),
            vec![
                "Service/a/lb",
                "Service/a/np",
                "Service/b/ext",
                "Service/b/gke",
                "Service/b/internal"
            ]
        );
        let yaml = svc("a", "lb", "{corp/lb: private}", "{type: LoadBalancer}");
        assert!(failing(&run(ID, "allowedAnnotations: {corp/lb: private}", &yaml)).is_empty());
    }

    #[test]
    fn internal_annotation_does_not_allow_external_ips() {
        let yaml = svc(
            "a",
            "lb",
            "{service.beta.kubernetes.io/aws-load-balancer-internal: \"true\"}",
            "{type: LoadBalancer, externalIPs: [198.51.100.1]}",
        );
        assert_eq!(failing(&run(ID, "", &yaml)), vec!["Service/a/lb"]);
    }

    #[test]
    fn scope_excludes_namespaces() {
        let out = run_scoped(ID, "", &exposed(), &ScopeFilter::all().excluding(["a"]));
        assert_eq!(failing(&out), vec!["Service/b/ext"]);
        assert_eq!(checked(&out), 3);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(&json!({"allowNodePort": true})))
                .is_ok()
        );
    }
}
