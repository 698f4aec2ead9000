//! Watch caches: one kube-runtime reflector per kind the checks read.
//!
//! Objects are trimmed before they are cached ([`trim_object`]): managedFields keep only
//! manager/operation/time, the last-applied annotation goes, and per-kind fields no check reads
//! (pod IPs and container states, node image lists, ConfigMap binary data) are dropped.
//! Every change bumps a version counter and sends a tick on the change channel; the controller
//! debounces ticks into re-evaluations. After the initial list the reflectors only watch; they
//! never poll.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::snapshot::kinds::*;
use futures::{StreamExt, future::BoxFuture};
use kube::{
    Api, Client, Resource,
    core::DynamicObject,
    runtime::{
        WatchStreamExt,
        reflector::{self, Store, store::Writer},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::snapshot::dynamic::{DYN_KIND_COUNT, DynKind, trim_dynamic};
use crate::snapshot::{
    Objects, VELERO_KINDS, live::OptionalApis, live::velero_resource, trim_metadata,
};

/// Drops what no check reads. Metadata is trimmed for every kind; some kinds lose more.
pub fn trim_object<K: Resource + Any>(obj: &mut K) {
    trim_metadata(obj.meta_mut());
    let any = obj as &mut dyn Any;
    if let Some(pod) = any.downcast_mut::<Pod>() {
        // A pod run by a ReplicaSet, StatefulSet, DaemonSet or Job is evaluated through its
        // owner's pod template (`ClusterSnapshot::workloads`); its own spec is a copy of that
        // template, so only what identifies it (metadata, node, service account, images
        // running) stays. This is most of the cache in a large cluster.
        if controlled_by(
            &pod.metadata,
            &["ReplicaSet", "StatefulSet", "DaemonSet", "Job"],
        ) && let Some(spec) = pod.spec.as_mut()
        {
            *spec = k8s_openapi::api::core::v1::PodSpec {
                node_name: spec.node_name.take(),
                service_account_name: spec.service_account_name.take(),
                ..Default::default()
            };
        }
        if let Some(status) = pod.status.as_mut() {
            // Checks read phase, conditions, and which images run; not IPs or states.
            status.pod_ips = None;
            status.pod_ip = None;
            status.host_ips = None;
            status.host_ip = None;
            status.message = None;
            status.ephemeral_container_statuses = None;
            status.resource_claim_statuses = None;
            for cs in status
                .container_statuses
                .iter_mut()
                .flatten()
                .chain(status.init_container_statuses.iter_mut().flatten())
            {
                cs.last_state = None;
                cs.state = None;
                cs.allocated_resources = None;
                cs.resources = None;
                cs.volume_mounts = None;
                cs.user = None;
                cs.allocated_resources_status = None;
            }
        }
    } else if let Some(node) = any.downcast_mut::<Node>() {
        if let Some(status) = node.status.as_mut() {
            status.images = None;
            status.volumes_attached = None;
            status.volumes_in_use = None;
            status.addresses = None;
        }
    } else if let Some(cm) = any.downcast_mut::<ConfigMap>() {
        cm.binary_data = None;
    } else if let Some(rs) = any.downcast_mut::<ReplicaSet>() {
        // Evaluated through its Deployment's template.
        if controlled_by(&rs.metadata, &["Deployment"])
            && let Some(t) = rs.spec.template.as_mut()
        {
            t.spec = None;
        }
    } else if let Some(job) = any.downcast_mut::<Job>() {
        // Evaluated through its CronJob's template.
        if controlled_by(&job.metadata, &["CronJob"])
            && let Some(spec) = job.spec.as_mut()
        {
            spec.template.spec = None;
        }
    }
}

/// Whether a built-in controller of one of `kinds` controls the object.
fn controlled_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kinds: &[&str],
) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && kinds.contains(&o.kind.as_str()))
}

