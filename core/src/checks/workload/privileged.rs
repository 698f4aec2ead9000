//! `workload.privileged`: pods that can take over their node.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{containers, join_problems};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// Flags privileged containers, privilege escalation, root users, added capabilities, host
/// namespaces and hostPath volumes. One finding per workload, listing every problem.
pub struct Privileged;

/// Parameters of `workload.privileged`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Require `securityContext.allowPrivilegeEscalation: false` on every container. Default
    /// `true`.
    pub require_no_privilege_escalation: bool,
    /// Require `runAsNonRoot: true` (container, or pod when the container does not set it).
    /// An explicit `runAsUser: 0` is always a finding. Default `true`.
    pub require_run_as_non_root: bool,
    /// Capabilities containers may add (with or without the `CAP_` prefix, any case).
    /// Default `["NET_BIND_SERVICE"]`.
    pub allowed_capabilities: Vec<String>,
    /// hostPath volumes allowed: a path is allowed when it equals an entry or lies under it
    /// (`/var/log` allows `/var/log/app`, not `/var/logs`). Default empty (no hostPath).
    pub allowed_host_paths: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            require_no_privilege_escalation: true,
            require_run_as_non_root: true,
            allowed_capabilities: vec!["NET_BIND_SERVICE".to_string()],
            allowed_host_paths: Vec::new(),
        }
    }
}

fn normalize_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or(upper.clone(), str::to_string)
}

