//! `availability.resources`: containers declare requests and limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::workload::{ContainerKind, containers, join_problems};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// Flags workloads with containers or init containers (ephemeral containers cannot declare
/// resources) that lack a cpu or memory request, a memory limit (`requireLimits`) or a cpu
/// limit (`requireCpuLimit`). A limit without a request counts as the request, as Kubernetes
/// copies it. One finding per workload.
pub struct Resources;

/// Parameters of `availability.resources`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Require a memory limit on every container. Default `true`.
    pub require_limits: bool,
    /// Require a cpu limit on every container as well. Default `false` (cpu limits throttle
    /// more than they protect in many clusters).
    pub require_cpu_limit: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            require_limits: true,
            require_cpu_limit: false,
        }
    }
}

impl Check for Resources {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "availability.resources",
            title: "Containers declare resource requests and limits",
            description: "A workload fails when a container has no cpu or memory request, no \
                          memory limit, or (when required) no cpu limit.",
            criteria: &["A1.1"],
            severity: Severity::Low,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !ctx.in_scope(w.namespace()) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            for c in containers(w.spec).filter(|c| c.kind != ContainerKind::Ephemeral) {
                let requests = c.resources.and_then(|r| r.requests.as_ref());
                let limits = c.resources.and_then(|r| r.limits.as_ref());
                let has_limit = |name: &str| limits.is_some_and(|l| l.contains_key(name));
                let has_request =
                    |name: &str| requests.is_some_and(|r| r.contains_key(name)) || has_limit(name);
                let mut missing = Vec::new();
                for name in ["cpu", "memory"] {
                    if !has_request(name) {
                        missing.push(format!("resources.requests.{name}"));
                    }
                }
                if params.require_limits && !has_limit("memory") {
                    missing.push("resources.limits.memory".to_string());
                }
                if params.require_cpu_limit && !has_limit("cpu") {
                    missing.push("resources.limits.cpu".to_string());
                }
                if !missing.is_empty() {
                    problems.push(format!(
                        "{} has no {}; set them",
                        c.describe(),
                        missing.join(", ")
                    ));
                }
            }
            if !problems.is_empty() {
                findings.push(Finding::new(w.resource(), join_problems(&problems)));
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

    const ID: &str = "availability.resources";

    fn pod(ns: &str, name: &str, resources: &str) -> String {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  containers:
  - name: app
    image: x:1
    resources: {resources}
  ephemeralContainers: [{{name: debug, image: busybox:1}}]
---"#
        )
    }

    const FULL: &str = "{requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}";

    #[test]
    fn declared_resources_pass() {
        let y = pod("a", "full", FULL)
            // Limits alone: Kubernetes copies them into the requests.
            + &pod("a", "limits-only", "{limits: {cpu: 1, memory: 1Gi}}");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn missing_requests_or_limits_fail() {
        let y = pod("a", "none", "{}")
            + &pod("a", "no-limit", "{requests: {cpu: 100m, memory: 64Mi}}")
            + &pod("a", "ok", FULL);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Pod/a/no-limit", "Pod/a/none"]);
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert_eq!(
            findings[1].message,
            "container `app` has no resources.requests.cpu, resources.requests.memory, \
             resources.limits.memory; set them"
        );
    }

    #[test]
    fn init_containers_are_checked() {
        let y = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  initContainers: [{name: init, image: x:1}]
  containers:
  - {name: app, image: x:1, resources: {requests: {cpu: 1m, memory: 1Mi}, limits: {memory: 1Mi}}}
"#;
        let o = run(ID, "", y);
        assert_eq!(failing(&o), ["Pod/a/p"]);
    }

    #[test]
    fn limit_params() {
        let y =
            pod("a", "no-limit", "{requests: {cpu: 100m, memory: 64Mi}}") + &pod("a", "full", FULL);
        assert!(failing(&run(ID, "requireLimits: false", &y)).is_empty());
        let o = run(ID, "requireCpuLimit: true", &y);
        assert_eq!(failing(&o), ["Pod/a/full", "Pod/a/no-limit"]);
    }

    #[test]
    fn scope_and_unknown_params() {
        let y = pod("a", "none", "{}") + &pod("b", "ok", FULL);
        let o = run_scoped(ID, "", &y, &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 1);
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
    }
}
