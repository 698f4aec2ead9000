//! The hourly aggregates alone: authenticator inference, hashing of user names, the caps on
//! every list (with their overflow counts), hour boundaries and the stages that count.

use serde_json::json;
use sha2::{Digest, Sha256};
use soc2_operator::audit_events::aggregate::{
    Authenticator, PrivilegedKind, authenticator, hour_start, is_human,
};
use soc2_operator::audit_events::event::UserInfo;
use soc2_operator::audit_events::{
    Aggregate, AggregateConfig, Aggregates, AuditEvent, parse_json_lines,
};

fn ev(user: &str, verb: &str, sub: &str, code: u16, stage: &str, ts: &str) -> AuditEvent {
    let line = json!({
        "apiVersion": "audit.k8s.io/v1", "kind": "Event", "level": "Metadata", "auditID": "x",
        "stage": stage, "verb": verb, "user": {"username": user},
        "sourceIPs": ["192.0.2.1"],
        "objectRef": {"resource": "pods", "subresource": sub, "namespace": "ns", "name": "p"},
        "responseStatus": {"code": code},
        "requestReceivedTimestamp": ts, "stageTimestamp": ts
    });
    parse_json_lines(line.to_string().as_bytes())
        .unwrap()
        .remove(0)
}

fn user(name: &str, groups: &[&str], credential_id: Option<&str>) -> UserInfo {
    serde_json::from_value(json!({
        "username": name, "groups": groups,
        "extra": credential_id.map(|c| json!({"authentication.kubernetes.io/credential-id": [c]})).unwrap_or(json!({}))
    }))
    .unwrap()
}

#[test]
fn humans_and_authenticators() {
    assert!(is_human("alice"));
    assert!(is_human("oidc:alice@example.com"));
    assert!(!is_human("system:serviceaccount:ci:deployer"));
    assert!(!is_human("system:node:worker-1"));
    assert!(!is_human("system:kube-scheduler"));
    assert!(!is_human(""));

    let oidc = Some("https://issuer.example.com#");
    let cases = [
        (
            user("https://issuer.example.com#alice", &[], None),
            Authenticator::Oidc,
        ),
        (
            user("alice", &["https://issuer.example.com#admins"], None),
            Authenticator::Oidc,
        ),
        // A client certificate wins even if a group looks like the issuer's.
        (
            user(
                "bob",
                &["https://issuer.example.com#x"],
                Some("X509SHA256=ab12"),
            ),
            Authenticator::ClientCertificate,
        ),
        (
            user("carol", &["system:authenticated"], None),
            Authenticator::Token,
        ),
        (user("dave", &[], Some("JTI=1234")), Authenticator::Token),
    ];
    for (u, expected) in &cases {
        assert_eq!(authenticator(u, oidc), *expected, "{u:?}");
    }
    // Without a configured issuer nobody is counted as OIDC.
    assert_eq!(authenticator(&cases[0].0, None), Authenticator::Token);
    assert_eq!(authenticator(&cases[0].0, Some("")), Authenticator::Token);
}

#[test]
fn user_names_are_hashed_with_the_salt_when_configured() {
    let cfg = AggregateConfig {
        hash_salt: Some("pepper".into()),
        ..AggregateConfig::default()
    };
    let mut a = Aggregates::default();
    a.add(
        &cfg,
        &ev(
            "alice",
            "create",
            "exec",
            101,
            "ResponseComplete",
            "2026-12-01T06:00:00Z",
        ),
    );
    a.add(
        &cfg,
        &ev(
            "mallory",
            "get",
            "",
            403,
            "ResponseComplete",
            "2026-12-01T06:00:01Z",
        ),
    );
    let expected = |name: &str| {
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("pepper{name}")))
        )
    };
    let b = a.hours.values().next().unwrap();
    assert_eq!(b.privileged[0].user, expected("alice"));
    assert_eq!(
        b.authz_denials_by_user.counts.keys().collect::<Vec<_>>(),
        vec![&expected("mallory")]
    );
    let json = serde_json::to_string(&a).unwrap();
    assert!(
        !json.contains("alice") && !json.contains("mallory"),
        "{json}"
    );
}

#[test]
fn lists_are_bounded_and_the_overflow_is_counted() {
    let cfg = AggregateConfig {
        max_keys: 2,
        max_privileged: 1,
        ..AggregateConfig::default()
    };
    let mut a = Aggregates::default();
    for u in ["u1", "u2", "u3", "u1", "u4"] {
        a.add(
            &cfg,
            &ev(
                u,
                "create",
                "exec",
                403,
                "ResponseComplete",
                "2026-12-01T06:30:00Z",
            ),
        );
    }
    let b = a.hours.values().next().unwrap();
    assert_eq!(b.authz_denials_by_user.top(5), vec![("u1", 2), ("u2", 1)]);
    assert_eq!(b.authz_denials_by_user.other, 2);
    assert_eq!(b.authz_denials_by_user.total(), 5);
    assert_eq!(b.privileged.len(), 1);
    assert_eq!(b.privileged[0].kind, PrivilegedKind::PodExec);
    assert_eq!(b.privileged_dropped, 4);
}

#[test]
fn final_stages_only_and_utc_hour_buckets() {
    let cfg = AggregateConfig::default();
    let mut a = Aggregates::default();
    for (stage, ts) in [
        ("RequestReceived", "2026-12-01T06:59:59.999999Z"),
        ("ResponseStarted", "2026-12-01T06:59:59.999999Z"),
        ("ResponseComplete", "2026-12-01T06:59:59.999999Z"),
        ("Panic", "2026-12-01T07:00:00Z"),
        // An offset is normalised to UTC: 08:00+01:00 is 07:00Z.
        ("ResponseComplete", "2026-12-01T08:00:00+01:00"),
    ] {
        a.add(&cfg, &ev("alice", "get", "portforward", 200, stage, ts));
    }
    assert_eq!(a.skipped_stages, 2);
    let six = hour_start("2026-12-01T06:00:00Z".parse().unwrap());
    assert_eq!(
        a.hours
            .iter()
            .map(|(h, b)| (*h, b.requests))
            .collect::<Vec<_>>(),
        vec![(six, 1), (six + 3600, 2)]
    );
    assert_eq!(
        a.hours[&six].privileged[0].kind,
        PrivilegedKind::PodPortForward
    );
}