fn host_path_allowed(path: &str, allowed: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    allowed.iter().any(|a| {
        let a = a.trim_end_matches('/');
        // `/` (trimmed to "") allows everything.
        a.is_empty()
            || path == a
            || path
                .strip_prefix(a)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

impl Check for Privileged {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "workload.privileged",
            title: "Workloads run without node-level privileges",
            description: "A workload fails when a container runs privileged, may escalate \
                          privileges, runs as root, adds capabilities outside the allowlist, or \
                          the pod uses the host network/PID/IPC namespaces or hostPath volumes \
                          outside the allowlist.",
            criteria: &["CC6.8"],
            severity: Severity::Critical,
            remediable: false,
            admission: true,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let allowed_caps: Vec<String> = params
            .allowed_capabilities
            .iter()
            .map(|c| normalize_capability(c))
            .collect();
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !ctx.in_scope(w.namespace()) {
                continue;
            }
            checked += 1;
            let spec = w.spec;
            let pod_sc = spec.security_context.as_ref();
            let mut problems = Vec::new();
            for c in containers(spec) {
                let sc = c.security_context;
                let who = c.describe();
                if sc.and_then(|s| s.privileged) == Some(true) {
                    problems.push(format!(
                        "{who} runs privileged; set securityContext.privileged: false"
                    ));
                }
                if params.require_no_privilege_escalation
                    && sc.and_then(|s| s.allow_privilege_escalation) != Some(false)
                {
                    problems.push(format!(
                        "{who} may escalate privileges; set \
                         securityContext.allowPrivilegeEscalation: false"
                    ));
                }
                let run_as_user = sc
                    .and_then(|s| s.run_as_user)
                    .or_else(|| pod_sc.and_then(|s| s.run_as_user));
                let run_as_non_root = sc
                    .and_then(|s| s.run_as_non_root)
                    .or_else(|| pod_sc.and_then(|s| s.run_as_non_root));
                if run_as_user == Some(0) {
                    problems.push(format!(
                        "{who} runs as root (runAsUser: 0); set runAsUser to a non-zero UID and \
                         runAsNonRoot: true"
                    ));
                } else if params.require_run_as_non_root && run_as_non_root != Some(true) {
                    problems.push(format!(
                        "{who} may run as root; set securityContext.runAsNonRoot: true (pod or \
                         container)"
                    ));
                }
                let added: Vec<&str> = sc
                    .and_then(|s| s.capabilities.as_ref())
                    .and_then(|caps| caps.add.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|cap| !allowed_caps.contains(&normalize_capability(cap)))
                    .map(String::as_str)
                    .collect();
                if !added.is_empty() {
                    problems.push(format!(
                        "{who} adds capabilities {}; remove them from \
                         securityContext.capabilities.add (allowed: {})",
                        added.join(", "),
                        if allowed_caps.is_empty() {
                            "none".to_string()
                        } else {
                            allowed_caps.join(", ")
                        }
                    ));
                }
            }
            for (on, field) in [
                (spec.host_network, "hostNetwork"),
                (spec.host_pid, "hostPID"),
                (spec.host_ipc, "hostIPC"),
            ] {
                if on == Some(true) {
                    problems.push(format!(
                        "pod uses the host namespace {field}; set spec.{field}: false"
                    ));
                }
            }
            for v in spec.volumes.iter().flatten() {
                if let Some(hp) = &v.host_path
                    && !host_path_allowed(&hp.path, &params.allowed_host_paths)
                {
                    problems.push(format!(
                        "volume `{}` mounts hostPath {}; use another volume type or add the \
                         path to params.allowedHostPaths",
                        v.name, hp.path
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

    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "workload.privileged";

    /// A compliant Deployment in namespace `ns` named `name` with extra container fields.
    fn deployment(ns: &str, name: &str, pod_extra: &str, sc_extra: &str) -> String {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      {pod_extra}
      containers:
      - name: app
        image: ghcr.io/acme/app:1.0
        securityContext: {{allowPrivilegeEscalation: false, runAsNonRoot: true{sc_extra}}}
---"#
        )
    }

    #[test]
    fn compliant_workloads_pass() {
        let y = deployment("a", "web", "", "");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn pod_level_run_as_non_root_counts() {
        let y = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
      - {name: app, image: x:1, securityContext: {allowPrivilegeEscalation: false}}
"#;
        assert!(failing(&run(ID, "", y)).is_empty());
    }

    #[test]
    fn privileged_container_fails_with_what_to_set() {
        let y = deployment("a", "web", "", ", privileged: true");
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Deployment/a/web"]);
        let m = &messages(&o)[0];
        assert!(m.contains("container `app` runs privileged"), "{m}");
        assert!(m.contains("privileged: false"), "{m}");
    }

    #[test]
    fn every_problem_is_listed_once_per_workload() {
        let y = r#"
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: a}
spec:
  hostNetwork: true
  hostPID: true
  hostIPC: true
  securityContext: {runAsUser: 0}
  volumes:
  - {name: root, hostPath: {path: /}}
  initContainers:
  - name: init
    image: busybox:1
    securityContext: {capabilities: {add: [SYS_ADMIN, NET_BIND_SERVICE]}}
  containers:
  - name: app
    image: x:1
    securityContext: {privileged: true}
  ephemeralContainers:
  - name: debug
    image: busybox:1
    securityContext: {allowPrivilegeEscalation: false, runAsUser: 1000, runAsNonRoot: true}
"#;
        let o = run(ID, "", y);
        assert_eq!(failing(&o), ["Pod/a/bad"]);
        let m = &messages(&o)[0];
        for want in [
            "initContainer `init` may escalate privileges",
            "initContainer `init` runs as root (runAsUser: 0)",
            "initContainer `init` adds capabilities SYS_ADMIN;",
            "container `app` runs privileged",
            "container `app` may escalate privileges",
            "hostNetwork",
            "hostPID",
            "hostIPC",
            "volume `root` mounts hostPath /",
        ] {
            assert!(m.contains(want), "missing {want:?} in {m}");
        }
        assert!(!m.contains("ephemeralContainer `debug`"), "{m}");
        assert!(!m.contains("NET_BIND_SERVICE;"), "{m}");
    }

    #[test]
    fn ephemeral_containers_are_checked() {
        let y = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: app, image: x:1, securityContext: {allowPrivilegeEscalation: false}}
  ephemeralContainers:
  - {name: debug, image: x:1, securityContext: {privileged: true, allowPrivilegeEscalation: true}}
"#;
        let o = run(ID, "", y);
        assert_eq!(failing(&o), ["Pod/a/p"]);
        assert!(messages(&o)[0].contains("ephemeralContainer `debug` runs privileged"));
    }

    #[test]
    fn pods_owned_by_a_replicaset_are_reported_on_the_owner() {
        let y = deployment("a", "web", "hostNetwork: true", "")
            + r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-abc
  namespace: a
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: u, controller: true}]
spec:
  hostNetwork: true
  containers: [{name: app, image: x:1}]
"#;
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Deployment/a/web"]);
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn params_relax_the_check() {
        let y = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: mon}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      volumes: [{name: logs, hostPath: {path: /var/log/pods}}]
      containers:
      - name: agent
        image: x:1
        securityContext: {capabilities: {add: [cap_sys_ptrace]}}
"#;
        assert_eq!(failing(&run(ID, "", y)), ["DaemonSet/mon/agent"]);
        let relaxed = r#"
requireNoPrivilegeEscalation: false
requireRunAsNonRoot: false
allowedCapabilities: [SYS_PTRACE]
allowedHostPaths: [/var/log/]
"#;
        assert!(failing(&run(ID, relaxed, y)).is_empty());
        // A sibling path is not under the allowed one.
        let sibling = "{requireNoPrivilegeEscalation: false, requireRunAsNonRoot: false, \
                       allowedCapabilities: [SYS_PTRACE], allowedHostPaths: [/var/lo]}";
        assert_eq!(failing(&run(ID, sibling, y)), ["DaemonSet/mon/agent"]);
    }

    #[test]
    fn explicit_root_fails_even_without_run_as_non_root_requirement() {
        let y = deployment("a", "web", "", ", runAsUser: 0");
        let o = run(ID, "requireRunAsNonRoot: false", &y);
        assert_eq!(failing(&o), ["Deployment/a/web"]);
    }

    #[test]
    fn unknown_params_are_refused() {
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(c.validate(None).is_ok());
        assert!(c.meta().admission);
    }

    #[test]
    fn out_of_scope_namespaces_are_skipped() {
        let y = deployment("a", "web", "hostPID: true", "") + &deployment("b", "db", "", "");
        let o = run_scoped(ID, "", &y, &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 1);
    }
}
