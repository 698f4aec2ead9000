//! `data.credentials-in-plain-config`: credentials in env values and ConfigMaps instead of
//! Secrets.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::checks::workload::{containers, join_problems};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, ResourceRef, Severity};

/// The default credential-name pattern.
pub const DEFAULT_NAME_PATTERN: &str =
    r"(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credentials?)";

/// Flags literal env values whose name looks like a credential, ConfigMap keys whose name
/// looks like a credential, and env or ConfigMap values that contain a PEM private key or an
/// AWS access key id. One finding per workload or ConfigMap; messages never contain values.
pub struct CredentialsInPlainConfig;

/// A regular expression parameter, compiled when the parameters are parsed so that an invalid
/// pattern is refused by validation (and compiled once per evaluation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern {
    source: String,
    regex: Regex,
}

impl NamePattern {
    /// Whether a key or variable name looks like a credential.
    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl TryFrom<String> for NamePattern {
    type Error = String;
    fn try_from(source: String) -> Result<Self, String> {
        match Regex::new(&source) {
            Ok(regex) => Ok(Self { source, regex }),
            Err(e) => Err(format!(
                "params.namePattern is not a valid regular expression: {e}"
            )),
        }
    }
}

impl From<NamePattern> for String {
    fn from(p: NamePattern) -> String {
        p.source
    }
}

impl JsonSchema for NamePattern {
    fn schema_name() -> Cow<'static, str> {
        "NamePattern".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "regex"})
    }
}

/// Parameters of `data.credentials-in-plain-config`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Regular expression (Rust `regex` syntax) for env var names and ConfigMap keys that hold
    /// credentials. Default
    /// `(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credentials?)`.
    pub name_pattern: NamePattern,
    /// ConfigMaps (by name, in any namespace) not to inspect. Default `["kube-root-ca.crt"]`.
    pub ignore_config_maps: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            name_pattern: NamePattern {
                source: DEFAULT_NAME_PATTERN.to_string(),
                regex: Regex::new(DEFAULT_NAME_PATTERN).expect("default pattern is valid"),
            },
            ignore_config_maps: vec!["kube-root-ca.crt".to_string()],
        }
    }
}

/// Private key material in PEM form (RSA, EC, OPENSSH, PKCS#8, encrypted).
static PEM_PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----").expect("constant regex")
});
/// AWS access key ids (long-term `AKIA`, temporary `ASIA`).
static AWS_ACCESS_KEY_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b").expect("constant regex"));

/// What secret material a value contains, if any.
fn secret_content(value: &str) -> Option<&'static str> {
    if PEM_PRIVATE_KEY.is_match(value) {
        Some("a PEM private key")
    } else if AWS_ACCESS_KEY_ID.is_match(value) {
        Some("an AWS access key id")
    } else {
        None
    }
}

/// Values that are not credentials even under a credential-looking name: empty, variable
/// references (`$(VAR)`, `${VAR}`), templates (`{{ ... }}`), `<placeholders>`, masks (`***`,
/// `xxxx`), absolute file paths (the `*_FILE` convention) and words such as `redacted`,
/// `none`, `true`.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.starts_with('$') || v.contains("{{") || v.starts_with('/') {
        return true;
    }
    if v.starts_with('<') && v.ends_with('>') {
        return true;
    }
    if v.chars()
        .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '-' | '#' | '_'))
    {
        return true;
    }
    const WORDS: [&str; 17] = [
        "true",
        "false",
        "yes",
        "no",
        "none",
        "null",
        "nil",
        "n/a",
        "tbd",
        "todo",
        "redacted",
        "placeholder",
        "replaceme",
        "replace-me",
        "replace_me",
        "enabled",
        "disabled",
    ];
    WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// The problem with one named value, if any. Never includes the value.
