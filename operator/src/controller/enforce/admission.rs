//! ValidatingAdmissionPolicies that refuse new violations of `Enforce` controls.
//!
//! Rendering is pure: [`render`] turns a control and one of its checks into a policy and a
//! binding (CEL rules, `validationActions: [Deny]`, namespaceSelector from the control's scope).
//! Only four checks support admission: `workload.privileged`, `rbac.cluster-admin`,
//! `tls.ingress` and `workload.trusted-images`.

use serde_json::{Value, json};

use super::{MANAGED_BY_LABEL, MANAGER, owner_reference, spec_hash};
use soc2_core::crd::Soc2Control;

/// Label naming the control a generated object belongs to.
pub const CONTROL_LABEL: &str = "soc2.evidence.dev/control";
/// Annotation holding the hash of what was rendered (to skip no-op applies).
pub const HASH_ANNOTATION: &str = "soc2.evidence.dev/spec-hash";

/// Check ids with an admission rule.
pub const ADMISSION_CHECKS: [&str; 4] = [
    "workload.privileged",
    "rbac.cluster-admin",
    "tls.ingress",
    "workload.trusted-images",
];

/// A rendered policy and its binding.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Name of both objects.
    pub name: String,
    /// The ValidatingAdmissionPolicy (SSA body).
    pub policy: Value,
    /// The ValidatingAdmissionPolicyBinding (SSA body).
    pub binding: Value,
}

fn short(check: &str) -> &str {
    match check {
        "workload.privileged" => "privileged",
        "rbac.cluster-admin" => "cluster-admin",
        "tls.ingress" => "ingress-tls",
        "workload.trusted-images" => "trusted-images",
        other => other,
    }
}

/// Name of the policy (and binding) for a control's check.
pub fn policy_name(control: &str, check: &str) -> String {
    let name = format!("soc2-{control}-{}", short(check));
    name.chars().take(253).collect()
}

/// A CEL string literal.
fn cel_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn cel_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| cel_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Strings from a params key: a list of strings, or of objects whose fields are joined.
fn string_list(params: Option<&Value>, keys: &[&str]) -> Vec<String> {
    let Some(p) = params else { return Vec::new() };
    keys.iter()
        .filter_map(|k| p.get(*k))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => {
                let kind = o.get("kind").and_then(Value::as_str).unwrap_or("User");
                let name = o.get("name").and_then(Value::as_str)?;
                Some(match o.get("namespace").and_then(Value::as_str) {
                    Some(ns) => format!("{kind}:{ns}:{name}"),
                    None => format!("{kind}:{name}"),
                })
            }
            _ => None,
        })
        .collect()
}

/// Every container list of a pod spec, as CEL over `object.spec`.
const POD_CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

