//! Cilium and Calico network policies as ingress isolation, next to Kubernetes NetworkPolicy.
//!
//! A [`CniView`] parses, once per evaluation, every `CiliumNetworkPolicy`,
//! `CiliumClusterwideNetworkPolicy`, Calico `NetworkPolicy` and Calico `GlobalNetworkPolicy` the
//! snapshot holds into [`CniPolicy`]s: what a policy selects and whether it puts the pods it
//! selects into default-deny for ingress. The checks ask it two questions: does a policy deny
//! ingress by default for every pod of a namespace, and is a pod selected by a policy that
//! isolates its ingress. When none of these APIs is served the view is empty and the checks
//! behave as with Kubernetes NetworkPolicy alone.
//!
//! Cilium (`cilium.io/v2`, read from the CRD schema and `pkg/policy/api`): a rule
//! (`spec`, or each of `specs`) with an `endpointSelector` puts the endpoints it selects into
//! default-deny for ingress when `enableDefaultDeny.ingress` is true, or, when that is unset,
//! when its `ingress` or `ingressDeny` list is non-empty (`ingress: []` has no effect, `ingress:
//! [{}]` denies everything). Rules with a `nodeSelector` (host policies) are ignored. Selector
//! keys may carry a source prefix (`k8s:`, `any:`); pods carry their labels plus
//! `io.kubernetes.pod.namespace`, `io.cilium.k8s.namespace.labels.<key>` and
//! `io.cilium.k8s.policy.serviceaccount`. A CiliumNetworkPolicy only ever selects pods of its
//! own namespace. An ingress rule lets in any source when it has ports or ICMP types but no
//! peer (`fromEndpoints`, `fromCIDR`, `fromCIDRSet`, `fromEntities`, `fromGroups`, `fromNodes`,
//! `fromRequires`), or when a peer is the entity `all`/`world` or the whole address range.
//! Not modelled: the agent's `policyEnforcementMode` (`always` isolates every endpoint).
//!
//! Calico (`crd.projectcalico.org/v1` or `projectcalico.org/v3`, see
//! [`crate::snapshot::dynamic`]): a policy governs ingress when `types` lists `Ingress`, or,
//! when `types` is empty, unless it has egress rules and no ingress rules (Calico's
//! defaulting). It selects pods by its `selector` (plus `namespaceSelector` for a
//! GlobalNetworkPolicy, and `serviceAccountSelector`). Pods carry their labels plus
//! `projectcalico.org/namespace`, `projectcalico.org/orchestrator: k8s`,
//! `projectcalico.org/serviceaccount`, `pcns.<key>` (namespace labels) and `pcsa.<key>`
//! (service account labels); namespaces are matched on their labels plus
//! `projectcalico.org/name`. An ingress rule lets in any source when its action is `Allow` or
//! `Pass` and its `source` has no selector, namespace selector, service accounts, services or
//! `notNets`, and no `nets` other than the whole address range. A selector that does not parse
//! (see `calico_selector`) selects nothing and is named in the findings. Not modelled: tiers
//! whose default action is `Pass`.

use std::collections::{BTreeMap, HashMap};

use kube::core::DynamicObject;
use serde_json::Value;

use super::calico_selector::{Expr, Labels};
use crate::snapshot::{ClusterSnapshot, DynKind};

/// Source ranges that stand for "any address".
const ANY_CIDRS: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// Cilium entities that stand for "anywhere, including outside the cluster".
const ANY_ENTITIES: [&str; 4] = ["all", "world", "world-ipv4", "world-ipv6"];

/// Cilium's label for a pod's namespace.
const CILIUM_NS: &str = "io.kubernetes.pod.namespace";
/// Cilium's prefix for the labels of a pod's namespace.
const CILIUM_NS_LABELS: &str = "io.cilium.k8s.namespace.labels.";
/// Cilium's label for a pod's service account.
const CILIUM_SA: &str = "io.cilium.k8s.policy.serviceaccount";

