//! Older API versions of the kinds the checks read, as Git repositories still hold them
//! (`batch/v1beta1` CronJobs, `extensions/v1beta1` Ingresses, `apps/v1beta2` Deployments, ...).
//!
//! Where the old shape converts to the served version without guessing, [`upgrade`] converts it
//! and the object is evaluated like any other; the API server did the same conversions when it
//! still served those versions. Anything else is refused with a reason, and the manifests loader
//! lists the object as not evaluated instead of aborting the whole folder.

use serde_json::{Map, Value, json};

/// How an old `(group, version, kind)` becomes the current one.
#[derive(Clone, Copy)]
enum Conversion {
    /// Same fields, new apiVersion.
    Rename,
    /// `apps/v1beta1|v1beta2`, `extensions/v1beta1` controllers: `spec.selector` was optional
    /// and defaulted to the template's labels.
    DefaultSelector,
    /// `extensions|networking.k8s.io/v1beta1` Ingress: `serviceName`/`servicePort` backends,
    /// `spec.backend`, optional `pathType`.
    IngressV1beta1,
}

/// `(old group, old versions, kind, new apiVersion, conversion)`.
const LEGACY: &[(&str, &[&str], &str, &str, Conversion)] = &[
    (
        "batch",
        &["v1beta1", "v2alpha1"],
        "CronJob",
        "batch/v1",
        Conversion::Rename,
    ),
    (
        "apps",
        &["v1beta1", "v1beta2"],
        "Deployment",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "apps",
        &["v1beta1", "v1beta2"],
        "StatefulSet",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "apps",
        &["v1beta2"],
        "DaemonSet",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "apps",
        &["v1beta2"],
        "ReplicaSet",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "extensions",
        &["v1beta1"],
        "Deployment",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "extensions",
        &["v1beta1"],
        "DaemonSet",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "extensions",
        &["v1beta1"],
        "ReplicaSet",
        "apps/v1",
        Conversion::DefaultSelector,
    ),
    (
        "extensions",
        &["v1beta1"],
        "NetworkPolicy",
        "networking.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "extensions",
        &["v1beta1"],
        "Ingress",
        "networking.k8s.io/v1",
        Conversion::IngressV1beta1,
    ),
    (
        "networking.k8s.io",
        &["v1beta1"],
        "Ingress",
        "networking.k8s.io/v1",
        Conversion::IngressV1beta1,
    ),
    (
        "policy",
        &["v1beta1"],
        "PodDisruptionBudget",
        "policy/v1",
        Conversion::Rename,
    ),
    (
        "storage.k8s.io",
        &["v1beta1"],
        "StorageClass",
        "storage.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "rbac.authorization.k8s.io",
        &["v1beta1", "v1alpha1"],
        "ClusterRole",
        "rbac.authorization.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "rbac.authorization.k8s.io",
        &["v1beta1", "v1alpha1"],
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "rbac.authorization.k8s.io",
        &["v1beta1", "v1alpha1"],
        "Role",
        "rbac.authorization.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "rbac.authorization.k8s.io",
        &["v1beta1", "v1alpha1"],
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "admissionregistration.k8s.io",
        &["v1beta1"],
        "ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io/v1",
        Conversion::Rename,
    ),
    (
        "admissionregistration.k8s.io",
        &["v1beta1"],
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io/v1",
        Conversion::Rename,
    ),
];

/// Splits `group/version` (`v1` alone is the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Converts an object of a legacy API version to the current one. Returns `None` when
/// `(apiVersion, kind)` is not a legacy version this module knows (the caller then reads it as
/// it is); `Some(Err(reason))` when it is one but this object cannot be converted.
pub fn upgrade(api_version: &str, kind: &str, doc: &Value) -> Option<Result<Value, String>> {
    let (group, version) = split_api_version(api_version);
    let &(_, _, _, new_api_version, conversion) = LEGACY
        .iter()
        .find(|(g, vs, k, _, _)| *g == group && *k == kind && vs.contains(&version))?;
    let mut doc = doc.clone();
    let result = match conversion {
        Conversion::Rename => Ok(()),
        Conversion::DefaultSelector => default_selector(&mut doc),
        Conversion::IngressV1beta1 => ingress_v1beta1(&mut doc),
    };
    Some(result.map(|()| {
        doc["apiVersion"] = Value::String(new_api_version.to_string());
        doc
    }))
}