fn value_problem(
    pattern: &NamePattern,
    name: &str,
    value: &str,
    subject: &str,
    fix: &str,
) -> Option<String> {
    if let Some(what) = secret_content(value) {
        return Some(format!("{subject} contains {what}; {fix}"));
    }
    if pattern.is_match(name) && !is_placeholder(value) {
        return Some(format!(
            "{subject} holds a literal value under a credential-like name; {fix}"
        ));
    }
    None
}

impl Check for CredentialsInPlainConfig {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "data.credentials-in-plain-config",
            title: "Credentials are kept in Secrets, not in env values or ConfigMaps",
            description: "A workload fails when a container env var with a credential-like name \
                          has a literal value, or any env value contains a private key or AWS \
                          access key id; a ConfigMap fails when a key has a credential-like name \
                          or a value contains such material.",
            criteria: &["CC6.1", "C1.1"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let pattern = &params.name_pattern;
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !ctx.in_scope(w.namespace()) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            for c in containers(w.spec) {
                for e in c.env {
                    let Some(value) = e.value.as_deref() else {
                        continue;
                    };
                    let subject = format!("{} env `{}`", c.describe(), e.name);
                    problems.extend(value_problem(
                        pattern,
                        &e.name,
                        value,
                        &subject,
                        "store it in a Secret and use valueFrom.secretKeyRef",
                    ));
                }
            }
            if !problems.is_empty() {
                findings.push(Finding::new(w.resource(), join_problems(&problems)));
            }
        }
        for cm in &ctx.snapshot.config_maps {
            let name = cm.metadata.name.as_deref().unwrap_or("");
            if params.ignore_config_maps.iter().any(|i| i == name)
                || !ctx.in_scope(cm.metadata.namespace.as_deref().unwrap_or(""))
            {
                continue;
            }
            checked += 1;
            let fix = "move it to a Secret";
            let mut problems = Vec::new();
            for (key, value) in cm.data.iter().flatten() {
                let subject = format!("key `{key}`");
                problems.extend(value_problem(pattern, key, value, &subject, fix));
            }
            for (key, value) in cm.binary_data.iter().flatten() {
                let subject = format!("binaryData key `{key}`");
                let text = std::str::from_utf8(&value.0).unwrap_or("");
                let problem = match secret_content(text) {
                    Some(what) => Some(format!("{subject} contains {what}; {fix}")),
                    None if pattern.is_match(key) && !value.0.is_empty() => {
                        Some(format!("{subject} has a credential-like name; {fix}"))
                    }
                    None => None,
                };
                problems.extend(problem);
            }
            if !problems.is_empty() {
                findings.push(Finding::new(
                    ResourceRef::of(cm.as_ref()),
                    join_problems(&problems),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::is_placeholder;
    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "data.credentials-in-plain-config";

    const PLANTED_PASSWORD: &str = "hunter2-Planted-Value-9f3b";
    const PLANTED_AWS: &str = "AKIAIOSFODNN7EXAMPLE";

    fn fixture() -> String {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: a}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      initContainers:
      - name: migrate
        image: x:1
        env: [{{name: AWS_ACCESS_KEY_ID, value: "{PLANTED_AWS}"}}]
      containers:
      - name: app
        image: x:1
        env:
        - {{name: DB_PASSWORD, value: "{PLANTED_PASSWORD}"}}
        - {{name: LOG_LEVEL, value: debug}}
        - {{name: API_TOKEN, valueFrom: {{secretKeyRef: {{name: s, key: token}}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: a}}
data:
  db_password: "{PLANTED_PASSWORD}"
  tls.key: |
    -----BEGIN RSA PRIVATE KEY-----
    MIIEplantedKeyMaterial
    -----END RSA PRIVATE KEY-----
  greeting: hello
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: kube-root-ca.crt, namespace: a}}
data:
  ca.crt: "-----BEGIN CERTIFICATE-----"
  secret_note: "{PLANTED_PASSWORD}"
"#
        )
    }

    const CLEAN: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: a}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: app
        image: x:1
        env:
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - {name: DB_PASSWORD_FILE, value: /run/secrets/db}
        - {name: API_TOKEN, value: "$(TOKEN_FROM_SECRET)"}
        - {name: SECRET_NAME_HINT, value: ""}
        - {name: LOG_LEVEL, value: debug}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: a}
data:
  log_level: info
  password_policy_hint: "<set in vault>"
"#;