fn all_containers(pred: &str) -> String {
    POD_CONTAINERS
        .iter()
        .map(|list| format!("(!has(object.spec.{list}) || object.spec.{list}.all(c, {pred}))"))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// (resource rules, validations) for a check; `None` for checks without an admission rule.
fn rules(check: &str, params: Option<&Value>) -> Option<(Value, Vec<Value>)> {
    let pods = json!([{
        "apiGroups": [""], "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"], "resources": ["pods"],
    }]);
    match check {
        "workload.privileged" => Some((
            pods,
            vec![
                json!({
                    "expression": all_containers("!has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged == false"),
                    "message": "privileged containers are not allowed (SOC 2 CC6.8, workload.privileged)",
                    "reason": "Forbidden",
                }),
                json!({
                    "expression": "(!has(object.spec.hostNetwork) || object.spec.hostNetwork == false) && (!has(object.spec.hostPID) || object.spec.hostPID == false) && (!has(object.spec.hostIPC) || object.spec.hostIPC == false)",
                    "message": "host namespaces (hostNetwork, hostPID, hostIPC) are not allowed (SOC 2 CC6.8, workload.privileged)",
                    "reason": "Forbidden",
                }),
                json!({
                    "expression": "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))",
                    "message": "hostPath volumes are not allowed (SOC 2 CC6.8, workload.privileged)",
                    "reason": "Forbidden",
                }),
            ],
        )),
        "rbac.cluster-admin" => {
            let mut allowed = vec!["Group:system:masters".to_string()];
            allowed.extend(string_list(
                params,
                &["allowedSubjects", "allowlist", "allowed"],
            ));
            allowed.sort();
            allowed.dedup();
            Some((
                json!([{
                    "apiGroups": ["rbac.authorization.k8s.io"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["clusterrolebindings", "rolebindings"],
                }]),
                vec![json!({
                    "expression": format!(
                        "object.roleRef.kind != 'ClusterRole' || object.roleRef.name != 'cluster-admin' || !has(object.subjects) || object.subjects.all(s, (s.kind == 'ServiceAccount' ? 'ServiceAccount:' + (has(s.namespace) ? s.namespace : '') + ':' + s.name : s.kind + ':' + s.name) in {})",
                        cel_list(&allowed)
                    ),
                    "message": "binding cluster-admin to a subject outside the allowlist is not allowed (SOC 2 CC6.1/CC6.3, rbac.cluster-admin)",
                    "reason": "Forbidden",
                })],
            ))
        }
        "tls.ingress" => Some((
            json!([{
                "apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["ingresses"],
            }]),
            vec![json!({
                "expression": "!has(object.spec.rules) || object.spec.rules.all(r, !has(r.host) || (has(object.spec.tls) && object.spec.tls.exists(t, has(t.hosts) && t.hosts.exists(h, h == r.host || (h.startsWith('*.') && r.host.endsWith(h.substring(1)))))))",
                "message": "every Ingress host must be covered by a TLS section (SOC 2 CC6.6/CC6.7, tls.ingress)",
                "reason": "Forbidden",
            })],
        )),
        "workload.trusted-images" => {
            let registries = string_list(params, &["allowedRegistries"]);
            if registries.is_empty() {
                return None;
            }
            let prefixes: Vec<String> = registries
                .iter()
                .map(|r| {
                    if r.ends_with('/') {
                        r.clone()
                    } else {
                        format!("{r}/")
                    }
                })
                .collect();
            Some((
                pods,
                vec![json!({
                    "expression": all_containers(&format!("{}.exists(r, c.image.startsWith(r))", cel_list(&prefixes))),
                    "message": format!("images must come from an allowed registry: {} (SOC 2 CC6.8, workload.trusted-images)", registries.join(", ")),
                    "reason": "Forbidden",
                })],
            ))
        }
        _ => None,
    }
}

/// The namespaceSelector matching the control's scope: its label selector plus a `NotIn` on
/// `kubernetes.io/metadata.name` for the excluded namespaces.
pub fn namespace_selector(control: &Soc2Control) -> Value {
    let scope = &control.spec.scope;
    let mut selector = scope
        .namespace_selector
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({}));
    if !scope.excluded_namespaces.is_empty() {
        let mut excluded = scope.excluded_namespaces.clone();
        excluded.sort();
        let expr = json!({
            "key": "kubernetes.io/metadata.name",
            "operator": "NotIn",
            "values": excluded,
        });
        match selector
            .get_mut("matchExpressions")
            .and_then(Value::as_array_mut)
        {
            Some(list) => list.push(expr),
            None => selector["matchExpressions"] = json!([expr]),
        }
    }
    selector
}

/// Renders the policy and binding for one check of a control; `None` when the check has no
/// admission rule (or lacks the parameters it needs, e.g. `allowedRegistries`).
pub fn render(control: &Soc2Control, check: &str, params: Option<&Value>) -> Option<Rendered> {
    let control_name = control.metadata.name.as_deref()?;
    let (resource_rules, validations) = rules(check, params)?;
    let name = policy_name(control_name, check);
    let labels = json!({
        MANAGED_BY_LABEL: MANAGER,
        CONTROL_LABEL: control_name,
    });
    let owner = owner_reference(control)?;
    let mut policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": name,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": resource_rules },
            "validations": validations,
        },
    });
    let mut binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": name,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": { "namespaceSelector": namespace_selector(control) },
        },
    });
    for obj in [&mut policy, &mut binding] {
        let hash = spec_hash(&obj["spec"]);
        obj["metadata"]["annotations"] = json!({ HASH_ANNOTATION: hash });
    }
    Some(Rendered {
        name,
        policy,
        binding,
    })
}