macro_rules! define_caches {
    ($($field:ident: $ty:ty,)*) => {
        /// Read handles on every watch cache.
        #[derive(Clone)]
        pub struct Stores {
            $(
                #[doc = concat!("Cached `", stringify!($ty), "`s.")]
                pub $field: Store<$ty>,
            )*
            /// ValidatingAdmissionPolicies, when served.
            pub admission_policies: Option<Store<ValidatingAdmissionPolicy>>,
            /// ValidatingAdmissionPolicyBindings, when served.
            pub admission_policy_bindings: Option<Store<ValidatingAdmissionPolicyBinding>>,
            /// Velero Backups, when served.
            pub velero_backups: Option<Store<DynamicObject>>,
            /// Velero Schedules, when served.
            pub velero_schedules: Option<Store<DynamicObject>>,
            /// Velero Restores, when served.
            pub velero_restores: Option<Store<DynamicObject>>,
            /// Cilium and Calico policies, one store per served [`DynKind`] (table order).
            pub dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT],
        }

        impl Stores {
            /// The objects of every store (cheap `Arc` clones).
            pub fn objects(&self) -> Objects {
                Objects {
                    $( $field: self.$field.state(), )*
                    admission_policies: self.admission_policies.as_ref().map(Store::state),
                    admission_policy_bindings: self.admission_policy_bindings.as_ref().map(Store::state),
                    velero_backups: self.velero_backups.as_ref().map(Store::state),
                    velero_schedules: self.velero_schedules.as_ref().map(Store::state),
                    velero_restores: self.velero_restores.as_ref().map(Store::state),
                    dynamic: self.dynamic.each_ref().map(|s| s.as_ref().map(Store::state)).into(),
                }
            }
        }

        /// Creates a reflector per kind. Returns the stores and the tasks that feed them; the
        /// caller spawns the tasks.
        pub fn start(client: &Client, apis: OptionalApis, caches: &Arc<CacheState>) -> (Stores, Vec<BoxFuture<'static, ()>>) {
            let mut tasks: Vec<BoxFuture<'static, ()>> = Vec::new();
            $(
                let (store, writer) = reflector::store::<$ty>();
                tasks.push(Box::pin(reflect(Api::<$ty>::all(client.clone()), writer, caches.clone(), <$ty as k8s_openapi::Resource>::KIND)));
                let $field = store;
            )*
            let (admission_policies, admission_policy_bindings) = if apis.admission_policies {
                let (s1, w1) = reflector::store::<ValidatingAdmissionPolicy>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w1, caches.clone(), "ValidatingAdmissionPolicy")));
                let (s2, w2) = reflector::store::<ValidatingAdmissionPolicyBinding>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w2, caches.clone(), "ValidatingAdmissionPolicyBinding")));
                (Some(s1), Some(s2))
            } else {
                (None, None)
            };
            let mut velero: Vec<Option<Store<DynamicObject>>> = vec![None, None, None];
            if apis.velero {
                for (i, (kind, plural)) in VELERO_KINDS.into_iter().enumerate() {
                    let ar = velero_resource(kind, plural);
                    let (store, writer) = { let w = Writer::<DynamicObject>::new(ar.clone()); (w.as_reader(), w) };
                    let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
                    let label: &'static str = match kind { "Backup" => "Backup.velero.io", "Schedule" => "Schedule.velero.io", _ => "Restore.velero.io" };
                    tasks.push(Box::pin(reflect_dyn(api, writer, caches.clone(), label)));
                    velero[i] = Some(store);
                }
            }
            let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
            for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                let Some(source) = apis.dynamic.get(kind) else { continue };
                let ar = kind.resource(source);
                let writer = Writer::<DynamicObject>::new(ar.clone());
                *slot = Some(writer.as_reader());
                let stream = watcher(Api::<DynamicObject>::all_with(client.clone(), &ar), watcher::Config::default().any_semantic())
                    .default_backoff()
                    .modify(trim_dynamic)
                    .reflect(writer);
                let state = caches.clone();
                tasks.push(Box::pin(async move { drive(stream, state, kind.api().label).await }));
            }
            let mut velero = velero.into_iter();
            let stores = Stores {
                $( $field, )*
                admission_policies,
                admission_policy_bindings,
                velero_backups: velero.next().flatten(),
                velero_schedules: velero.next().flatten(),
                velero_restores: velero.next().flatten(),
                dynamic,
            };
            (stores, tasks)
        }
    };
}
crate::for_each_core_kind!(define_caches);

/// Shared cache bookkeeping: which reflectors have synced, a change counter, and the tick
/// channel.
pub struct CacheState {
    version: AtomicU64,
    expected: usize,
    synced: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
    all_synced: AtomicBool,
    synced_notify: tokio::sync::Notify,
    ticks: mpsc::UnboundedSender<()>,
}

impl CacheState {
    /// State for `expected` reflectors; ticks go to `ticks`.
    pub fn new(expected: usize, ticks: mpsc::UnboundedSender<()>) -> Arc<Self> {
        Arc::new(Self {
            version: AtomicU64::new(0),
            expected,
            synced: std::sync::Mutex::default(),
            all_synced: AtomicBool::new(false),
            synced_notify: tokio::sync::Notify::new(),
            ticks,
        })
    }