/// Calico's label for a pod's namespace.
const CALICO_NS: &str = "projectcalico.org/namespace";
/// Calico's label for the orchestrator (always `k8s` for pods).
const CALICO_ORCH: &str = "projectcalico.org/orchestrator";
/// Calico's label for a pod's service account.
const CALICO_SA: &str = "projectcalico.org/serviceaccount";
/// Calico's name label on namespaces and service accounts.
const CALICO_NAME: &str = "projectcalico.org/name";
/// Calico's prefix for namespace labels on pods.
const CALICO_NS_PREFIX: &str = "pcns.";
/// Calico's prefix for service account labels on pods.
const CALICO_SA_PREFIX: &str = "pcsa.";

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// One pod, as the selectors see it.
pub(super) struct PodView<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// The namespace's labels.
    pub ns_labels: &'a BTreeMap<String, String>,
    /// The pod's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The pod's service account name.
    pub service_account: &'a str,
}

/// A namespace, as the selectors see it (no pod labels).
struct NamespaceView<'a> {
    namespace: &'a str,
    ns_labels: &'a BTreeMap<String, String>,
}

struct CiliumPod<'a, 'b>(&'b PodView<'a>);

impl Labels for CiliumPod<'_, '_> {
    fn label(&self, key: &str) -> Option<&str> {
        let p = self.0;
        match key {
            CILIUM_NS => Some(p.namespace),
            CILIUM_SA => Some(p.service_account),
            _ => match key.strip_prefix(CILIUM_NS_LABELS) {
                Some(k) => p.ns_labels.label(k),
                None => p.labels.label(key),
            },
        }
    }
}

impl Labels for NamespaceView<'_> {
    /// Only the keys both CNIs derive from the namespace.
    fn label(&self, key: &str) -> Option<&str> {
        match key {
            CILIUM_NS | CALICO_NS => Some(self.namespace),
            CALICO_ORCH => Some("k8s"),
            _ => key
                .strip_prefix(CILIUM_NS_LABELS)
                .or_else(|| key.strip_prefix(CALICO_NS_PREFIX))
                .and_then(|k| self.ns_labels.label(k)),
        }
    }
}

fn cilium_namespace_key(key: &str) -> bool {
    key == CILIUM_NS || key.starts_with(CILIUM_NS_LABELS)
}

fn calico_namespace_key(key: &str) -> bool {
    key == CALICO_NS || key == CALICO_ORCH || key.starts_with(CALICO_NS_PREFIX)
}

struct CalicoPod<'a, 'b> {
    pod: &'b PodView<'a>,
    sa_labels: &'b BTreeMap<String, String>,
}

impl Labels for CalicoPod<'_, '_> {
    fn label(&self, key: &str) -> Option<&str> {
        let p = self.pod;
        match key {
            CALICO_NS => Some(p.namespace),
            CALICO_ORCH => Some("k8s"),
            CALICO_SA => Some(p.service_account),
            _ => {
                if let Some(k) = key.strip_prefix(CALICO_NS_PREFIX) {
                    p.ns_labels.label(k)
                } else if let Some(k) = key.strip_prefix(CALICO_SA_PREFIX) {
                    self.sa_labels.label(k)
                } else {
                    p.labels.label(key)
                }
            }
        }
    }
}

/// A label set with `projectcalico.org/name` added (namespaces and service accounts).
struct Named<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
}

impl Labels for Named<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        if key == CALICO_NAME {
            Some(self.name)
        } else {
            self.labels.label(key)
        }
    }
}

/// A Cilium endpoint selector: a Kubernetes label selector whose keys may carry a source
/// prefix.
#[derive(Debug)]
struct CiliumSelector(Vec<(String, Requirement)>);

