//! Watch caches: one kube-runtime reflector per kind the checks read.
//!
//! Every object goes through [`cache_events`] before it is cached: the one trim
//! ([`soc2_core::snapshot::trim`]) that `audit` and the manifests loader use too, so the operator
//! and `audit` judge the same objects. Every change bumps a version counter and sends a tick on the change channel; the controller
//! debounces ticks into re-evaluations. After the initial list the reflectors only watch; they
//! never poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
use soc2_core::snapshot::kinds::*;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::live::{OptionalApis, velero_resource};
use soc2_core::snapshot::dynamic::{DYN_KIND_COUNT, DynKind};
use soc2_core::snapshot::{Objects, VELERO_KINDS, trim};

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

        impl Stores {
            /// Caches filled by replaying `objects` as one initial list per kind through
            /// [`cache_events`], the path every watch event takes. For tests and benchmarks that
            /// need the operator's view of a set of objects without an API server.
            pub async fn replay(objects: &Objects) -> Stores {
                $( let $field = replay_list(&objects.$field, Writer::default()).await; )*
                let admission_policies = match &objects.admission_policies {
                    Some(list) => Some(replay_list(list, Writer::default()).await),
                    None => None,
                };
                let admission_policy_bindings = match &objects.admission_policy_bindings {
                    Some(list) => Some(replay_list(list, Writer::default()).await),
                    None => None,
                };
                let mut velero = Vec::new();
                for ((kind, plural), list) in VELERO_KINDS.into_iter().zip([&objects.velero_backups, &objects.velero_schedules, &objects.velero_restores]) {
                    velero.push(match list {
                        Some(list) => Some(replay_list(list, Writer::new(velero_resource(kind, plural))).await),
                        None => None,
                    });
                }
                let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
                for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                    if let Some(list) = objects.dynamic.get(kind) {
                        let writer = Writer::new(kind.resource(kind.api().sources[0]));
                        *slot = Some(replay_list(list, writer).await);
                    }
                }
                let mut velero = velero.into_iter();
                Stores {
                    $( $field, )*
                    admission_policies,
                    admission_policy_bindings,
                    velero_backups: velero.next().flatten(),
                    velero_schedules: velero.next().flatten(),
                    velero_restores: velero.next().flatten(),
                    dynamic,
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
                    tasks.push(Box::pin(reflect(api, writer, caches.clone(), label)));
                    velero[i] = Some(store);
                }
            }
            let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
            for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                let Some(source) = apis.dynamic.get(kind) else { continue };
                let ar = kind.resource(source);
                let writer = Writer::<DynamicObject>::new(ar.clone());
                *slot = Some(writer.as_reader());
                tasks.push(Box::pin(reflect(Api::<DynamicObject>::all_with(client.clone(), &ar), writer, caches.clone(), kind.api().label)));
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
soc2_core::for_each_core_kind!(define_caches);

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
        soc2_core::for_each_core_kind!(count)
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

/// The per-object path of every watch cache: each object is trimmed ([`trim`]), then stored by
/// the reflector. The operator feeds it watch events; tests feed it scripted events to show that
/// the operator and `audit` see the same objects.
pub fn cache_events<K, S>(events: S, writer: Writer<K>) -> impl futures::Stream<Item = S::Item>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    events.modify(trim::<K>).reflect(writer)
}

async fn replay_list<K>(list: &[Arc<K>], writer: Writer<K>) -> Store<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let store = writer.as_reader();
    let events = std::iter::once(watcher::Event::Init)
        .chain(list.iter().map(|o| watcher::Event::InitApply(K::clone(o))))
        .chain(std::iter::once(watcher::Event::InitDone))
        .map(Ok);
    cache_events(futures::stream::iter(events), writer)
        .for_each(|_| async {})
        .await;
    store
}

async fn reflect<K>(api: Api<K>, writer: Writer<K>, state: Arc<CacheState>, kind: &'static str)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let events = watcher(api, watcher::Config::default().any_semantic()).default_backoff();
    drive(cache_events(events, writer), state, kind).await;
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
        assert_eq!(
            CacheState::reflector_count(all),
            22 + 2 + 3 + DYN_KIND_COUNT
        );
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
