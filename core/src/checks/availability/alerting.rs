//! `monitoring.alerting`: every critical workload has an availability alert that fires within
//! `maxFor`, and an Alertmanager is there to route it (prometheus-operator `PrometheusRule` and
//! `Alertmanager`, monitoring.coreos.com/v1).
//!
//! PromQL is not evaluated: a rule is read from its text. An alerting rule is an *availability*
//! rule when its expression uses one of `availabilityMetrics` (`up`, the kube-state-metrics
//! replica and readiness series, `probe_success`). It covers a workload when a label matcher
//! names it (`deployment="api"`, `job=~"api|web"`, … on one of `workloadLabels`), or when it
//! uses a `kube_<kind>_…` series with no matcher on the `<kind>` label (a rule for every
//! Deployment); and no `namespace` matcher excludes the workload's namespace. Which Prometheus
//! selects a rule (`ruleSelector`) is not judged.

use std::collections::{BTreeMap, HashMap};

use kube::core::DynamicObject;
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::redundancy::CRITICAL_LABEL;
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};
use crate::snapshot::DynKind;

/// Why `monitoring.alerting` cannot run.
pub const PROMETHEUS_OPERATOR_ABSENT: &str = "prometheus-operator API (monitoring.coreos.com/v1 \
     PrometheusRule) is not served by this cluster; if it is installed, enable \
     sources.prometheusOperator in the chart so the operator may read it";

/// Fails critical Deployments, StatefulSets and DaemonSets that no availability alert covers,
/// or whose covering alerts all wait longer than `maxFor` (`for:`; absent means 0) before
/// firing; fails `Cluster/alertmanager` when no Alertmanager runs (none, all paused, zero
/// replicas, or none available by its status), and `Cluster/alert-rules` when the API is
/// served but holds no alerting rule. NotApplicable when PrometheusRule is not served.
pub struct Alerting;

/// Parameters of `monitoring.alerting`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Labels (all must match, on the workload's own metadata) that mark a workload critical.
    /// Default `{"soc2.evidence.dev/critical": "true"}` (as `availability.redundancy`).
    pub critical_selector: BTreeMap<String, String>,
    /// Longest acceptable `for:` of an availability alert, in Prometheus duration syntax
    /// (`90s`, `5m`, `1h30m`). Default `5m`.
    pub max_for: MaxFor,
    /// Series whose use makes an alert an availability alert; entries ending in `*` are
    /// prefixes. Default `["up", "probe_success", "kube_deployment_status_replicas_available",
    /// "kube_deployment_status_replicas_unavailable", "kube_statefulset_status_replicas_ready",
    /// "kube_statefulset_status_replicas_available", "kube_daemonset_status_number_available",
    /// "kube_daemonset_status_number_unavailable", "kube_daemonset_status_number_ready",
    /// "kube_pod_status_ready", "kube_pod_container_status_ready"]`.
    pub availability_metrics: Vec<String>,
    /// Labels whose matcher value names a workload. Default `["deployment", "statefulset",
    /// "daemonset", "job", "service", "app", "app_kubernetes_io_name", "container",
    /// "workload"]`.
    pub workload_labels: Vec<String>,
    /// Require a running Alertmanager. Default `true`.
    pub require_alertmanager: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            critical_selector: BTreeMap::from([(CRITICAL_LABEL.to_string(), "true".to_string())]),
            max_for: MaxFor::try_from("5m".to_string()).expect("valid default"),
            availability_metrics: [
                "up",
                "probe_success",
                "kube_deployment_status_replicas_available",
                "kube_deployment_status_replicas_unavailable",
                "kube_statefulset_status_replicas_ready",
                "kube_statefulset_status_replicas_available",
                "kube_daemonset_status_number_available",
                "kube_daemonset_status_number_unavailable",
                "kube_daemonset_status_number_ready",
                "kube_pod_status_ready",
                "kube_pod_container_status_ready",
            ]
            .map(String::from)
            .to_vec(),
            workload_labels: [
                "deployment",
                "statefulset",
                "daemonset",
                "job",
                "service",
                "app",
                "app_kubernetes_io_name",
                "container",
                "workload",
            ]
            .map(String::from)
            .to_vec(),
            require_alertmanager: true,
        }
    }
}

/// The `maxFor` parameter: a Prometheus duration, checked when the parameters are parsed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MaxFor {
    text: String,
    ms: u64,
}

impl TryFrom<String> for MaxFor {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match prometheus_duration_ms(&text) {
            Some(ms) => Ok(Self { text, ms }),
            None => Err(format!(
                "params.maxFor: {text:?} is not a Prometheus duration like 90s, 5m or 1h30m"
            )),
        }
    }
}