#[derive(Debug)]
enum Requirement {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// Drops the `k8s:` or `any:` source prefix; other sources (`reserved:`, `cidr:`) stay and so
/// never match a pod label.
fn cilium_key(key: &str) -> String {
    key.strip_prefix("k8s:")
        .or_else(|| key.strip_prefix("any:"))
        .unwrap_or(key)
        .to_string()
}

impl CiliumSelector {
    fn parse(v: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(labels) = v.get("matchLabels") {
            let map = labels.as_object().ok_or("matchLabels is not a map")?;
            for (k, val) in map {
                let val = val
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{k} is not a string"))?;
                reqs.push((cilium_key(k), Requirement::In(vec![val.to_string()])));
            }
        }
        for e in v
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or("matchExpressions entry without key")?;
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let req = match e.get("operator").and_then(Value::as_str) {
                Some("In") => Requirement::In(values),
                Some("NotIn") => Requirement::NotIn(values),
                Some("Exists") => Requirement::Exists,
                Some("DoesNotExist") => Requirement::DoesNotExist,
                other => return Err(format!("unknown operator {other:?} for key `{key}`")),
            };
            reqs.push((cilium_key(key), req));
        }
        Ok(Self(reqs))
    }

    fn matches(&self, labels: &dyn Labels) -> bool {
        self.0.iter().all(|(k, req)| {
            let v = labels.label(k);
            match req {
                Requirement::In(vs) => v.is_some_and(|v| vs.iter().any(|x| x == v)),
                Requirement::NotIn(vs) => v.is_none_or(|v| vs.iter().all(|x| x != v)),
                Requirement::Exists => v.is_some(),
                Requirement::DoesNotExist => v.is_none(),
            }
        })
    }

    fn keys_all(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.0.iter().all(|(k, _)| pred(k))
    }
}

/// What a policy selects.
#[derive(Debug)]
enum Subject {
    Cilium(CiliumSelector),
    Calico {
        selector: Expr,
        namespace_selector: Option<Expr>,
        service_account_selector: Option<Expr>,
    },
}

/// How a policy treats ingress to the pods it selects.
#[derive(Debug)]
enum Ingress {
    /// Selected pods are isolated for ingress; `open` names an ingress rule that lets in any
    /// source (1-based), with why.
    Isolates { open: Option<(usize, &'static str)> },
    /// Selected pods are not isolated for ingress by this policy, with why.
    Not(String),
}

/// One Cilium rule or Calico policy, parsed.
#[derive(Debug)]
pub(super) struct CniPolicy {
    /// How findings name it, e.g. ``CiliumNetworkPolicy `deny` ``.
    name: String,
    /// Namespace of a namespaced policy; `None` for cluster-wide ones.
    namespace: Option<String>,
    subject: Subject,
    ingress: Ingress,
}

impl CniPolicy {
    /// Whether it selects a pod.
    fn selects_pod(&self, pod: &PodView<'_>, sa_labels: &BTreeMap<String, String>) -> bool {
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != pod.namespace)
        {
            return false;
        }
        match &self.subject {
            Subject::Cilium(sel) => sel.matches(&CiliumPod(pod)),
            Subject::Calico {
                selector,
                namespace_selector,
                service_account_selector,
            } => {
                namespace_selector.as_ref().is_none_or(|s| {
                    s.matches(&Named {
                        name: pod.namespace,
                        labels: pod.ns_labels,
                    })
                }) && service_account_selector.as_ref().is_none_or(|s| {
                    s.matches(&Named {
                        name: pod.service_account,
                        labels: sa_labels,
                    })
                }) && selector.matches(&CalicoPod { pod, sa_labels })
            }
        }
    }

    /// Whether it selects every pod of a namespace, whatever their labels.
    fn selects_namespace(&self, ns: &NamespaceView<'_>) -> bool {
        if self.namespace.as_deref().is_some_and(|n| n != ns.namespace) {
            return false;
        }
        match &self.subject {
            Subject::Cilium(sel) => sel.keys_all(&cilium_namespace_key) && sel.matches(ns),
            Subject::Calico {
                selector,
                namespace_selector,
                service_account_selector,
            } => {
                namespace_selector.as_ref().is_none_or(|s| {
                    s.matches(&Named {
                        name: ns.namespace,
                        labels: ns.ns_labels,
                    })
                }) && service_account_selector
                    .as_ref()
                    .is_none_or(|s| *s == Expr::All)
                    && selector.keys_all(&calico_namespace_key)
                    && selector.matches(ns)
            }
        }
    }

    fn isolates(&self) -> bool {
        matches!(self.ingress, Ingress::Isolates { .. })
    }

    /// Why it is not a default-deny for the namespace it selects entirely, or `None` when it
    /// is one.
    fn not_default_deny(&self) -> Option<String> {
        match &self.ingress {
            Ingress::Isolates { open: None } => None,
            Ingress::Isolates {
                open: Some((rule, why)),
            } => Some(format!(
                "{} selects every pod but its ingress rule {rule} {why}",
                self.name
            )),
            Ingress::Not(why) => Some(format!("{} selects every pod but {why}", self.name)),
        }
    }
}

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn non_empty(v: &Value, key: &str) -> bool {
    !list(v, key).is_empty()
}

/// Why a Cilium ingress rule lets in any source, if it does.
fn cilium_open_rule(rule: &Value) -> Option<&'static str> {
    const PEERS: [&str; 7] = [
        "fromEndpoints",
        "fromRequires",
        "fromCIDR",
        "fromCIDRSet",
        "fromEntities",
        "fromGroups",
        "fromNodes",
    ];
    let has_peer = PEERS.iter().any(|p| non_empty(rule, p));
    if !has_peer {
        // `{}` allows nothing; ports or ICMP types without a peer allow them from anywhere.
        return (non_empty(rule, "toPorts") || non_empty(rule, "icmps"))
            .then_some("has ports but no source, so any source may reach them");
    }
    if list(rule, "fromEntities")
        .iter()
        .filter_map(Value::as_str)
        .any(|e| ANY_ENTITIES.contains(&e))
    {
        return Some("allows the entity `all` or `world`");
    }
    let any_cidr = |c: &str| ANY_CIDRS.contains(&c.trim());
    if list(rule, "fromCIDR")
        .iter()
        .filter_map(Value::as_str)
        .any(any_cidr)
        || list(rule, "fromCIDRSet").iter().any(|s| {
            s.get("cidr").and_then(Value::as_str).is_some_and(any_cidr)
                && list(s, "except").is_empty()
        })
    {
        return Some("allows traffic from any address");
    }
    None
}

