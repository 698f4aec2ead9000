//! `access.api-server-authentication` and `access.api-server-authorization`: the kube-apiserver
//! refuses anonymous and static credentials, lets humans in through an identity provider, and
//! authorizes every request with RBAC.
//!
//! Both read the flags of the kube-apiserver static pods (see `encryption::control_plane`).
//! They do not read the files the flags name; where a flag only points to a file, the
//! descriptions say what is taken on trust. Two checks rather than one because their severities
//! differ: a server that authorizes everything is a direct path to compromise, a server that
//! also serves anonymous requests (still subject to RBAC) weakens the control.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::encryption::control_plane::{ApiServer, api_servers, not_observable};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// `access.api-server-authentication`.
pub(super) struct ApiServerAuthentication;
/// `access.api-server-authorization`.
pub(super) struct ApiServerAuthorization;

const AUTHN_ID: &str = "access.api-server-authentication";
const AUTHZ_ID: &str = "access.api-server-authorization";

const ANONYMOUS_AUTH: &str = "anonymous-auth";
const AUTHENTICATION_CONFIG: &str = "authentication-config";
const OIDC_ISSUER_URL: &str = "oidc-issuer-url";
const TOKEN_AUTH_FILE: &str = "token-auth-file";
const BASIC_AUTH_FILE: &str = "basic-auth-file";
const AUTHORIZATION_MODE: &str = "authorization-mode";
const AUTHORIZATION_CONFIG: &str = "authorization-config";
const INSECURE_PORT: &str = "insecure-port";

/// Parameters of `access.api-server-authentication`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthenticationParams {
    /// Accept API servers that serve anonymous requests (`--anonymous-auth` not `false`;
    /// Kubernetes defaults it to `true`). Anonymous requests run as `system:anonymous` in
    /// `system:unauthenticated` and are still limited by RBAC, but CIS Kubernetes Benchmark 1.2.1
    /// asks for `--anonymous-auth=false`. Default `false`.
    pub allow_anonymous_auth: bool,
    /// Require that humans authenticate through an identity provider, where MFA for
    /// administrators is enforced: `--oidc-issuer-url` or `--authentication-config` (structured
    /// authentication, Kubernetes 1.30+) must be set. Default `true`.
    pub require_oidc: bool,
}

impl Default for AuthenticationParams {
    fn default() -> Self {
        Self {
            allow_anonymous_auth: false,
            require_oidc: true,
        }
    }
}

/// Parameters of `access.api-server-authorization`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorizationParams {
    /// Accept `Webhook` in `--authorization-mode` in place of `RBAC`, for clusters whose least
    /// privilege is enforced by an external authorizer (a cloud IAM or policy-engine webhook).
    /// Default `false`.
    pub allow_webhook_authorizer: bool,
}

/// A boolean flag value as Go's `strconv.ParseBool` (and so the API server) reads it; `None`
/// when it is not a boolean.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// One finding per pod listing its problems, or none.
fn finding(server: &ApiServer<'_>, problems: &[String]) -> Option<Finding> {
    if problems.is_empty() {
        return None;
    }
    Some(Finding::new(
        server.resource(),
        format!(
            "kube-apiserver pod `{}`: {}",
            server.name(),
            problems.join("; ")
        ),
    ))
}

/// The authentication problems of one API server.
fn authentication_problems(s: &ApiServer<'_>, params: &AuthenticationParams) -> Vec<String> {
    let mut problems = Vec::new();
    let anonymous_off = s.flag(ANONYMOUS_AUTH).and_then(go_bool) == Some(false);
    if !anonymous_off && !params.allow_anonymous_auth {
        let how = match s.flag(ANONYMOUS_AUTH) {
            Some(v) => format!("runs with --{ANONYMOUS_AUTH}={v}"),
            None => {
                format!("does not set --{ANONYMOUS_AUTH}=false (Kubernetes defaults it to true)")
            }
        };
        let structured = if s.flag(AUTHENTICATION_CONFIG).is_some() {
            format!(
                "; with --{AUTHENTICATION_CONFIG} the file's `anonymous` section may disable them, \
                 which this check cannot read: record an exception for this pod citing it"
            )
        } else {
            String::new()
        };
        problems.push(format!(
            "{how}, so unauthenticated requests are served as system:anonymous, limited only by \
             RBAC; pass --{ANONYMOUS_AUTH}=false (CIS 1.2.1){structured}"
        ));
    }
    if s.flag(TOKEN_AUTH_FILE).is_some() {
        problems.push(format!(
            "accepts static bearer tokens from --{TOKEN_AUTH_FILE}, which never expire and cannot \
             be revoked without a restart; remove the flag and move those users to the identity \
             provider or to ServiceAccount tokens"
        ));
    }
    if s.flag(BASIC_AUTH_FILE).is_some() {
        problems.push(format!(
            "accepts static passwords from --{BASIC_AUTH_FILE} (removed in Kubernetes 1.19); \
             remove the flag and authenticate users through the identity provider"
        ));
    }
    if params.require_oidc
        && s.flag(OIDC_ISSUER_URL).is_none()
        && s.flag(AUTHENTICATION_CONFIG).is_none()
    {
        problems.push(format!(
            "has no identity-provider authentication (neither --{OIDC_ISSUER_URL} nor \
             --{AUTHENTICATION_CONFIG}), so human logins cannot be held to the IdP's MFA; \
             configure OIDC against the IdP, or set requireOidc: false if humans authenticate \
             another way"
        ));
    }
    problems
}

