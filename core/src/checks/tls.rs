//! Checks of the `tls` domain: Ingress hosts are served over TLS.
//!
//! This module only reads Ingress specs; it does not inspect certificates or Secrets (those are
//! never in a snapshot). The admission rule for `tls.ingress` is built by the enforcement
//! controller.

use k8s_openapi::api::networking::v1::Ingress;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Catalog, Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(IngressTls);
}

/// `tls.ingress`.
struct IngressTls;

/// The legacy annotation that named an Ingress's class before `spec.ingressClassName`.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Parameters of `tls.ingress`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressTlsParams {
    /// Ingresses of these classes (`spec.ingressClassName`, or the legacy
    /// `kubernetes.io/ingress.class` annotation) are skipped, e.g. internal-only controllers.
    /// Default: none.
    pub ignore_ingress_classes: Vec<String>,
}

/// Whether a TLS host entry covers a rule host. Names compare case-insensitively; a wildcard
/// `*.example.com` covers exactly one extra leftmost label (`a.example.com`, not
/// `example.com` nor `a.b.example.com`), and a wildcard rule host needs the same wildcard.
pub(crate) fn covers(tls_host: &str, host: &str) -> bool {
    let tls_host = tls_host.trim_end_matches('.');
    let host = host.trim_end_matches('.');
    if tls_host.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = tls_host.strip_prefix("*.") else {
        return false;
    };
    match host.split_once('.') {
        Some((label, rest)) => {
            !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(suffix)
        }
        None => false,
    }
}

fn ingress_class(ing: &Ingress) -> Option<&str> {
    ing.spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ing.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CLASS_ANNOTATION))
                .map(String::as_str)
        })
}

/// What an Ingress serves without TLS.
fn problems(ing: &Ingress) -> Vec<String> {
    let Some(spec) = ing.spec.as_ref() else {
        return Vec::new();
    };
    let tls_hosts: Vec<&str> = spec
        .tls
        .iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten())
        .map(String::as_str)
        .collect();
    let has_tls = spec.tls.as_ref().is_some_and(|t| !t.is_empty());
    let mut uncovered: Vec<&str> = Vec::new();
    let mut hostless = false;
    for rule in spec.rules.iter().flatten() {
        match rule.host.as_deref().filter(|h| !h.is_empty()) {
            Some(host) => {
                if !tls_hosts.iter().any(|t| covers(t, host)) && !uncovered.contains(&host) {
                    uncovered.push(host);
                }
            }
            None => hostless = true,
        }
    }
    let catch_all = spec.rules.as_ref().is_none_or(Vec::is_empty) && spec.default_backend.is_some();
    let mut out = Vec::new();
    if !uncovered.is_empty() {
        let hosts: Vec<String> = uncovered.iter().map(|h| format!("`{h}`")).collect();
        out.push(format!(
            "host(s) {} are not covered by spec.tls; add them to spec.tls[].hosts with a \
             certificate secretName",
            hosts.join(", ")
        ));
    }
    if (hostless || catch_all) && !has_tls {
        out.push(
            "it serves requests for any host without TLS; add a spec.tls section (and set rule \
             hosts)"
                .to_string(),
        );
    }
    out
}