impl From<MaxFor> for String {
    fn from(d: MaxFor) -> String {
        d.text
    }
}

impl JsonSchema for MaxFor {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PrometheusDuration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^(0|([0-9]+(ms|s|m|h|d|w|y))+)$"})
    }
}

/// A Prometheus duration (`5m`, `1h30m`, `500ms`, `0`) in milliseconds.
pub fn prometheus_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = match rest.as_bytes() {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            [b'w', ..] => (604_800_000, 1),
            [b'y', ..] => (31_536_000_000, 1),
            _ => return None,
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// One label matcher of an expression.
struct Matcher {
    label: String,
    op: String,
    value: String,
    /// The anchored regex of a `=~`/`!~` matcher, compiled once (`None`: it does not compile).
    regex: Option<Regex>,
}

impl Matcher {
    fn new(label: &str, op: &str, value: &str) -> Self {
        let regex = matches!(op, "=~" | "!~")
            .then(|| Regex::new(&format!("^(?:{value})$")).ok())
            .flatten();
        Self {
            label: label.to_string(),
            op: op.to_string(),
            value: value.to_string(),
            regex,
        }
    }

    /// Whether the matcher accepts `v` (a regex that does not compile accepts nothing).
    fn accepts(&self, v: &str) -> bool {
        match self.op.as_str() {
            "=" => self.value == v,
            "!=" => self.value != v,
            "=~" | "!~" => {
                let ok = self.regex.as_ref().is_some_and(|r| r.is_match(v));
                (self.op == "=~") == ok
            }
            _ => false,
        }
    }
}

/// One alerting rule, as read.
struct Rule {
    source: String,
    for_text: String,
    for_ms: Option<u64>,
    tokens: Vec<String>,
    matchers: Vec<Matcher>,
}

fn matches_any(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == p,
    })
}

fn rules(objects: &[std::sync::Arc<DynamicObject>]) -> Vec<Rule> {
    static MATCHER: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)""#)
            .expect("valid regex")
    });
    static TOKEN: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*").expect("valid regex"));
    let mut out = Vec::new();
    for obj in objects {
        let ns = obj.metadata.namespace.as_deref().unwrap_or("");
        let name = obj.metadata.name.as_deref().unwrap_or("");
        let groups = obj
            .data
            .pointer("/spec/groups")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for rule in groups
            .iter()
            .filter_map(|g| g.get("rules").and_then(Value::as_array))
            .flatten()
        {
            let Some(alert) = rule.get("alert").and_then(Value::as_str) else {
                continue;
            };
            let expr = match rule.get("expr") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            let for_text = rule
                .get("for")
                .and_then(Value::as_str)
                .unwrap_or("0")
                .to_string();
            // Matched strings are blanked so their contents are not read as series names.
            let stripped = MATCHER.replace_all(&expr, "");
            out.push(Rule {
                source: format!("{alert} (PrometheusRule {ns}/{name})"),
                for_ms: prometheus_duration_ms(&for_text),
                for_text,
                tokens: TOKEN
                    .find_iter(&stripped)
                    .map(|m| m.as_str().to_string())
                    .collect(),
                matchers: MATCHER
                    .captures_iter(&expr)
                    .map(|c| Matcher::new(&c[1], &c[2], &c[3]))
                    .collect(),
            });
        }
    }
    out
}

impl Rule {
    fn is_availability(&self, params: &Params) -> bool {
        self.tokens
            .iter()
            .any(|t| matches_any(t, &params.availability_metrics))
    }

    /// The namespace an equality matcher pins the rule to, if any: the rule can cover only
    /// workloads there.
    fn pinned_namespace(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.label == "namespace" && m.op == "=")
            .map(|m| m.value.as_str())
    }

    /// Whether the rule covers a workload named `name` in `ns` whose kind, lower case, is
    /// `kind_label` (`series` is `kube_<kind_label>_`).
    fn covers(
        &self,
        params: &Params,
        kind_label: &str,
        series: &str,
        ns: &str,
        name: &str,
    ) -> bool {
        if self
            .matchers
            .iter()
            .any(|m| m.label == "namespace" && !m.accepts(ns))
        {
            return false;
        }
        let names_it = self.matchers.iter().any(|m| {
            params.workload_labels.contains(&m.label)
                && matches!(m.op.as_str(), "=" | "=~")
                && m.accepts(name)
        });
        let every_one = self.tokens.iter().any(|t| t.starts_with(series))
            && !self.matchers.iter().any(|m| m.label == kind_label);
        names_it || every_one
    }
}

