//! `ClusterSnapshot`: an indexed, read-only view of the objects the checks need.
//!
//! A snapshot is built from a live cluster ([`live`]), from a folder of manifests
//! ([`manifests`]) or from the operator's watch caches. It owns no client and does no I/O.
//! Secrets are never part of it. Optional APIs (Velero, ValidatingAdmissionPolicy, the Cilium
//! and Calico policy kinds, Trivy reports and cert-manager Certificates of [`dynamic`]) are
//! `None` when the cluster does not serve them, so checks can say `NotApplicable` or fall back.

mod changes;
pub mod dynamic;
mod gitops_alerting;
mod index;
pub(crate) mod kind_id;
pub mod kinds;
mod legacy;
pub mod manifests;
mod resource;
pub mod slim;
mod trim;
mod workload;

use std::sync::Arc;

use kinds::*;
use kube::core::DynamicObject;

pub use changes::ObjectChange;
pub use dynamic::{DynKind, DynObjects};
pub use index::Index;
pub use kind_id::{KIND_COUNT, KindId, KindMismatch, Stamps, WORKLOAD_KINDS};
pub use resource::{ResourceRef, object_digest};
pub use trim::{POD_CONTROLLERS, WORKLOAD_ANNOTATIONS, controlled_by, trim, trim_metadata};
pub use workload::Workload;

/// Calls `$m!` with every always-present kind as `field: Type`. One list drives the struct,
/// the manifest loader, the live loader, trimming and the inventory.
#[macro_export]
#[doc(hidden)]
macro_rules! for_each_core_kind {
    ($m:ident) => {
        $m! {
            namespaces: Namespace,
            nodes: Node,
            pods: Pod,
            deployments: Deployment,
            statefulsets: StatefulSet,
            daemonsets: DaemonSet,
            replicasets: ReplicaSet,
            jobs: Job,
            cronjobs: CronJob,
            services: Service,
            ingresses: Ingress,
            network_policies: NetworkPolicy,
            cluster_roles: ClusterRole,
            cluster_role_bindings: ClusterRoleBinding,
            roles: Role,
            role_bindings: RoleBinding,
            service_accounts: ServiceAccount,
            config_maps: ConfigMap,
            storage_classes: StorageClass,
            persistent_volumes: PersistentVolume,
            persistent_volume_claims: PersistentVolumeClaim,
            pod_disruption_budgets: PodDisruptionBudget,
        }
    };
}

/// Calls `$m!` with every optional typed kind as `field: Type`: present only when the cluster
/// serves the API.
#[macro_export]
#[doc(hidden)]
macro_rules! for_each_optional_kind {
    ($m:ident) => {
        $m! {
            admission_policies: ValidatingAdmissionPolicy,
            admission_policy_bindings: ValidatingAdmissionPolicyBinding,
        }
    };
}

/// Velero kinds read as dynamic objects (group `velero.io`, version `v1`).
pub const VELERO_KINDS: [(&str, &str); 3] = [
    ("Backup", "backups"),
    ("Schedule", "schedules"),
    ("Restore", "restores"),
];
/// The Velero API group.
pub const VELERO_GROUP: &str = "velero.io";