impl Check for IngressTls {
    type Params = IngressTlsParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "tls.ingress",
            title: "Ingress hosts are served over TLS",
            description: "An Ingress fails when a rule host is not covered by any spec.tls[].hosts \
                entry (wildcards cover one label), or when it has host-less rules or only a \
                default backend and no TLS section.",
            criteria: &["CC6.6", "CC6.7"],
            severity: Severity::High,
            remediable: false,
            admission: true,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[crate::snapshot::KindId::Ingress])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &IngressTlsParams) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for chunk in ctx
            .snapshot
            .ingresses
            .chunk_by(|a, b| a.metadata.namespace == b.metadata.namespace)
        {
            let ns = chunk
                .first()
                .and_then(|i| i.metadata.namespace.as_deref())
                .unwrap_or("");
            if !ctx.in_scope(ns) {
                continue;
            }
            for ing in chunk {
                if ingress_class(ing)
                    .is_some_and(|c| params.ignore_ingress_classes.iter().any(|i| i == c))
                {
                    continue;
                }
                checked += 1;
                let problems = problems(ing);
                if problems.is_empty() {
                    continue;
                }
                let name = ing.metadata.name.as_deref().unwrap_or("");
                findings.push(Finding::new(
                    ResourceRef::new("Ingress", Some(ns), name),
                    format!("Ingress `{name}`: {}", problems.join("; ")),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::covers;
    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "tls.ingress";

    fn ingress(ns: &str, name: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n"
        )
    }

    const BACKEND: &str = "{paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}";

    fn rule(host: &str) -> String {
        format!("{{host: {host}, http: {BACKEND}}}")
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.Example.com", "A.example.COM"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "a.example.org"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "*.b.example.com"));
        assert!(covers("shop.example.com", "shop.example.com."));
        assert!(!covers("shop.example.com", "a.shop.example.com"));
    }

    #[test]
    fn covered_hosts_pass() {
        let yaml = [
            ingress(
                "a",
                "web",
                &format!(
                    "{{tls: [{{hosts: [shop.example.com], secretName: s}}, {{hosts: ['*.api.example.com'], secretName: w}}], rules: [{}, {}]}}",
                    rule("shop.example.com"),
                    rule("v1.api.example.com")
                ),
            ),
            ingress(
                "a",
                "hostless",
                &format!("{{tls: [{{secretName: default}}], rules: [{{http: {BACKEND}}}]}}"),
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn partially_covered_ingress_names_the_uncovered_host() {
        // Tricky case: two hosts, TLS covers only one -> one finding naming the other.
        let yaml = ingress(
            "a",
            "two",
            &format!(
                "{{tls: [{{hosts: [a.example.com], secretName: s}}], rules: [{}, {}]}}",
                rule("a.example.com"),
                rule("b.example.com")
            ),
        );
        let out = run(ID, "", &yaml);
        assert_eq!(failing(&out), vec!["Ingress/a/two"]);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("`b.example.com`"));
        assert!(!findings[0].message.contains("`a.example.com`"));
    }

    #[test]
    fn ingresses_without_tls_fail() {
        let yaml = [
            ingress(
                "a",
                "plain",
                &format!("{{rules: [{}]}}", rule("a.example.com")),
            ),
            ingress(
                "a",
                "hostless",
                &format!("{{rules: [{{http: {BACKEND}}}]}}"),
            ),
            ingress(
                "a",
                "default",
                "{defaultBackend: {service: {name: web, port: {number: 80}}}}",
            ),
            ingress(
                "b",
                "deep",
                &format!(
                    "{{tls: [{{hosts: ['*.example.com']}}], rules: [{}]}}",
                    rule("a.b.example.com")
                ),
            ),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec![
                "Ingress/a/default",
                "Ingress/a/hostless",
                "Ingress/a/plain",
                "Ingress/b/deep"
            ]
        );
        assert_eq!(checked(&out), 4);
    }

    #[test]
    fn ignore_ingress_classes_param() {
        let yaml = [
            ingress(
                "a",
                "internal",
                &format!("{{ingressClassName: internal, rules: [{}]}}", rule("a.corp")),
            ),
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: legacy, namespace: a, annotations: {kubernetes.io/ingress.class: internal}}\nspec: {rules: [{host: b.corp}]}\n---\n".to_string(),
            ingress(
                "a",
                "public",
                &format!("{{ingressClassName: nginx, rules: [{}]}}", rule("a.example.com")),
            ),
        ]
        .concat();
        assert_eq!(failing(&run(ID, "", &yaml)).len(), 3);
        let out = run(ID, "ignoreIngressClasses: [internal]", &yaml);
        assert_eq!(failing(&out), vec!["Ingress/a/public"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn scope_excludes_namespaces() {
        let yaml = [
            ingress("a", "x", &format!("{{rules: [{}]}}", rule("a.example.com"))),
            ingress("b", "x", &format!("{{rules: [{}]}}", rule("b.example.com"))),
        ]
        .concat();
        let out = run_scoped(ID, "", &yaml, &ScopeFilter::all().excluding(["b"]));
        assert_eq!(failing(&out), vec!["Ingress/a/x"]);
        assert_eq!(checked(&out), 1);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(check.meta().admission);
    }
}