    /// How many reflectors [`start`] creates for these APIs.
    pub fn reflector_count(apis: OptionalApis) -> usize {
        macro_rules! count {
            ($($field:ident: $ty:ty,)*) => { 0 $( + { let _ = stringify!($field); 1 } )* };
        }
        crate::for_each_core_kind!(count)
            + if apis.admission_policies { 2 } else { 0 }
            + if apis.velero { VELERO_KINDS.len() } else { 0 }
            + apis.dynamic.count()
    }

    /// Bumped on every change to any cached object.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Whether every reflector has completed its initial list.
    pub fn synced(&self) -> bool {
        self.all_synced.load(Ordering::Acquire)
    }

    /// Waits until every reflector has synced.
    pub async fn wait_synced(&self) {
        loop {
            let notified = self.synced_notify.notified();
            if self.synced() {
                return;
            }
            notified.await;
        }
    }

    /// Records a change and sends a tick (only once synced: the initial lists are one change).
    pub fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        if self.synced() {
            let _ = self.ticks.send(());
        }
    }

    fn mark_synced(&self, kind: &'static str) {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if synced.insert(kind) && synced.len() >= self.expected {
            self.all_synced.store(true, Ordering::Release);
            self.synced_notify.notify_waiters();
            let _ = self.ticks.send(());
        }
    }
}

async fn reflect<K>(api: Api<K>, writer: Writer<K>, state: Arc<CacheState>, kind: &'static str)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(trim_object::<K>)
        .reflect(writer);
    drive(stream, state, kind).await;
}

async fn reflect_dyn(
    api: Api<DynamicObject>,
    writer: Writer<DynamicObject>,
    state: Arc<CacheState>,
    kind: &'static str,
) {
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|o: &mut DynamicObject| trim_metadata(&mut o.metadata))
        .reflect(writer);
    drive(stream, state, kind).await;
}

async fn drive<K, S>(stream: S, state: Arc<CacheState>, kind: &'static str)
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                debug!(kind, "watch cache synced");
                state.mark_synced(kind);
                state.changed();
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => state.changed(),
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Err(e) => warn!(kind, error = %e, "watch failed; retrying with backoff"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, NodeStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    #[test]
    fn trimming_keeps_what_checks_read() {
        let mut pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("kubectl-edit".into()),
                    operation: Some("Update".into()),
                    fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                        serde_json::json!({"f:spec": {}}),
                    )),
                    ..Default::default()
                }]),
                annotations: Some(
                    [(
                        "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                        "{}".to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some("10.0.0.1".into()),
                container_statuses: Some(vec![ContainerStatus {
                    image: "nginx:1".into(),
                    image_id: "sha256:abc".into(),
                    state: Some(ContainerState::default()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        trim_object(&mut pod);
        let mf = &pod.metadata.managed_fields.as_ref().unwrap()[0];
        assert_eq!(mf.manager.as_deref(), Some("kubectl-edit"));
        assert!(mf.fields_v1.is_none());
        assert!(pod.metadata.annotations.is_none());
        let status = pod.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.is_none());
        let cs = &status.container_statuses.unwrap()[0];
        assert_eq!(cs.image_id, "sha256:abc");
        assert!(cs.state.is_none());

        let mut node = Node {
            status: Some(NodeStatus {
                images: Some(vec![Default::default()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        trim_object(&mut node);
        assert!(node.status.unwrap().images.is_none());
    }

    #[test]
    fn one_reflector_per_kind() {
        let none = OptionalApis::default();
        let mut all = OptionalApis {
            velero: true,
            admission_policies: true,
            ..OptionalApis::default()
        };
        for kind in DynKind::ALL {
            all.dynamic.set(kind, kind.api().sources[0]);
        }
        assert_eq!(CacheState::reflector_count(none), 22);
        assert_eq!(CacheState::reflector_count(all), 31);
    }

    #[tokio::test]
    async fn ticks_start_after_every_reflector_synced() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let state = CacheState::new(2, tx);
        state.changed();
        assert!(rx.try_recv().is_err(), "no tick before sync");
        state.mark_synced("A");
        assert!(!state.synced());
        state.mark_synced("B");
        assert!(state.synced());
        assert!(rx.try_recv().is_ok());
        state.changed();
        assert!(rx.try_recv().is_ok());
        assert!(state.version() >= 2);
    }
}
