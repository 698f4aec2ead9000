//! Shared by the audit intake tests: `audit.k8s.io/v1` payloads as the API server and log
//! shippers send them, and small metric helpers.
#![allow(dead_code)]

use serde_json::{Value, json};
use soc2_operator::audit_events::queue::AuditMetrics;

pub const TOKEN: &str = "s3cret-intake-token";
/// Inside the hour 2026-12-01T06:00:00Z.
pub const HOUR: i64 = 1_796_104_800;
/// A secret value that appears only in request/response bodies and must never be kept.
pub const SECRET_VALUE: &str = "cGFzc3dvcmQxMjM=";

/// One `audit.k8s.io/v1` Event as the API server writes it (fields we ignore included).
#[allow(clippy::too_many_arguments)]
pub fn event(
    id: &str,
    stage: &str,
    verb: &str,
    user: Value,
    ip: &str,
    object_ref: Value,
    code: u16,
    minute: u32,
) -> Value {
    let ts = format!("2026-12-01T06:{minute:02}:07.123456Z");
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": id,
        "stage": stage,
        "requestURI": "/api/v1/whatever",
        "verb": verb,
        "user": user,
        "sourceIPs": [ip],
        "userAgent": "kubectl/v1.37.0 (linux/amd64) kubernetes/abcdef",
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": ts,
        "stageTimestamp": ts,
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding"
        }
    })
}

pub fn event_list(items: Vec<Value>) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}

pub fn pod_sub(sub: &str) -> Value {
    json!({"resource": "pods", "subresource": sub, "namespace": "prod", "name": "api-7f9c", "apiVersion": "v1"})
}

/// The scenario: exec by an OIDC human (with its RequestReceived stage), three 401s from one IP,
/// a Secret read by a client-certificate human (bodies included), an RBAC write by a token
/// user, a service account listing Secrets, an RBAC write denied with 403.
pub fn scenario() -> String {
    let alice = json!({"username": "oidc:alice", "groups": ["oidc:platform-admins", "system:authenticated"]});
    let bob = json!({"username": "bob", "groups": ["system:masters", "system:authenticated"],
        "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}});
    let carol = json!({"username": "carol", "groups": ["system:authenticated"]});
    let dave = json!({"username": "dave", "groups": ["system:authenticated"]});
    let sa = json!({"username": "system:serviceaccount:ci:deployer", "uid": "1b2c",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"],
        "extra": {"authentication.kubernetes.io/credential-id": ["JTI=0a1b2c"]}});
    let mut secret_read = event(
        "a-3",
        "ResponseComplete",
        "get",
        bob,
        "10.0.0.5",
        json!({"resource": "secrets", "namespace": "prod", "name": "db-password", "apiVersion": "v1"}),
        200,
        12,
    );
    // A RequestResponse-level event carries bodies: they must be skipped, never kept.
    secret_read["level"] = json!("RequestResponse");
    secret_read["responseObject"] = json!({"kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "db-password"}, "data": {"password": SECRET_VALUE}});
    secret_read["requestObject"] = json!({"kind": "DeleteOptions", "data": SECRET_VALUE});
    let rbac = json!({"resource": "clusterrolebindings", "name": "ops-admin",
        "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"});
    let rolebinding = json!({"resource": "rolebindings", "namespace": "prod", "name": "edit",
        "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"});
    let anonymous_401 = |id: &str, minute| {
        let mut e = event(
            id,
            "ResponseComplete",
            "list",
            json!({}),
            "203.0.113.7",
            json!({"resource": "secrets", "apiVersion": "v1"}),
            401,
            minute,
        );
        e.as_object_mut().unwrap().remove("annotations");
        e
    };
    event_list(vec![
        event(
            "a-1",
            "RequestReceived",
            "create",
            alice.clone(),
            "10.0.0.4",
            pod_sub("exec"),
            0,
            5,
        ),
        event(
            "a-1",
            "ResponseComplete",
            "create",
            alice,
            "10.0.0.4",
            pod_sub("exec"),
            101,
            5,
        ),
        anonymous_401("a-2a", 10),
        anonymous_401("a-2b", 10),
        anonymous_401("a-2c", 11),
        secret_read,
        event(
            "a-4",
            "ResponseComplete",
            "create",
            carol,
            "10.0.0.6",
            rbac,
            201,
            20,
        ),
        event(
            "a-5",
            "ResponseComplete",
            "list",
            sa,
            "10.0.1.9",
            json!({"resource": "secrets", "namespace": "ci", "apiVersion": "v1"}),
            200,
            21,
        ),
        event(
            "a-6",
            "ResponseComplete",
            "patch",
            dave,
            "10.0.0.7",
            rolebinding,
            403,
            30,
        ),
    ])
}

/// An impersonated request as a shipper sends it: one Event per line.
pub fn impersonation_lines() -> String {
    let mut e = event(
        "b-1",
        "ResponseComplete",
        "get",
        json!({"username": "erin", "groups": ["system:authenticated"]}),
        "10.0.0.8",
        json!({"resource": "pods", "namespace": "prod", "apiVersion": "v1"}),
        200,
        40,
    );
    e["impersonatedUser"] = json!({"username": "admin", "groups": ["system:masters"]});
    let received = event(
        "b-1",
        "RequestReceived",
        "get",
        json!({"username": "erin"}),
        "10.0.0.8",
        json!({"resource": "pods", "namespace": "prod"}),
        0,
        40,
    );
    format!("{received}\n\n{e}\n")
}

/// How many batches were rejected for `reason`.
pub fn rejected(m: &AuditMetrics, reason: &str) -> u64 {
    m.batches_rejected.with_label_values(&[reason]).get()
}