/// Why no Alertmanager counts as running, if none does.
fn alertmanager_problem(objects: Option<&[std::sync::Arc<DynamicObject>]>) -> Option<String> {
    let objects = objects.unwrap_or_default();
    if objects.is_empty() {
        return Some(
            "there is no Alertmanager: alerts fire but reach no one; create a \
             monitoring.coreos.com/v1 Alertmanager and point Prometheus at it"
                .to_string(),
        );
    }
    let running = objects.iter().any(|a| {
        let int = |p: &str| a.data.pointer(p).and_then(Value::as_i64);
        let paused = a
            .data
            .pointer("/spec/paused")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let replicas = int("/spec/replicas").unwrap_or(1);
        let available = a.data.pointer("/status").is_none()
            || int("/status/availableReplicas").unwrap_or(0) > 0;
        !paused && replicas > 0 && available
    });
    (!running).then(|| {
        let names: Vec<String> = objects
            .iter()
            .map(|a| {
                format!(
                    "{}/{}",
                    a.metadata.namespace.as_deref().unwrap_or(""),
                    a.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        format!(
            "no Alertmanager is running (paused, zero replicas or none available): {}",
            names.join(", ")
        )
    })
}

impl Check for Alerting {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "monitoring.alerting",
            title: "Critical workloads have availability alerts routed to an Alertmanager",
            description: "A Deployment, StatefulSet or DaemonSet labelled critical fails when no \
                          PrometheusRule availability alert covers it with for: at most maxFor; \
                          the cluster fails when no Alertmanager runs.",
            criteria: &["A1.1"],
            severity: Severity::Medium,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::PrometheusRule),
            crate::snapshot::KindId::Dyn(crate::snapshot::DynKind::Alertmanager),
        ]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let Some(objects) = ctx.snapshot.dynamic.get(DynKind::PrometheusRule) else {
            return Outcome::not_applicable(PROMETHEUS_OPERATOR_ABSENT);
        };
        let max_for_ms = params.max_for.ms;
        let max_for = params.max_for.text.as_str();
        let all = rules(objects);
        let mut checked = 1;
        let mut findings = Vec::new();
        if all.is_empty() {
            findings.push(Finding::new(
                ResourceRef::new("Cluster", None, "alert-rules"),
                "PrometheusRule is served but holds no alerting rule: the alerting control is \
                 not operating",
            ));
        }
        if params.require_alertmanager {
            checked += 1;
            if let Some(why) = alertmanager_problem(ctx.snapshot.dynamic.get(DynKind::Alertmanager))
            {
                findings.push(Finding::new(
                    ResourceRef::new("Cluster", None, "alertmanager"),
                    why,
                ));
            }
        }
        // Availability rules by the namespace they are pinned to; the others may cover any.
        // (Each with its position, so that messages list rules in their order.)
        let mut pinned: HashMap<&str, Vec<(usize, &Rule)>> = HashMap::new();
        let mut anywhere: Vec<(usize, &Rule)> = Vec::new();
        for (i, r) in all
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_availability(params))
        {
            match r.pinned_namespace() {
                Some(ns) => pinned.entry(ns).or_default().push((i, r)),
                None => anywhere.push((i, r)),
            }
        }
        for w in ctx.snapshot.workloads() {
            if !matches!(w.kind, "Deployment" | "StatefulSet" | "DaemonSet") {
                continue;
            }
            let labels = w.labels();
            if !params
                .critical_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
                || !ctx.in_scope(w.namespace())
            {
                continue;
            }
            checked += 1;
            let name = w.meta.name.as_deref().unwrap_or("");
            let kind_label = w.kind.to_ascii_lowercase();
            let series = format!("kube_{kind_label}_");
            let mut covering: Vec<(usize, &Rule)> = pinned
                .get(w.namespace())
                .into_iter()
                .flatten()
                .chain(&anywhere)
                .copied()
                .filter(|(_, r)| r.covers(params, &kind_label, &series, w.namespace(), name))
                .collect();
            covering.sort_by_key(|(i, _)| *i);
            let covering: Vec<&Rule> = covering.into_iter().map(|(_, r)| r).collect();
            if covering.is_empty() {
                findings.push(Finding::new(
                    w.resource(),
                    format!(
                        "no availability alert covers this critical workload (a PrometheusRule \
                         alert on up, probe_success or the kube-state-metrics replica series, \
                         naming it by {} or its namespace); add one with for: at most {}",
                        params.workload_labels.join("/"),
                        max_for
                    ),
                ));
                continue;
            }
            if covering
                .iter()
                .any(|r| r.for_ms.is_some_and(|f| f <= max_for_ms))
            {
                continue;
            }
            let slow: Vec<String> = covering
                .iter()
                .map(|r| format!("{} for: {}", r.source, r.for_text))
                .collect();
            findings.push(Finding::new(
                w.resource(),
                format!(
                    "its availability alerts wait longer than {} before firing: {}",
                    max_for,
                    slow.join("; ")
                ),
            ));
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{ScopeFilter, catalog};

    const ID: &str = "monitoring.alerting";
    const PASS: &str = include_str!("../../../tests/fixtures/ecosystem/prometheus/pass.yaml");
    const FAIL: &str = include_str!("../../../tests/fixtures/ecosystem/prometheus/fail.yaml");
    const CRITICAL: &str = "criticalSelector: {tier: critical}";

    fn deployment(ns: &str, name: &str) -> String {
        format!(
            r#"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}, labels: {{tier: critical}}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "x:1"}}]}}
"#
        )
    }

    #[test]
    fn pass_fixture_passes() {
        let y = format!("{PASS}{}", deployment("payments", "checkout-api"));
        let o = run(ID, CRITICAL, &y);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 3);
    }

    #[test]
    fn fail_fixture_fails_slow_missing_alerts_and_no_alertmanager() {
        let y = format!("{FAIL}{}", deployment("payments", "checkout-api"));
        let o = run(ID, CRITICAL, &y);
        assert_eq!(
            failing(&o),
            [
                "Cluster/alertmanager",
                "Deployment/payments/checkout-api",
                "Deployment/payments/ledger"
            ]
        );
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated");
        };
        assert!(
            findings[1].message.contains("for: 15m"),
            "{}",
            findings[1].message
        );
        // ledger has only a latency warning: not an availability alert.
        assert!(findings[2].message.contains("no availability alert"));
        // maxFor is a parameter.
        assert_eq!(
            failing(&run(
                ID,
                "{criticalSelector: {tier: critical}, maxFor: 15m}",
                &y
            )),
            ["Cluster/alertmanager", "Deployment/payments/ledger"]
        );
    }

    #[test]
    fn not_applicable_without_the_api_and_failing_when_empty() {
        let o = run(ID, CRITICAL, &deployment("a", "api"));
        let Outcome::NotApplicable { reason } = &o else {
            panic!("not applicable expected: {o:?}");
        };
        assert!(reason.contains("monitoring.coreos.com/v1"), "{reason}");
        let crd = r#"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, plural: prometheusrules}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true}]
"#;
        let o = run(ID, CRITICAL, &format!("{}{crd}", deployment("a", "api")));
        assert_eq!(
            failing(&o),
            [
                "Cluster/alert-rules",
                "Cluster/alertmanager",
                "Deployment/a/api"
            ]
        );
    }

    #[test]
    fn coverage_by_regex_and_by_every_deployment_rules_and_namespace_matchers() {
        let rules = r#"
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r, namespace: monitoring}
spec:
  groups:
  - name: g
    rules:
    - alert: WebDown
      expr: sum(up{job=~"web|search"}) == 0
      for: 2m
    - alert: AnyDeploymentDown
      expr: kube_deployment_status_replicas_available{namespace="payments"} < 1
      for: 5m
    - alert: OtherNamespace
      expr: up{namespace="elsewhere", app="lonely"} == 0