fn default_selector(doc: &mut Value) -> Result<(), String> {
    let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if spec.contains_key("selector") {
        return Ok(());
    }
    let labels = spec
        .get("template")
        .and_then(|t| t.pointer("/metadata/labels"))
        .cloned()
        .ok_or("spec.selector is missing and spec.template.metadata.labels is empty")?;
    spec.insert("selector".into(), json!({ "matchLabels": labels }));
    Ok(())
}

fn ingress_v1beta1(doc: &mut Value) -> Result<(), String> {
    let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(backend) = spec.remove("backend") {
        spec.insert(
            "defaultBackend".into(),
            backend_v1(backend, "spec.backend")?,
        );
    }
    for (r, rule) in spec
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (p, path) in rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(path) = path.as_object_mut() else {
                continue;
            };
            path.entry("pathType")
                .or_insert_with(|| Value::String("ImplementationSpecific".into()));
            if let Some(backend) = path.remove("backend") {
                let field = format!("spec.rules[{r}].http.paths[{p}].backend");
                path.insert("backend".into(), backend_v1(backend, &field)?);
            }
        }
    }
    Ok(())
}

/// `{serviceName, servicePort}` → `{service: {name, port: {number | name}}}`; a `resource`
/// backend is the same in both versions.
fn backend_v1(backend: Value, field: &str) -> Result<Value, String> {
    let Value::Object(mut b) = backend else {
        return Err(format!("{field} is not an object"));
    };
    let Some(name) = b.remove("serviceName") else {
        return Ok(Value::Object(b));
    };
    let port = match b.remove("servicePort") {
        Some(Value::Number(n)) => json!({ "number": n }),
        Some(Value::String(s)) => match s.parse::<u16>() {
            Ok(n) => json!({ "number": n }),
            Err(_) => json!({ "name": s }),
        },
        Some(_) => {
            return Err(format!(
                "{field}.servicePort is neither a number nor a name"
            ));
        }
        None => return Err(format!("{field}.servicePort is missing")),
    };
    let mut service = Map::new();
    service.insert("name".into(), name);
    service.insert("port".into(), port);
    b.insert("service".into(), Value::Object(service));
    Ok(Value::Object(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cronjob_v1beta1_is_renamed() {
        let doc = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "spec": {"schedule": "* * * * *"}});
        let up = upgrade("batch/v1beta1", "CronJob", &doc).unwrap().unwrap();
        assert_eq!(up["apiVersion"], "batch/v1");
        assert_eq!(up["spec"], doc["spec"]);
    }

    #[test]
    fn old_deployments_get_the_selector_their_api_defaulted() {
        let doc = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}});
        let up = upgrade("extensions/v1beta1", "Deployment", &doc)
            .unwrap()
            .unwrap();
        assert_eq!(up["apiVersion"], "apps/v1");
        assert_eq!(up["spec"]["selector"], json!({"matchLabels": {"app": "a"}}));

        let unlabeled = json!({"spec": {"template": {"spec": {"containers": []}}}});
        let err = upgrade("apps/v1beta1", "Deployment", &unlabeled)
            .unwrap()
            .unwrap_err();
        assert!(err.contains("spec.selector"), "{err}");
    }

    #[test]
    fn ingress_v1beta1_backends_become_v1_backends() {
        let doc = json!({"spec": {
            "backend": {"serviceName": "default", "servicePort": 80},
            "rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}}
            ]}}]
        }});
        let up = upgrade("extensions/v1beta1", "Ingress", &doc)
            .unwrap()
            .unwrap();
        assert_eq!(up["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(
            up["spec"]["defaultBackend"],
            json!({"service": {"name": "default", "port": {"number": 80}}})
        );
        let path = &up["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["pathType"], "ImplementationSpecific");
        assert_eq!(
            path["backend"],
            json!({"service": {"name": "web", "port": {"name": "http"}}})
        );

        let broken = json!({"spec": {"backend": {"serviceName": "x"}}});
        let err = upgrade("networking.k8s.io/v1beta1", "Ingress", &broken)
            .unwrap()
            .unwrap_err();
        assert_eq!(err, "spec.backend.servicePort is missing");
    }

    #[test]
    fn current_and_unknown_versions_are_not_legacy() {
        assert!(upgrade("batch/v1", "CronJob", &json!({})).is_none());
        assert!(upgrade("apps/v2", "Deployment", &json!({})).is_none());
        assert!(upgrade("example.com/v1", "Widget", &json!({})).is_none());
    }
}
