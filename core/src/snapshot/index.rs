//! Lookup tables over a snapshot's objects, built once when the snapshot is made.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::{
    core::v1::Namespace,
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, Role},
};

use super::Objects;
use super::kind_id::{KindId, position};
use super::slim::Pod;

/// Indexes by name and by namespace. Positions refer to the sorted lists in [`Objects`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Index {
    namespaces: HashMap<String, Arc<Namespace>>,
    cluster_roles: HashMap<String, Arc<ClusterRole>>,
    roles: HashMap<(String, String), Arc<Role>>,
    service_accounts: HashSet<(String, String)>,
    pods_by_ns: HashMap<String, Vec<Arc<Pod>>>,
    netpols_by_ns: HashMap<String, Vec<Arc<NetworkPolicy>>>,
    pdbs_by_ns: HashMap<String, Vec<Arc<PodDisruptionBudget>>>,
}

fn ns_name<K: kube::ResourceExt>(o: &K) -> (String, String) {
    (o.namespace().unwrap_or_default(), o.name_any())
}

fn group_by_ns<K: kube::ResourceExt>(list: &[Arc<K>]) -> HashMap<String, Vec<Arc<K>>> {
    let mut out: HashMap<String, Vec<Arc<K>>> = HashMap::new();
    for o in list {
        out.entry(o.namespace().unwrap_or_default())
            .or_default()
            .push(o.clone());
    }
    out
}

/// Sets or removes the map entry `key` from the object `(namespace, name)` of a sorted list.
fn refresh_entry<Q: std::hash::Hash + Eq, K: kube::Resource>(
    map: &mut HashMap<Q, Arc<K>>,
    list: &[Arc<K>],
    namespace: Option<&str>,
    name: &str,
    key: Q,
) {
    match position(list, namespace, name) {
        Ok(i) => {
            map.insert(key, list[i].clone());
        }
        Err(_) => {
            map.remove(&key);
        }
    }
}

/// Rebuilds one namespace's entry of a per-namespace index from a list sorted by (namespace,
/// name), where that namespace's objects are one run.
fn refresh_ns<K: kube::Resource>(
    map: &mut HashMap<String, Vec<Arc<K>>>,
    list: &[Arc<K>],
    ns: &str,
) {
    fn of<K: kube::Resource>(o: &Arc<K>) -> &str {
        o.meta().namespace.as_deref().unwrap_or_default()
    }
    let start = list.partition_point(|o| of(o) < ns);
    let end = start + list[start..].partition_point(|o| of(o) == ns);
    if start == end {
        map.remove(ns);
    } else {
        map.insert(ns.to_string(), list[start..end].to_vec());
    }
}

impl Index {
    pub(super) fn build(o: &Objects) -> Self {
        Self {
            namespaces: o
                .namespaces
                .iter()
                .map(|n| (kube::ResourceExt::name_any(n.as_ref()), n.clone()))
                .collect(),
            cluster_roles: o
                .cluster_roles
                .iter()
                .map(|r| (kube::ResourceExt::name_any(r.as_ref()), r.clone()))
                .collect(),
            roles: o
                .roles
                .iter()
                .map(|r| (ns_name(r.as_ref()), r.clone()))
                .collect(),
            service_accounts: o
                .service_accounts
                .iter()
                .map(|s| ns_name(s.as_ref()))
                .collect(),
            pods_by_ns: group_by_ns(&o.pods),
            netpols_by_ns: group_by_ns(&o.network_policies),
            pdbs_by_ns: group_by_ns(&o.pod_disruption_budgets),
        }
    }

    /// Brings the index parts of `kind` up to date after the object `(namespace, name)` of that
    /// kind was inserted, replaced or removed in the (sorted) `objects`. Touches only that
    /// object's entry, or for the per-namespace lists only that namespace's list.
    pub(super) fn refresh(
        &mut self,
        o: &Objects,
        kind: KindId,
        namespace: Option<&str>,
        name: &str,
    ) {
        let ns = namespace.unwrap_or_default();
        match kind {
            KindId::Namespace => refresh_entry(
                &mut self.namespaces,
                &o.namespaces,
                namespace,
                name,
                name.to_string(),
            ),
            KindId::ClusterRole => refresh_entry(
                &mut self.cluster_roles,
                &o.cluster_roles,
                namespace,
                name,
                name.to_string(),
            ),
            KindId::Role => refresh_entry(
                &mut self.roles,
                &o.roles,
                namespace,
                name,
                (ns.to_string(), name.to_string()),
            ),
            KindId::ServiceAccount => {
                let key = (ns.to_string(), name.to_string());
                if position(&o.service_accounts, namespace, name).is_ok() {
                    self.service_accounts.insert(key);
                } else {
                    self.service_accounts.remove(&key);
                }
            }
            KindId::Pod => refresh_ns(&mut self.pods_by_ns, &o.pods, ns),
            KindId::NetworkPolicy => refresh_ns(&mut self.netpols_by_ns, &o.network_policies, ns),
            KindId::PodDisruptionBudget => {
                refresh_ns(&mut self.pdbs_by_ns, &o.pod_disruption_budgets, ns)
            }
            _ => {}
        }
    }

    /// A namespace by name.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name).map(Arc::as_ref)
    }

    /// The labels of a namespace (empty when unknown).
    pub fn namespace_labels(&self, name: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.namespace(name)
            .and_then(|n| n.metadata.labels.as_ref())
            .unwrap_or(&EMPTY)
    }

    /// A ClusterRole by name.
    pub fn cluster_role(&self, name: &str) -> Option<&ClusterRole> {
        self.cluster_roles.get(name).map(Arc::as_ref)
    }

    /// A Role by namespace and name.
    pub fn role(&self, namespace: &str, name: &str) -> Option<&Role> {
        self.roles
            .get(&(namespace.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    /// Whether a ServiceAccount exists.
    pub fn has_service_account(&self, namespace: &str, name: &str) -> bool {
        self.service_accounts
            .contains(&(namespace.to_string(), name.to_string()))
    }

    /// Pods in a namespace.
    pub fn pods_in(&self, namespace: &str) -> &[Arc<Pod>] {
        self.pods_by_ns.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// NetworkPolicies in a namespace.
    pub fn network_policies_in(&self, namespace: &str) -> &[Arc<NetworkPolicy>] {
        self.netpols_by_ns.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// PodDisruptionBudgets in a namespace.
    pub fn pdbs_in(&self, namespace: &str) -> &[Arc<PodDisruptionBudget>] {
        self.pdbs_by_ns.get(namespace).map_or(&[], Vec::as_slice)
    }
}
