//! Which ServiceAccounts workloads run as, for the access review's dormant-account list.
//!
//! Read from pod specs only (`serviceAccountName`, else the deprecated `serviceAccount`, else
//! `default`): never from Secrets or tokens. A workload counts when it can run pods: every Pod,
//! DaemonSet, Job and CronJob, and Deployments, StatefulSets and ReplicaSets with more than zero
//! replicas. Pods run by a ReplicaSet, StatefulSet, DaemonSet or Job count too (their trimmed
//! spec keeps the service account), so a Deployment scaled to zero whose pods still run is seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::snapshot::{ClusterSnapshot, POD_CONTROLLERS, ResourceRef, controlled_by};

/// How many example workloads each entry names.
const EXAMPLES: usize = 3;

/// One ServiceAccount that workloads run as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountUse {
    /// Namespace of the ServiceAccount (the workload's).
    pub namespace: String,
    /// ServiceAccount name.
    pub name: String,
    /// Workloads and pods running as it.
    pub workloads: usize,
    /// Up to three of them, sorted (`Kind/ns/name`).
    pub examples: Vec<String>,
}

/// Every ServiceAccount some workload or pod of the snapshot runs as, sorted by namespace and
/// name.
pub fn service_account_use(snapshot: &ClusterSnapshot) -> Vec<ServiceAccountUse> {
    let mut by_account: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut add = |namespace: &str, spec: &crate::snapshot::slim::PodSpec, r: ResourceRef| {
        #[allow(deprecated)]
        let name = spec
            .service_account_name
            .as_deref()
            .or(spec.service_account.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        by_account
            .entry((namespace.to_string(), name.to_string()))
            .or_default()
            .push(r.to_string());
    };
    for w in snapshot.workloads() {
        if w.replicas == Some(0) {
            continue;
        }
        add(w.namespace(), w.spec, w.resource());
    }
    for pod in &snapshot.objects().pods {
        if !controlled_by(&pod.metadata, &POD_CONTROLLERS) {
            continue; // bare pods are workloads above
        }
        if let Some(spec) = &pod.spec {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            let r = ResourceRef::new("Pod", Some(ns), pod.metadata.name.as_deref().unwrap_or(""));
            add(ns, spec, r);
        }
    }
    by_account
        .into_iter()
        .map(|((namespace, name), mut refs)| {
            refs.sort();
            refs.dedup();
            ServiceAccountUse {
                namespace,
                name,
                workloads: refs.len(),
                examples: refs.into_iter().take(EXAMPLES).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::snapshot;

    #[test]
    fn workloads_name_their_accounts_and_scaled_down_ones_do_not() {
        let snap = snapshot(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {serviceAccountName: api, containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: old, namespace: shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: old}}
  template:
    metadata: {labels: {app: old}}
    spec: {serviceAccountName: old, containers: [{name: c, image: i}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec: {containers: [{name: c, image: i}], restartPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata:
  name: old-7f-abc
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: old-7f, uid: u, controller: true}]
spec: {serviceAccountName: legacy, containers: [{name: c, image: i}]}
"#,
        );
        let got: Vec<(String, String, usize)> = service_account_use(&snap)
            .into_iter()
            .map(|u| (u.namespace, u.name, u.workloads))
            .collect();
        assert_eq!(
            got,
            [
                ("shop".into(), "api".into(), 1),
                ("shop".into(), "default".into(), 1),
                ("shop".into(), "legacy".into(), 1),
            ]
        );
    }
}