/// Parses one Cilium rule (`spec` or an entry of `specs`); `None` for host (nodeSelector)
/// rules.
fn cilium_rule(
    name: String,
    namespace: Option<String>,
    rule: &Value,
) -> Option<Result<CniPolicy, String>> {
    let selector = rule.get("endpointSelector")?;
    let subject = match CiliumSelector::parse(selector) {
        Ok(s) => Subject::Cilium(s),
        Err(e) => return Some(Err(format!("{name}: endpointSelector {e}"))),
    };
    let explicit = rule
        .pointer("/enableDefaultDeny/ingress")
        .and_then(Value::as_bool);
    let has_rules = non_empty(rule, "ingress") || non_empty(rule, "ingressDeny");
    let ingress = match explicit {
        Some(false) => Ingress::Not("sets enableDefaultDeny.ingress: false".to_string()),
        None if !has_rules => Ingress::Not("has no ingress or ingressDeny rules".to_string()),
        _ => Ingress::Isolates {
            open: list(rule, "ingress")
                .iter()
                .enumerate()
                .find_map(|(i, r)| cilium_open_rule(r).map(|why| (i + 1, why))),
        },
    };
    Some(Ok(CniPolicy {
        name,
        namespace,
        subject,
        ingress,
    }))
}

/// Why a Calico ingress rule lets in any source, if it does.
fn calico_open_rule(rule: &Value) -> Option<&'static str> {
    let action = rule.get("action").and_then(Value::as_str).unwrap_or("");
    if !action.eq_ignore_ascii_case("allow") && !action.eq_ignore_ascii_case("pass") {
        return None;
    }
    let Some(source) = rule.get("source") else {
        return Some("allows (or passes on) traffic from any source");
    };
    const RESTRICTING: [&str; 6] = [
        "selector",
        "notSelector",
        "namespaceSelector",
        "serviceAccounts",
        "services",
        "notNets",
    ];
    let present = |v: &Value| match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    };
    let restricted = RESTRICTING
        .iter()
        .any(|k| source.get(*k).is_some_and(present));
    let nets = list(source, "nets");
    let any_net = nets
        .iter()
        .filter_map(Value::as_str)
        .any(|n| ANY_CIDRS.contains(&n.trim()));
    if restricted || (!nets.is_empty() && !any_net) {
        return None;
    }
    Some("allows (or passes on) traffic from any source")
}