/// The authorization problems of one API server.
fn authorization_problems(s: &ApiServer<'_>, params: &AuthorizationParams) -> Vec<String> {
    let mut problems = Vec::new();
    if s.flag(AUTHORIZATION_CONFIG).is_none() {
        match s.flag(AUTHORIZATION_MODE) {
            None => problems.push(format!(
                "runs without --{AUTHORIZATION_MODE} (and without --{AUTHORIZATION_CONFIG}); \
                 older API servers then default to AlwaysAllow; pass \
                 --{AUTHORIZATION_MODE}=Node,RBAC"
            )),
            Some(value) => {
                let modes: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .collect();
                let has = |mode: &str| modes.iter().any(|m| m.eq_ignore_ascii_case(mode));
                if has("AlwaysAllow") {
                    problems.push(format!(
                        "runs with --{AUTHORIZATION_MODE}={value}: AlwaysAllow authorizes every \
                         request the earlier authorizers do not decide, so RBAC is meaningless; \
                         remove AlwaysAllow (e.g. --{AUTHORIZATION_MODE}=Node,RBAC)"
                    ));
                } else if !(has("RBAC") || (params.allow_webhook_authorizer && has("Webhook"))) {
                    problems.push(format!(
                        "runs with --{AUTHORIZATION_MODE}={value}, which does not include RBAC; \
                         add RBAC (or set allowWebhookAuthorizer if a Webhook authorizer enforces \
                         least privilege)"
                    ));
                }
            }
        }
    }
    if let Some(port) = s.flag(INSECURE_PORT)
        && port.trim() != "0"
    {
        problems.push(format!(
            "serves HTTP without authentication or authorization on --{INSECURE_PORT}={port}; \
             set --{INSECURE_PORT}=0 (the flag was removed in Kubernetes 1.24)"
        ));
    }
    problems
}

impl Check for ApiServerAuthentication {
    type Params = AuthenticationParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: AUTHN_ID,
            title: "The API server refuses anonymous and static credentials and uses an identity provider",
            description: "Each kube-apiserver static pod in kube-system fails when --anonymous-auth \
                is not false (Kubernetes defaults it to true; anonymous requests are still limited \
                by RBAC, but CIS 1.2.1 asks for false; parameter allowAnonymousAuth), when it \
                accepts static credentials (--token-auth-file, or --basic-auth-file on servers \
                older than 1.19), or when humans cannot log in through an identity provider that \
                enforces MFA (neither --oidc-issuer-url nor --authentication-config; parameter \
                requireOidc). The file behind --authentication-config is not read: it counts as \
                an identity provider, but anonymous access still needs --anonymous-auth=false or \
                an exception for the pod citing the file's anonymous section. When no API server \
                pod is visible (managed control plane: EKS, GKE, AKS) the check fails on \
                Cluster/control-plane until an attestation covers it, stating the provider's \
                anonymous-access setting and how humans sign in through the IdP with MFA. The \
                control's namespace scope does not apply.",
            criteria: &["CC6.1", "CC6.3"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Pod])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &AuthenticationParams) -> Outcome {
        let servers = api_servers(ctx.snapshot);
        if servers.is_empty() {
            return Outcome::evaluated(
                1,
                vec![not_observable(
                    AUTHN_ID,
                    "how the API server authenticates (anonymous access, static credentials, \
                     identity provider)",
                )],
            );
        }
        let findings = servers
            .iter()
            .filter_map(|s| finding(s, &authentication_problems(s, params)))
            .collect();
        Outcome::evaluated(servers.len(), findings)
    }
}