/// Every policy a control should have: one per admission-capable check it lists.
pub fn render_all(control: &Soc2Control) -> Vec<Rendered> {
    control
        .spec
        .checks
        .iter()
        .filter_map(|c| render(control, &c.check, c.params.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };

    fn control(checks: Value, scope: Value) -> Soc2Control {
        serde_json::from_value(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1",
            "kind": "Soc2Control",
            "metadata": {"name": "cc6-8", "uid": "0000-1111"},
            "spec": {
                "controlId": "CC6.8", "criteria": "Security", "title": "t",
                "checks": checks, "scope": scope, "enforcement": "Enforce",
            },
        }))
        .unwrap()
    }

    fn typed(r: &Rendered) -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
        (
            serde_json::from_value(r.policy.clone()).expect("valid VAP"),
            serde_json::from_value(r.binding.clone()).expect("valid binding"),
        )
    }

    #[test]
    fn privileged_policy_denies_in_scope_namespaces() {
        let c = control(
            json!([{"check": "workload.privileged"}]),
            json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}, "excludedNamespaces": ["kube-system"]}),
        );
        let all = render_all(&c);
        assert_eq!(all.len(), 1);
        let (policy, binding) = typed(&all[0]);
        assert_eq!(
            policy.metadata.name.as_deref(),
            Some("soc2-cc6-8-privileged")
        );
        let spec = policy.spec.unwrap();
        let rules = spec.match_constraints.unwrap().resource_rules.unwrap();
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["pods".to_string()][..])
        );
        let validations = spec.validations.unwrap();
        assert_eq!(validations.len(), 3);
        assert!(
            validations[0]
                .expression
                .contains("c.securityContext.privileged == false")
        );
        assert!(
            validations[0]
                .expression
                .contains("object.spec.initContainers.all")
        );
        assert!(validations[1].expression.contains("hostPID"));
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let bspec = binding.spec;
        assert_eq!(bspec.policy_name, "soc2-cc6-8-privileged");
        assert_eq!(bspec.validation_actions, vec!["Deny".to_string()]);
        let sel = bspec.match_resources.unwrap().namespace_selector.unwrap();
        assert_eq!(sel.match_labels.unwrap()["env"], "prod");
        let expr = &sel.match_expressions.unwrap()[0];
        assert_eq!(expr.operator, "NotIn");
        assert_eq!(
            expr.values.as_deref(),
            Some(&["kube-system".to_string()][..])
        );
        let owner = &policy.metadata.owner_references.unwrap()[0];
        assert_eq!(owner.kind, "Soc2Control");
        assert_eq!(owner.uid, "0000-1111");
        assert_eq!(
            policy.metadata.labels.unwrap()[MANAGED_BY_LABEL],
            "soc2-operator"
        );
    }

    #[test]
    fn cluster_admin_allowlist_is_a_cel_list() {
        let c = control(
            json!([{"check": "rbac.cluster-admin", "params": {"allowedSubjects": [
                {"kind": "Group", "name": "platform-admins"},
                {"kind": "ServiceAccount", "namespace": "argocd", "name": "argocd-app-controller"},
                "User:o'brien"
            ]}}]),
            json!({}),
        );
        let r = render_all(&c).remove(0);
        let expr = r.policy["spec"]["validations"][0]["expression"]
            .as_str()
            .unwrap();
        assert!(
            expr.contains("object.roleRef.name != 'cluster-admin'"),
            "{expr}"
        );
        assert!(expr.contains(
            "in ['Group:platform-admins', 'Group:system:masters', 'ServiceAccount:argocd:argocd-app-controller', 'User:o\\'brien']"
        ), "{expr}");
        let resources = &r.policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"];
        assert_eq!(resources, &json!(["clusterrolebindings", "rolebindings"]));
        assert_eq!(
            r.binding["spec"]["matchResources"]["namespaceSelector"],
            json!({})
        );
    }

    #[test]
    fn ingress_tls_and_trusted_images() {
        let c = control(
            json!([
                {"check": "tls.ingress"},
                {"check": "workload.trusted-images", "params": {"allowedRegistries": ["registry.example.com", "ghcr.io/acme/"]}},
                {"check": "network.default-deny"},
            ]),
            json!({}),
        );
        let all = render_all(&c);
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["soc2-cc6-8-ingress-tls", "soc2-cc6-8-trusted-images"]
        );
        let tls = all[0].policy["spec"]["validations"][0]["expression"]
            .as_str()
            .unwrap();
        assert!(tls.contains("t.hosts.exists(h, h == r.host"), "{tls}");
        let images = all[1].policy["spec"]["validations"][0]["expression"]
            .as_str()
            .unwrap();
        assert!(
            images.contains(
                "['registry.example.com/', 'ghcr.io/acme/'].exists(r, c.image.startsWith(r))"
            ),
            "{images}"
        );
        for r in &all {
            typed(r);
        }
    }

    #[test]
    fn trusted_images_without_registries_renders_nothing() {
        let c = control(json!([{"check": "workload.trusted-images"}]), json!({}));
        assert!(render_all(&c).is_empty());
    }

    #[test]
    fn rendering_is_deterministic_and_hashed() {
        let c = control(json!([{"check": "tls.ingress"}]), json!({}));
        let a = render_all(&c);
        let b = render_all(&c);
        assert_eq!(a, b);
        assert!(a[0].policy["metadata"]["annotations"][HASH_ANNOTATION].is_string());
    }

    /// Evaluates every validation of a rendered policy against `object` with a CEL
    /// implementation that includes the Kubernetes extension functions; true when all pass.
    fn admits(r: &Rendered, object: Value) -> bool {
        use kube_cel::{KubeCelExt, cel};
        let mut ctx = cel::Context::default().with_all();
        ctx.add_variable("object", cel::to_value(&object).unwrap())
            .unwrap();
        r.policy["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| {
                let expr = v["expression"].as_str().unwrap();
                let program = cel::Program::compile(expr)
                    .unwrap_or_else(|e| panic!("{}: does not compile: {e}\n{expr}", r.name));
                match program.execute(&ctx) {
                    Ok(cel::Value::Bool(b)) => b,
                    other => panic!("{}: {expr}: {other:?}", r.name),
                }
            })
    }

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn privileged_rule_admits_and_denies() {
        let c = control(json!([{"check": "workload.privileged"}]), json!({}));
        let r = render_all(&c).remove(0);
        assert!(admits(
            &r,
            pod(json!({"containers": [{"name": "a", "image": "x"}]}))
        ));
        assert!(admits(
            &r,
            pod(
                json!({"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": false}}]})
            )
        ));
        assert!(!admits(
            &r,
            pod(
                json!({"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": true}}]})
            )
        ));
        assert!(!admits(
            &r,
            pod(
                json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "i", "image": "x", "securityContext": {"privileged": true}}]})
            )
        ));
        assert!(!admits(
            &r,
            pod(json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x"}]}))
        ));
        assert!(!admits(
            &r,
            pod(
                json!({"containers": [{"name": "a", "image": "x"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]})
            )
        ));
    }

    #[test]
    fn cluster_admin_rule_admits_and_denies() {
        let c = control(
            json!([{"check": "rbac.cluster-admin", "params": {"allowedSubjects": [{"kind": "Group", "name": "platform-admins"}]}}]),
            json!({}),
        );
        let r = render_all(&c).remove(0);
        let crb = |role: &str, subjects: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects});
        assert!(admits(
            &r,
            crb(
                "cluster-admin",
                json!([{"kind": "Group", "name": "platform-admins"}])
            )
        ));
        assert!(admits(
            &r,
            crb("view", json!([{"kind": "User", "name": "mallory"}]))
        ));
        assert!(!admits(
            &r,
            crb(
                "cluster-admin",
                json!([{"kind": "User", "name": "mallory"}])
            )
        ));
        assert!(!admits(
            &r,
            crb(
                "cluster-admin",
                json!([{"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}])
            )
        ));
    }

    #[test]
    fn ingress_and_image_rules_admit_and_deny() {
        let c = control(
            json!([
                {"check": "tls.ingress"},
                {"check": "workload.trusted-images", "params": {"allowedRegistries": ["registry.example.com"]}},
            ]),
            json!({}),
        );
        let all = render_all(&c);
        let ing = |tls: Value| json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}, "spec": {"rules": [{"host": "app.example.com"}], "tls": tls}});
        assert!(admits(
            &all[0],
            ing(json!([{"hosts": ["app.example.com"], "secretName": "s"}]))
        ));
        assert!(admits(
            &all[0],
            ing(json!([{"hosts": ["*.example.com"], "secretName": "s"}]))
        ));
        assert!(!admits(&all[0], ing(json!([]))));
        assert!(!admits(
            &all[0],
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}, "spec": {"rules": [{"host": "a.b"}]}})
        ));
        assert!(admits(
            &all[1],
            pod(json!({"containers": [{"name": "a", "image": "registry.example.com/app:1"}]}))
        ));
        assert!(!admits(
            &all[1],
            pod(json!({"containers": [{"name": "a", "image": "docker.io/library/nginx"}]}))
        ));
        assert!(!admits(
            &all[1],
            pod(
                json!({"containers": [{"name": "a", "image": "registry.example.com.evil.io/app"}]})
            )
        ));
    }
}
