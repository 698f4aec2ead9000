//! Lookups over a snapshot's objects: by name, and every object of a namespace.
//!
//! A snapshot keeps every list sorted by (namespace, name) ([`super::ClusterSnapshot::new`] sorts,
//! [`super::ClusterSnapshot::apply`] inserts in place), so a lookup is a binary search and a
//! namespace's objects are one run of its list. The index is a view over the lists: it holds
//! no copy of a key or an `Arc`, costs nothing to build, and has nothing to refresh when an
//! object changes.
//!
//! Keys are as the API server has them: a namespaced object without a namespace (possible in a
//! manifests folder) counts as namespace `""`, as it did when this index held hash maps.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::{
    core::v1::{Namespace, ServiceAccount},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, Role},
};
use kube::Resource;

use super::Objects;
use super::kind_id::position;
use super::slim::Pod;

/// Lookups by name and by namespace over the sorted lists of [`Objects`].
#[derive(Clone, Copy, Debug)]
pub struct Index<'a> {
    objects: &'a Objects,
}

fn namespace_of<K: Resource>(o: &Arc<K>) -> &str {
    o.meta().namespace.as_deref().unwrap_or_default()
}

/// The objects of `namespace`: one run of a list sorted by (namespace, name), since no
/// namespace and `""` sort first, next to each other.
fn run<'a, K: Resource>(list: &'a [Arc<K>], namespace: &str) -> &'a [Arc<K>] {
    let start = list.partition_point(|o| namespace_of(o) < namespace);
    let end = start + list[start..].partition_point(|o| namespace_of(o) == namespace);
    &list[start..end]
}

/// The namespaced object `namespace`/`name`.
fn namespaced<'a, K: Resource>(list: &'a [Arc<K>], namespace: &str, name: &str) -> Option<&'a K> {
    if namespace.is_empty() {
        // Objects without a namespace and with `""` share this run, each part sorted by name.
        return run(list, "")
            .iter()
            .find(|o| o.meta().name.as_deref() == Some(name))
            .map(Arc::as_ref);
    }
    position(list, Some(namespace), name)
        .ok()
        .map(|i| list[i].as_ref())
}

/// The cluster-scoped object `name` (one that carries a namespace anyway sorts after all the
/// others; it is still found by name).
fn cluster_scoped<'a, K: Resource>(list: &'a [Arc<K>], name: &str) -> Option<&'a K> {
    if let Ok(i) = position(list, None, name) {
        return Some(list[i].as_ref());
    }
    let with_namespace = list.partition_point(|o| o.meta().namespace.is_none());
    list[with_namespace..]
        .iter()
        .find(|o| o.meta().name.as_deref() == Some(name))
        .map(Arc::as_ref)
}

impl<'a> Index<'a> {
    pub(super) fn new(objects: &'a Objects) -> Self {
        Self { objects }
    }