impl Check for ApiServerAuthorization {
    type Params = AuthorizationParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: AUTHZ_ID,
            title: "The API server authorizes every request with RBAC",
            description: "Each kube-apiserver static pod in kube-system fails when \
                --authorization-mode contains AlwaysAllow (every request is authorized, so every \
                RBAC check is meaningless), does not contain RBAC (parameter \
                allowWebhookAuthorizer accepts Webhook instead) or is absent (older API servers \
                then default to AlwaysAllow), and when it serves the unauthenticated \
                --insecure-port (non-zero; removed in 1.24). A structured --authorization-config \
                (1.30+) counts as configured: the file is not read, so the authorizers it lists \
                are taken on trust. When no API server pod is visible (managed control plane: EKS, \
                GKE, AKS) the check fails on Cluster/control-plane until an attestation covers it, \
                stating that the provider's API server authorizes with RBAC. The control's \
                namespace scope does not apply.",
            criteria: &["CC6.1", "CC6.3"],
            severity: Severity::Critical,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Pod])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &AuthorizationParams) -> Outcome {
        let servers = api_servers(ctx.snapshot);
        if servers.is_empty() {
            return Outcome::evaluated(
                1,
                vec![not_observable(
                    AUTHZ_ID,
                    "how the API server authorizes requests",
                )],
            );
        }
        let findings = servers
            .iter()
            .filter_map(|s| finding(s, &authorization_problems(s, params)))
            .collect();
        Outcome::evaluated(servers.len(), findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{AUTHN_ID, AUTHZ_ID, go_bool};
    use crate::checks::testing::{checked, failing, messages, now, run, run_scoped, snapshot};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    /// A kubeadm-style static pod; `flags` is a YAML flow list appended to the command.
    fn apiserver(name: &str, flags: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: kube-system, labels: {{component: kube-apiserver, tier: control-plane}}}}\n\
             spec: {{containers: [{{name: kube-apiserver, image: registry.k8s.io/kube-apiserver:v1.37.0, command: [kube-apiserver, --advertise-address=10.0.0.10, --secure-port=6443], args: {flags}}}]}}\n---\n"
        )
    }

    const HARDENED: &str = "[--anonymous-auth=false, '--authorization-mode=Node,RBAC', \
        --oidc-issuer-url=https://idp.example.com, --oidc-client-id=kubernetes]";

    #[test]
    fn hardened_api_servers_pass_both_checks() {
        let yaml = [
            apiserver("kube-apiserver-cp1", HARDENED),
            apiserver(
                "kube-apiserver-cp2",
                "[--anonymous-auth=false, --authentication-config=/etc/kubernetes/authn.yaml, \
                 --authorization-config=/etc/kubernetes/authz.yaml, --insecure-port=0]",
            ),
        ]
        .concat();
        for id in [AUTHN_ID, AUTHZ_ID] {
            assert_eq!(run(id, "", &yaml), Outcome::evaluated(2, vec![]), "{id}");
        }
    }

    #[test]
    fn anonymous_auth_fails_unless_explicitly_false() {
        let yaml = [
            apiserver(
                "kube-apiserver-default",
                "['--authorization-mode=Node,RBAC', --oidc-issuer-url=https://idp.example.com]",
            ),
            apiserver(
                "kube-apiserver-true",
                "[--anonymous-auth=true, --oidc-issuer-url=https://idp.example.com]",
            ),
            apiserver(
                "kube-apiserver-bare",
                "[--anonymous-auth, --oidc-issuer-url=https://idp.example.com]",
            ),
            apiserver(
                "kube-apiserver-zero",
                "[--anonymous-auth=0, --oidc-issuer-url=https://idp.example.com]",
            ),
        ]
        .concat();
        let out = run(AUTHN_ID, "", &yaml);
        assert_eq!(
            failing(&out),
            [
                "Pod/kube-system/kube-apiserver-bare",
                "Pod/kube-system/kube-apiserver-default",
                "Pod/kube-system/kube-apiserver-true",
            ]
        );
        let m = messages(&out);
        assert!(
            m[1].contains("kube-apiserver pod `kube-apiserver-default`"),
            "{}",
            m[1]
        );
        assert!(m[1].contains("defaults it to true"), "{}", m[1]);
        assert!(m[1].contains("--anonymous-auth=false"), "{}", m[1]);
        assert!(m[2].contains("runs with --anonymous-auth=true"), "{}", m[2]);
        let out = run(AUTHN_ID, "allowAnonymousAuth: true", &yaml);
        assert_eq!(failing(&out), Vec::<String>::new());
        assert_eq!(checked(&out), 4);
    }

    #[test]
    fn structured_authentication_needs_an_exception_for_anonymous_access() {
        let yaml = apiserver(
            "kube-apiserver-cp1",
            "[--authentication-config=/etc/kubernetes/authn.yaml]",
        );
        let out = run(AUTHN_ID, "", &yaml);
        let m = messages(&out);
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("record an exception"), "{}", m[0]);
        assert!(!m[0].contains("identity-provider"), "{}", m[0]);
    }

    #[test]
    fn static_credentials_fail() {
        let yaml = [
            apiserver(
                "kube-apiserver-tokens",
                "[--anonymous-auth=false, --oidc-issuer-url=https://idp.example.com, \
                 --token-auth-file=/etc/kubernetes/tokens.csv]",
            ),
            apiserver(
                "kube-apiserver-basic",
                "[--anonymous-auth=false, --oidc-issuer-url=https://idp.example.com, \
                 --basic-auth-file, /etc/kubernetes/basic.csv]",
            ),
        ]
        .concat();
        let out = run(AUTHN_ID, "", &yaml);
        assert_eq!(
            failing(&out),
            [
                "Pod/kube-system/kube-apiserver-basic",
                "Pod/kube-system/kube-apiserver-tokens",
            ]
        );
        let m = messages(&out);
        assert!(m[0].contains("--basic-auth-file"), "{}", m[0]);
        assert!(!m[0].contains("anonymous"), "{}", m[0]);
        assert!(m[1].contains("--token-auth-file"), "{}", m[1]);
        assert!(!m[1].contains("tokens.csv"), "{}", m[1]);
    }

    #[test]
    fn identity_provider_is_required_unless_turned_off() {
        let yaml = apiserver(
            "kube-apiserver-cp1",
            "[--anonymous-auth=false, '--authorization-mode=Node,RBAC']",
        );
        let out = run(AUTHN_ID, "", &yaml);
        assert_eq!(failing(&out), ["Pod/kube-system/kube-apiserver-cp1"]);
        let m = messages(&out);
        assert!(m[0].contains("--oidc-issuer-url"), "{}", m[0]);
        assert!(m[0].contains("requireOidc"), "{}", m[0]);
        let out = run(AUTHN_ID, "requireOidc: false", &yaml);
        assert_eq!(failing(&out), Vec::<String>::new());
    }

    #[test]
    fn always_allow_missing_or_non_rbac_authorization_fails() {
        let yaml = [
            apiserver(
                "kube-apiserver-always",
                "['--authorization-mode=Node,RBAC,AlwaysAllow']",
            ),
            apiserver("kube-apiserver-absent", "[--anonymous-auth=false]"),
            apiserver("kube-apiserver-abac", "['--authorization-mode=Node,ABAC']"),
            apiserver(
                "kube-apiserver-webhook",
                "[--authorization-mode, 'Node,Webhook']",
            ),
            apiserver("kube-apiserver-rbac", "['--authorization-mode=Node,RBAC']"),
        ]
        .concat();
        let out = run(AUTHZ_ID, "", &yaml);
        assert_eq!(
            failing(&out),
            [
                "Pod/kube-system/kube-apiserver-abac",
                "Pod/kube-system/kube-apiserver-absent",
                "Pod/kube-system/kube-apiserver-always",
                "Pod/kube-system/kube-apiserver-webhook",
            ]
        );
        assert_eq!(checked(&out), 5);
        let m = messages(&out);
        assert!(m[0].contains("does not include RBAC"), "{}", m[0]);
        assert!(m[1].contains("default to AlwaysAllow"), "{}", m[1]);
        assert!(m[2].contains("RBAC is meaningless"), "{}", m[2]);
        assert!(
            m[2].contains("--authorization-mode=Node,RBAC,AlwaysAllow"),
            "{}",
            m[2]
        );
        let out = run(AUTHZ_ID, "allowWebhookAuthorizer: true", &yaml);
        assert_eq!(
            failing(&out),
            [
                "Pod/kube-system/kube-apiserver-abac",
                "Pod/kube-system/kube-apiserver-absent",
                "Pod/kube-system/kube-apiserver-always",
            ]
        );
    }

    #[test]
    fn insecure_port_fails_when_not_zero() {
        let yaml = [
            apiserver(
                "kube-apiserver-insecure",
                "['--authorization-mode=Node,RBAC', --insecure-port=8080]",
            ),
            apiserver(
                "kube-apiserver-closed",
                "['--authorization-mode=Node,RBAC', --insecure-port=0]",
            ),
        ]
        .concat();
        let out = run(AUTHZ_ID, "", &yaml);
        assert_eq!(failing(&out), ["Pod/kube-system/kube-apiserver-insecure"]);
        let m = messages(&out);
        assert!(m[0].contains("--insecure-port=8080"), "{}", m[0]);
        assert!(m[0].contains("--insecure-port=0"), "{}", m[0]);
    }

    #[test]
    fn managed_control_plane_gives_one_finding_per_check() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n";
        for id in [AUTHN_ID, AUTHZ_ID] {
            let out = run(id, "", yaml);
            assert_eq!(failing(&out), ["Cluster/control-plane"], "{id}");
            assert_eq!(checked(&out), 1);
            let m = messages(&out);
            assert!(m[0].contains(&format!("check: {id}")), "{}", m[0]);
            assert!(m[0].contains("spec.attestations"), "{}", m[0]);
        }
    }

    #[test]
    fn attestation_satisfies_the_managed_control_plane_findings() {
        let control: crate::crd::Soc2Control = serde_json::from_value(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1",
            "kind": "Soc2Control",
            "metadata": {"name": "api-access"},
            "spec": {
                "controlId": "CC6.1",
                "criteria": "Security",
                "title": "API server access",
                "checks": [{"check": AUTHN_ID}, {"check": AUTHZ_ID}],
                "attestations": [
                    {
                        "check": AUTHN_ID,
                        "statement": "EKS: humans sign in via IAM Identity Center with MFA; no static tokens",
                        "attestedBy": "secops@example.com",
                        "expires": "2027-01-01"
                    },
                    {
                        "check": AUTHZ_ID,
                        "statement": "EKS API server authorizes with Node,RBAC (provider documentation)",
                        "attestedBy": "secops@example.com",
                        "expires": "2027-01-01"
                    }
                ]
            }
        }))
        .expect("control parses");
        let snap = snapshot("apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n");
        let result = crate::engine::evaluate_control(&control, &snap, now());
        for c in &result.checks {
            assert_eq!(c.status, crate::engine::Status::Attested, "{}", c.check);
        }
        assert!(result.compliant());
    }

    #[test]
    fn scope_does_not_hide_the_control_plane() {
        let yaml = apiserver("kube-apiserver-cp1", "[]");
        let scope = ScopeFilter::all().excluding(["kube-system"]);
        for id in [AUTHN_ID, AUTHZ_ID] {
            let out = run_scoped(id, "", &yaml, &scope);
            assert_eq!(
                failing(&out),
                ["Pod/kube-system/kube-apiserver-cp1"],
                "{id}"
            );
        }
    }

    #[test]
    fn params_are_typed_and_unknown_keys_refused() {
        let authn = catalog().get(AUTHN_ID).expect("registered");
        assert_eq!(
            authn.default_params(),
            json!({"allowAnonymousAuth": false, "requireOidc": true})
        );
        assert!(authn.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            authn
                .validate(Some(&json!({"requireOidc": "yes"})))
                .is_err()
        );
        let authz = catalog().get(AUTHZ_ID).expect("registered");
        assert_eq!(
            authz.default_params(),
            json!({"allowWebhookAuthorizer": false})
        );
        assert!(
            authz
                .validate(Some(&json!({"allowAnonymousAuth": true})))
                .is_err()
        );
    }

    #[test]
    fn booleans_parse_like_go() {
        for v in ["false", "0", "f", "F", "FALSE", "False"] {
            assert_eq!(go_bool(v), Some(false), "{v}");
        }
        for v in ["true", "1", "t", "TRUE"] {
            assert_eq!(go_bool(v), Some(true), "{v}");
        }
        assert_eq!(go_bool("no"), None);
        assert_eq!(go_bool(""), None);
    }
}