    fn messages(o: &Outcome) -> Vec<String> {
        match o {
            Outcome::Evaluated { findings, .. } => {
                findings.iter().map(|f| f.message.clone()).collect()
            }
            Outcome::NotApplicable { reason } => panic!("{reason}"),
        }
    }

    #[test]
    fn clean_config_passes() {
        let o = run(ID, "", CLEAN);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn credentials_fail_and_ignored_config_maps_are_skipped() {
        let o = run(ID, "", &fixture());
        assert_eq!(failing(&o), ["Deployment/a/api", "ConfigMap/a/settings"]);
        assert_eq!(checked(&o), 2);
        let m = messages(&o);
        assert!(
            m[0].contains("container `app` env `DB_PASSWORD`"),
            "{}",
            m[0]
        );
        assert!(
            m[0].contains(
                "initContainer `migrate` env `AWS_ACCESS_KEY_ID` contains an AWS access key id"
            ),
            "{}",
            m[0]
        );
        assert!(
            !m[0].contains("LOG_LEVEL") && !m[0].contains("API_TOKEN"),
            "{}",
            m[0]
        );
        assert!(m[1].contains("key `db_password`"), "{}", m[1]);
        assert!(
            m[1].contains("key `tls.key` contains a PEM private key"),
            "{}",
            m[1]
        );
        assert!(!m[1].contains("greeting"), "{}", m[1]);
    }

    #[test]
    fn values_never_appear_in_findings() {
        let o = run(ID, "", &fixture());
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert!(!findings.is_empty());
        for f in findings {
            let text = format!("{} {}", f.message, f.resource);
            for planted in [
                PLANTED_PASSWORD,
                PLANTED_AWS,
                "MIIEplantedKeyMaterial",
                "hunter2",
            ] {
                assert!(!text.contains(planted), "finding leaks a value: {text}");
            }
        }
    }

    #[test]
    fn name_pattern_param() {
        let o = run(ID, "namePattern: '^DB_'", &fixture());
        // db_password is lower case, so only the env var and the PEM/AWS content remain.
        assert_eq!(failing(&o), ["Deployment/a/api", "ConfigMap/a/settings"]);
        let m = messages(&o);
        assert!(!m[1].contains("db_password"), "{}", m[1]);
        let o = run(ID, "namePattern: '^NOTHING$'", CLEAN);
        assert!(failing(&o).is_empty());
    }

    #[test]
    fn ignore_config_maps_param() {
        let o = run(ID, "ignoreConfigMaps: [settings]", &fixture());
        assert_eq!(
            failing(&o),
            ["Deployment/a/api", "ConfigMap/a/kube-root-ca.crt"]
        );
    }

    #[test]
    fn invalid_regex_is_refused_by_validation() {
        let c = catalog().get(ID).expect("registered");
        let err = c
            .validate(Some(&json!({"namePattern": "(unclosed"})))
            .expect_err("invalid regex refused");
        assert!(err.0.contains("params.namePattern"), "{err}");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(c.validate(Some(&json!({"namePattern": "(?i)pin"}))).is_ok());
        assert_eq!(
            c.default_params()["namePattern"],
            json!(super::DEFAULT_NAME_PATTERN)
        );
    }

    #[test]
    fn placeholders() {
        for v in [
            "",
            "  ",
            "${X}",
            "$(X)",
            "{{ .Values.pw }}",
            "<redacted>",
            "****",
            "xxxx",
            "REDACTED",
            "/run/secrets/pw",
            "false",
        ] {
            assert!(is_placeholder(v), "{v:?}");
        }
        for v in ["hunter2", "changeme", "123456", "s3cr3t!"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
    }

    #[test]
    fn scope_is_respected() {
        let o = run_scoped(ID, "", &fixture(), &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 0);
    }
}