    /// A namespace by name.
    pub fn namespace(&self, name: &str) -> Option<&'a Namespace> {
        cluster_scoped(&self.objects.namespaces, name)
    }

    /// The labels of a namespace (empty when unknown).
    pub fn namespace_labels(&self, name: &str) -> &'a BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.namespace(name)
            .and_then(|n| n.metadata.labels.as_ref())
            .unwrap_or(&EMPTY)
    }

    /// A ClusterRole by name.
    pub fn cluster_role(&self, name: &str) -> Option<&'a ClusterRole> {
        cluster_scoped(&self.objects.cluster_roles, name)
    }

    /// A Role by namespace and name.
    pub fn role(&self, namespace: &str, name: &str) -> Option<&'a Role> {
        namespaced(&self.objects.roles, namespace, name)
    }

    /// A ServiceAccount by namespace and name.
    pub fn service_account(&self, namespace: &str, name: &str) -> Option<&'a ServiceAccount> {
        namespaced(&self.objects.service_accounts, namespace, name)
    }

    /// Whether a ServiceAccount exists.
    pub fn has_service_account(&self, namespace: &str, name: &str) -> bool {
        self.service_account(namespace, name).is_some()
    }

    /// Pods in a namespace.
    pub fn pods_in(&self, namespace: &str) -> &'a [Arc<Pod>] {
        run(&self.objects.pods, namespace)
    }

    /// NetworkPolicies in a namespace.
    pub fn network_policies_in(&self, namespace: &str) -> &'a [Arc<NetworkPolicy>] {
        run(&self.objects.network_policies, namespace)
    }

    /// PodDisruptionBudgets in a namespace.
    pub fn pdbs_in(&self, namespace: &str) -> &'a [Arc<PodDisruptionBudget>] {
        run(&self.objects.pod_disruption_budgets, namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ClusterSnapshot;
    use serde_json::json;

    fn obj<K: serde::de::DeserializeOwned>(ns: Option<&str>, name: &str) -> Arc<K> {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        Arc::new(serde_json::from_value(json!({"metadata": meta})).expect("object"))
    }

    /// Every lookup against a linear scan, over names and namespaces that sort around each
    /// other (`a`, `a-b`, `ab`), objects without a namespace, and a cluster-scoped object that
    /// carries one.
    #[test]
    fn lookups_agree_with_a_linear_scan() {
        let namespaces = ["", "a", "a-b", "ab", "b"];
        let names = ["x", "x-1", "x1", "y"];
        let mut o = Objects::default();
        for ns in namespaces {
            for name in names {
                let ns = (!ns.is_empty()).then_some(ns);
                o.pods.push(obj(ns, name));
                o.roles.push(obj(ns, &format!("r{name}")));
                o.service_accounts.push(obj(ns, name));
            }
        }
        o.pods.push(obj(Some(""), "empty-ns"));
        o.roles.retain(|r| r.metadata.name.as_deref() != Some("ry"));
        for n in ["a", "b", "c"] {
            o.namespaces.push(obj(None, n));
            o.cluster_roles.push(obj(None, n));
        }
        o.namespaces.push(obj(Some("odd"), "with-namespace"));
        let s = ClusterSnapshot::new(o.clone());
        let index = s.index();
        let ns_of = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.clone().unwrap_or_default()
        };
        for ns in namespaces.iter().chain(&["zz", "a-"]) {
            let expected: Vec<_> = o
                .pods
                .iter()
                .filter(|p| ns_of(&p.metadata) == *ns)
                .collect();
            let mut got: Vec<_> = index.pods_in(ns).iter().collect();
            got.sort_by_key(|p| p.metadata.name.clone());
            let mut expected = expected;
            expected.sort_by_key(|p| p.metadata.name.clone());
            assert_eq!(got, expected, "pods in {ns:?}");
            for name in names.iter().chain(&["z", "empty-ns"]) {
                let sa = o
                    .service_accounts
                    .iter()
                    .any(|s| ns_of(&s.metadata) == *ns && s.metadata.name.as_deref() == Some(name));
                assert_eq!(index.has_service_account(ns, name), sa, "{ns}/{name}");
                let role = format!("r{name}");
                let expected = o.roles.iter().find(|r| {
                    ns_of(&r.metadata) == *ns && r.metadata.name.as_deref() == Some(&role)
                });
                assert_eq!(
                    index.role(ns, &role),
                    expected.map(|r| r.as_ref()),
                    "{ns}/{role}"
                );
            }
        }
        for n in ["a", "b", "c", "d", "with-namespace"] {
            assert_eq!(
                index.namespace(n).and_then(|x| x.metadata.name.as_deref()),
                (n != "d").then_some(n),
                "{n}"
            );
            assert_eq!(
                index.cluster_role(n).is_some(),
                ["a", "b", "c"].contains(&n),
                "{n}"
            );
        }
        assert!(index.namespace_labels("d").is_empty());
    }
}