---
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata: {name: main, namespace: monitoring}
spec: {replicas: 1}
"#;
        let y = format!(
            "{rules}{}{}{}",
            deployment("web", "search"),
            deployment("payments", "ledger"),
            deployment("shop", "lonely")
        );
        let o = run(ID, CRITICAL, &y);
        assert_eq!(failing(&o), ["Deployment/shop/lonely"]);
        let o = run_scoped(ID, CRITICAL, &y, &ScopeFilter::all().excluding(["shop"]));
        assert!(failing(&o).is_empty());
        // A paused Alertmanager does not count.
        let paused = y.replace("spec: {replicas: 1}", "spec: {replicas: 1, paused: true}");
        assert_eq!(
            failing(&run(ID, CRITICAL, &paused))[0],
            "Cluster/alertmanager"
        );
        let o = run(
            ID,
            &format!("{{{CRITICAL}, requireAlertmanager: false}}"),
            &paused,
        );
        assert_eq!(failing(&o), ["Deployment/shop/lonely"]);
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        let e = c
            .validate(Some(&json!({"maxFor": "5 minutes"})))
            .expect_err("refused");
        assert!(e.0.contains("params.maxFor"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(prometheus_duration_ms("5m"), Some(300_000));
        assert_eq!(prometheus_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(prometheus_duration_ms("500ms"), Some(500));
        assert_eq!(prometheus_duration_ms("0"), Some(0));
        assert_eq!(prometheus_duration_ms("5"), None);
        assert_eq!(prometheus_duration_ms("five"), None);
        assert_eq!(prometheus_duration_ms(""), None);
    }
}