fn calico_expr(name: &str, field: &str, spec: &Value) -> Result<Option<Expr>, String> {
    match spec.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Expr::parse(s)
            .map(Some)
            .map_err(|e| format!("{name}: {field} `{s}` not understood ({e})")),
        Some(other) => Err(format!("{name}: {field} is not a string ({other})")),
    }
}

fn calico_policy(
    name: String,
    namespace: Option<String>,
    global: bool,
    spec: &Value,
) -> Result<CniPolicy, String> {
    let selector = calico_expr(&name, "selector", spec)?.unwrap_or(Expr::All);
    let namespace_selector = if global {
        calico_expr(&name, "namespaceSelector", spec)?
    } else {
        None
    };
    let service_account_selector = calico_expr(&name, "serviceAccountSelector", spec)?;
    let types: Vec<&str> = list(spec, "types")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let governs = if types.is_empty() {
        // Calico's defaulting: Ingress unless there are egress rules and no ingress rules.
        non_empty(spec, "ingress") || !non_empty(spec, "egress")
    } else {
        types.contains(&"Ingress")
    };
    let ingress = if governs {
        Ingress::Isolates {
            open: list(spec, "ingress")
                .iter()
                .enumerate()
                .find_map(|(i, r)| calico_open_rule(r).map(|why| (i + 1, why))),
        }
    } else {
        Ingress::Not("does not list Ingress in types".to_string())
    };
    Ok(CniPolicy {
        name,
        namespace,
        subject: Subject::Calico {
            selector,
            namespace_selector,
            service_account_selector,
        },
        ingress,
    })
}

fn parse(kind: DynKind, obj: &DynamicObject) -> Vec<Result<CniPolicy, String>> {
    let api = kind.api();
    let object = obj.metadata.name.as_deref().unwrap_or("");
    let namespace = if api.namespaced {
        Some(obj.metadata.namespace.clone().unwrap_or_default())
    } else {
        None
    };
    let name = format!("{} `{object}`", api.display);
    match kind {
        DynKind::CiliumNetworkPolicy | DynKind::CiliumClusterwideNetworkPolicy => {
            let mut out = Vec::new();
            if let Some(spec) = obj.data.get("spec")
                && let Some(p) = cilium_rule(name.clone(), namespace.clone(), spec)
            {
                out.push(p);
            }
            for (i, spec) in list(&obj.data, "specs").iter().enumerate() {
                let n = format!("{name} (specs[{i}])");
                if let Some(p) = cilium_rule(n, namespace.clone(), spec) {
                    out.push(p);
                }
            }
            out
        }
        DynKind::CalicoNetworkPolicy | DynKind::CalicoGlobalNetworkPolicy => {
            let global = kind == DynKind::CalicoGlobalNetworkPolicy;
            let spec = obj.data.get("spec").unwrap_or(&Value::Null);
            vec![calico_policy(name, namespace, global, spec)]
        }
        // The table's other kinds (vulnerability reports, certificates, GitOps, alerting) are
        // not network policies.
        _ => Vec::new(),
    }
}

/// Every Cilium and Calico policy of a snapshot, parsed.
#[derive(Default)]
pub(super) struct CniView<'s> {
    /// How findings name the kinds considered, in table order; empty when none is served.
    pub considered: Vec<&'static str>,
    namespaced: HashMap<String, Vec<CniPolicy>>,
    cluster: Vec<CniPolicy>,
    /// Policies that could not be understood and so select nothing, with why.
    invalid_namespaced: HashMap<String, Vec<String>>,
    invalid_cluster: Vec<String>,
    service_accounts: HashMap<(&'s str, &'s str), &'s BTreeMap<String, String>>,
}