macro_rules! define_objects {
    ($($field:ident: $ty:ty,)*) => {
        /// The raw objects of a snapshot, one list per kind.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Objects {
            $(
                #[doc = concat!("Every `", stringify!($ty), "`.")]
                pub $field: Vec<Arc<$ty>>,
            )*
            /// `ValidatingAdmissionPolicy` (admissionregistration.k8s.io/v1); `None` when not served.
            pub admission_policies: Option<Vec<Arc<ValidatingAdmissionPolicy>>>,
            /// `ValidatingAdmissionPolicyBinding`; `None` when not served.
            pub admission_policy_bindings: Option<Vec<Arc<ValidatingAdmissionPolicyBinding>>>,
            /// Velero `Backup`s; `None` when velero.io/v1 is not served.
            pub velero_backups: Option<Vec<Arc<DynamicObject>>>,
            /// Velero `Schedule`s; `None` when velero.io/v1 is not served.
            pub velero_schedules: Option<Vec<Arc<DynamicObject>>>,
            /// Velero `Restore`s; `None` when velero.io/v1 is not served.
            pub velero_restores: Option<Vec<Arc<DynamicObject>>>,
            /// Cilium and Calico network policies, Trivy vulnerability reports and cert-manager
            /// Certificates, one list per [`DynKind`]; a kind is `None` when its API is not
            /// served.
            pub dynamic: DynObjects,
        }

        impl Objects {
            /// Total number of objects.
            pub fn len(&self) -> usize {
                0 $(+ self.$field.len())*
                    + self.admission_policies.as_ref().map_or(0, Vec::len)
                    + self.admission_policy_bindings.as_ref().map_or(0, Vec::len)
                    + self.velero_backups.as_ref().map_or(0, Vec::len)
                    + self.velero_schedules.as_ref().map_or(0, Vec::len)
                    + self.velero_restores.as_ref().map_or(0, Vec::len)
                    + self.dynamic.len()
            }

            /// True when there are no objects at all.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Moves every object of `other` after this one's. A kind served in either is
            /// served in the result (loaders that split their input merge with this).
            pub fn append(&mut self, other: Objects) {
                let Objects {
                    $($field,)*
                    admission_policies,
                    admission_policy_bindings,
                    velero_backups,
                    velero_schedules,
                    velero_restores,
                    dynamic,
                } = other;
                $( self.$field.extend($field); )*
                append_served(&mut self.admission_policies, admission_policies);
                append_served(&mut self.admission_policy_bindings, admission_policy_bindings);
                append_served(&mut self.velero_backups, velero_backups);
                append_served(&mut self.velero_schedules, velero_schedules);
                append_served(&mut self.velero_restores, velero_restores);
                self.dynamic.append(dynamic);
            }

            /// Sorts every list by (namespace, name) so that results do not depend on the
            /// order objects arrived in.
            fn sort(&mut self) {
                $( sort_by_key(&mut self.$field); )*
                for list in [&mut self.admission_policies] .into_iter().flatten() { sort_by_key(list); }
                for list in [&mut self.admission_policy_bindings].into_iter().flatten() { sort_by_key(list); }
                for list in [&mut self.velero_backups, &mut self.velero_schedules, &mut self.velero_restores]
                    .into_iter()
                    .flatten()
                {
                    sort_by_key(list);
                }
                for list in self.dynamic.lists_mut() {
                    sort_by_key(list);
                }
            }

            /// Object counts per kind, for logs and metrics.
            pub fn counts(&self) -> Vec<(&'static str, usize)> {
                let mut out = vec![$( (<$ty as k8s_openapi::Resource>::KIND, self.$field.len()), )*];
                if let Some(l) = &self.admission_policies { out.push(("ValidatingAdmissionPolicy", l.len())); }
                if let Some(l) = &self.admission_policy_bindings { out.push(("ValidatingAdmissionPolicyBinding", l.len())); }
                if let Some(l) = &self.velero_backups { out.push(("Backup.velero.io", l.len())); }
                if let Some(l) = &self.velero_schedules { out.push(("Schedule.velero.io", l.len())); }
                if let Some(l) = &self.velero_restores { out.push(("Restore.velero.io", l.len())); }
                for (kind, l) in self.dynamic.iter() { out.push((kind.api().label, l.len())); }
                out
            }

            /// Every object as a [`ResourceRef`] with its resourceVersion and content digest,
            /// sorted. Secrets are never in a snapshot, so never here either.
            pub fn inventory(&self) -> Vec<InventoryItem> {
                let mut out = Vec::with_capacity(self.len());
                $( for o in &self.$field {
                    out.push(InventoryItem::of(o.as_ref(), <$ty as k8s_openapi::Resource>::API_VERSION, <$ty as k8s_openapi::Resource>::KIND, &o.metadata));
                } )*
                for o in self.admission_policies.iter().flatten() {
                    out.push(InventoryItem::of(o.as_ref(), "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", &o.metadata));
                }
                for o in self.admission_policy_bindings.iter().flatten() {
                    out.push(InventoryItem::of(o.as_ref(), "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", &o.metadata));
                }
                for (list, kind) in [(&self.velero_backups, "Backup"), (&self.velero_schedules, "Schedule"), (&self.velero_restores, "Restore")] {
                    for o in list.iter().flatten() {
                        out.push(InventoryItem::of(o.as_ref(), "velero.io/v1", kind, &o.metadata));
                    }
                }
                for (kind, list) in self.dynamic.iter() {
                    let api = kind.api();
                    let (group, version) = api.sources[0];
                    let fallback = format!("{group}/{version}");
                    for o in list {
                        let api_version = o.types.as_ref().map_or(fallback.as_str(), |t| t.api_version.as_str());
                        out.push(InventoryItem::of(o.as_ref(), api_version, api.kind, &o.metadata));
                    }
                }
                out.sort_by(|a, b| a.resource.cmp(&b.resource));
                out
            }
        }
    };
}
for_each_core_kind!(define_objects);

/// Appends an optional kind's objects; `None` (not served) only when both are `None`.
fn append_served<T>(into: &mut Option<Vec<T>>, from: Option<Vec<T>>) {
    if let Some(items) = from {
        into.get_or_insert_default().extend(items);
    }
}

fn sort_by_key<K: kube::ResourceExt>(list: &mut [Arc<K>]) {
    list.sort_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
}

/// One line of the resource inventory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    /// API version, e.g. `apps/v1`.
    pub api_version: String,
    /// Which object.
    #[serde(flatten)]
    pub resource: ResourceRef,
    /// `metadata.resourceVersion`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// SHA-256 of the object's JSON (as trimmed for the snapshot), hex.
    pub digest: String,
}

impl InventoryItem {
    fn of<T: serde::Serialize + ?Sized>(
        obj: &T,
        api_version: &str,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Self {
        Self {
            api_version: api_version.to_string(),
            resource: ResourceRef::new(
                kind,
                meta.namespace.as_deref(),
                meta.name.as_deref().unwrap_or(""),
            ),
            resource_version: meta.resource_version.clone(),
            digest: object_digest(obj),
        }
    }
}

/// An indexed, read-only view of the cluster at one moment.
#[derive(Clone, Debug, Default)]
pub struct ClusterSnapshot {
    objects: Objects,
    stamps: Stamps,
}

impl std::ops::Deref for ClusterSnapshot {
    type Target = Objects;
    fn deref(&self) -> &Objects {
        &self.objects
    }
}

impl ClusterSnapshot {
    /// Sorts the objects (what the [`Index`] searches). Every kind gets a fresh stamp.
    pub fn new(mut objects: Objects) -> Self {
        objects.sort();
        Self {
            objects,
            stamps: Stamps::fresh(),
        }
    }

    /// Lookups by name and by namespace over the objects.
    pub fn index(&self) -> Index<'_> {
        Index::new(&self.objects)
    }

    /// The raw objects.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// Every workload with its pod template: Deployments, StatefulSets, DaemonSets, CronJobs,
    /// and the ReplicaSets, Jobs and Pods that no built-in controller owns.
    pub fn workloads(&self) -> impl Iterator<Item = Workload<'_>> {
        workload::iter(&self.objects)
    }
}