impl<'s> CniView<'s> {
    /// Parses the snapshot's Cilium and Calico policies.
    pub(super) fn new(snapshot: &'s ClusterSnapshot) -> Self {
        let mut view = CniView::default();
        for (kind, objects) in snapshot.dynamic.iter() {
            if !kind.is_network_policy() {
                continue;
            }
            view.considered.push(kind.api().display);
            for obj in objects {
                for parsed in parse(kind, obj) {
                    let ns = obj
                        .metadata
                        .namespace
                        .clone()
                        .filter(|_| kind.api().namespaced);
                    match (parsed, ns) {
                        (Ok(p), Some(ns)) => view.namespaced.entry(ns).or_default().push(p),
                        (Ok(p), None) => view.cluster.push(p),
                        (Err(e), Some(ns)) => {
                            view.invalid_namespaced.entry(ns).or_default().push(e)
                        }
                        (Err(e), None) => view.invalid_cluster.push(e),
                    }
                }
            }
        }
        if snapshot.dynamic.served(DynKind::CalicoNetworkPolicy)
            || snapshot.dynamic.served(DynKind::CalicoGlobalNetworkPolicy)
        {
            for sa in &snapshot.service_accounts {
                if let (Some(ns), Some(name)) = (
                    sa.metadata.namespace.as_deref(),
                    sa.metadata.name.as_deref(),
                ) {
                    view.service_accounts.insert(
                        (ns, name),
                        sa.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
                    );
                }
            }
        }
        view
    }

    /// Whether any CNI policy API is served.
    pub(super) fn any_served(&self) -> bool {
        !self.considered.is_empty()
    }

    fn applicable<'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a CniPolicy> {
        self.namespaced
            .get(namespace)
            .into_iter()
            .flatten()
            .chain(self.cluster.iter())
    }

    /// Whether a policy denies ingress by default to every pod of the namespace: `Ok` when
    /// one does, otherwise why the policies that select every pod fall short.
    pub(super) fn default_deny(
        &self,
        namespace: &str,
        ns_labels: &BTreeMap<String, String>,
    ) -> Result<(), Vec<String>> {
        let ns = NamespaceView {
            namespace,
            ns_labels,
        };
        let mut near_misses = Vec::new();
        for p in self
            .applicable(namespace)
            .filter(|p| p.selects_namespace(&ns))
        {
            match p.not_default_deny() {
                None => return Ok(()),
                Some(why) => near_misses.push(why),
            }
        }
        Err(near_misses)
    }

    /// The policies that isolate ingress and could select pods of a namespace.
    pub(super) fn isolating_in<'a>(&'a self, namespace: &str) -> Vec<&'a CniPolicy> {
        self.applicable(namespace)
            .filter(|p| p.isolates())
            .collect()
    }

    /// Whether one of `policies` (from [`Self::isolating_in`]) selects the pod.
    pub(super) fn isolates_pod(&self, policies: &[&CniPolicy], pod: &PodView<'_>) -> bool {
        if policies.is_empty() {
            return false;
        }
        let sa_labels = self
            .service_accounts
            .get(&(pod.namespace, pod.service_account))
            .copied()
            .unwrap_or(&NO_LABELS);
        policies.iter().any(|p| p.selects_pod(pod, sa_labels))
    }

    /// Policies that apply to the namespace but could not be understood (they select nothing).
    pub(super) fn invalid_in(&self, namespace: &str) -> Vec<&str> {
        self.invalid_namespaced
            .get(namespace)
            .into_iter()
            .flatten()
            .chain(self.invalid_cluster.iter())
            .map(String::as_str)
            .collect()
    }
}

/// Text appended to a finding: which policy kinds were considered and which could not be read.
pub(super) fn considered_note(view: &CniView<'_>, namespace: &str) -> String {
    if !view.any_served() {
        return String::new();
    }
    let mut out = format!(
        " (policy kinds considered: NetworkPolicy, {})",
        view.considered.join(", ")
    );
    let invalid = view.invalid_in(namespace);
    if !invalid.is_empty() {
        out.push_str(&format!(
            " (not understood, so treated as selecting nothing: {})",
            invalid.join("; ")
        ));
    }
    out
}

/// The pod's service account name (`default` when unset).
pub(super) fn service_account(pod: &crate::snapshot::kinds::Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .unwrap_or("default")
}
