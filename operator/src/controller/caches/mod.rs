//! Watch caches: one kube-runtime watcher per kind the checks read, feeding a [`store`] of its
//! own (keyed by the objects' own namespace and name, without kube-runtime's cloned keys).
//!
//! Every object goes through [`admit`] before it is cached: the one trim
//! ([`soc2_core::snapshot::trim`]) that `audit` and the manifests loader use too, so the operator
//! and `audit` judge the same objects. Every change bumps a version counter and, once every
//! cache has its initial list, sends a tick on the change channel; the controller debounces
//! ticks into re-evaluations.
//!
//! Change tracking: every watched create, update or delete is also recorded as an
//! [`ObjectChange`] of its [`KindId`] (the cached `Arc`, so the snapshot shares it with the
//! store), and a (re)list asks for a full rebuild ([`CacheState::take_pending`]). The
//! controller applies the changes to its previous snapshot instead of rebuilding it
//! (`Context::snapshot`).
//!
//! Recovery: a watch error (the API server gone, a `410 Gone`) marks the kind's cache stale
//! (`/readyz` answers 503) and the watcher retries with [`RelistBackoff`] (200 ms doubling to
//! 2 s, jittered, reset by the next event); after a `410` the watcher re-lists, and the next
//! `InitDone` marks the cache current again and triggers a re-evaluation.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, future::BoxFuture};
use kube::{
    Api, Client, Resource,
    core::DynamicObject,
    runtime::{WatchStreamExt, utils::Backoff, watcher},
};
use serde::de::DeserializeOwned;
use soc2_core::snapshot::kinds::*;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::live::{OptionalApis, velero_resource};

pub mod store;
use soc2_core::snapshot::dynamic::{DYN_KIND_COUNT, DynKind};
use soc2_core::snapshot::{ClusterSnapshot, KindId, ObjectChange, Objects, VELERO_KINDS, trim};
use store::{Applied, Store, Writer};

macro_rules! define_caches {
    ($($field:ident: $ty:ident,)*) => {
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
                for list in [&objects.velero_backups, &objects.velero_schedules, &objects.velero_restores] {
                    velero.push(match list {
                        Some(list) => Some(replay_list(list, Writer::default()).await),
                        None => None,
                    });
                }
                let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
                for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                    if let Some(list) = objects.dynamic.get(kind) {
                        *slot = Some(replay_list(list, Writer::default()).await);
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
                let (store, writer) = store::store::<$ty>();
                tasks.push(Box::pin(reflect(Api::<$ty>::all(client.clone()), writer, caches.clone(), <$ty as k8s_openapi::Resource>::KIND, KindId::$ty)));
                let $field = store;
            )*
            let (admission_policies, admission_policy_bindings) = if apis.admission_policies {
                let (s1, w1) = store::store::<ValidatingAdmissionPolicy>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w1, caches.clone(), "ValidatingAdmissionPolicy", KindId::ValidatingAdmissionPolicy)));
                let (s2, w2) = store::store::<ValidatingAdmissionPolicyBinding>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w2, caches.clone(), "ValidatingAdmissionPolicyBinding", KindId::ValidatingAdmissionPolicyBinding)));
                (Some(s1), Some(s2))
            } else {
                (None, None)
            };
            let mut velero: Vec<Option<Store<DynamicObject>>> = vec![None, None, None];
            if apis.velero {
                for (i, (kind, plural)) in VELERO_KINDS.into_iter().enumerate() {
                    let ar = velero_resource(kind, plural);
                    let (store, writer) = store::store::<DynamicObject>();
                    let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
                    let (label, id): (&'static str, KindId) = match kind {
                        "Backup" => ("Backup.velero.io", KindId::VeleroBackup),
                        "Schedule" => ("Schedule.velero.io", KindId::VeleroSchedule),
                        _ => ("Restore.velero.io", KindId::VeleroRestore),
                    };
                    tasks.push(Box::pin(reflect(api, writer, caches.clone(), label, id)));
                    velero[i] = Some(store);
                }
            }
            let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
            for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                let Some(source) = apis.dynamic.get(kind) else { continue };
                let ar = kind.resource(source);
                let (store, writer) = store::store::<DynamicObject>();
                *slot = Some(store);
                tasks.push(Box::pin(reflect(Api::<DynamicObject>::all_with(client.clone(), &ar), writer, caches.clone(), kind.api().label, KindId::Dyn(kind))));
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
    stale: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
    synced_notify: tokio::sync::Notify,
    ticks: mpsc::UnboundedSender<()>,
    pending: std::sync::Mutex<Pending>,
}

/// The changes recorded since the controller last took them.
#[derive(Debug, Default)]
pub struct Pending {
    /// Watched changes, in the order their caches applied them.
    pub changes: Vec<(KindId, ObjectChange)>,
    /// A cache was (re)listed, or too many changes piled up: rebuild the snapshot from the
    /// stores instead of applying `changes`.
    pub rebuild: bool,
}

/// More changes than this between two snapshots: a rebuild is cheaper than applying them
/// (and memory stays bounded while nobody takes them).
const MAX_PENDING: usize = 20_000;

impl CacheState {
    /// State for `expected` reflectors; ticks go to `ticks`.
    pub fn new(expected: usize, ticks: mpsc::UnboundedSender<()>) -> Arc<Self> {
        Arc::new(Self {
            version: AtomicU64::new(0),
            expected,
            synced: std::sync::Mutex::default(),
            all_synced: AtomicBool::new(false),
            stale: std::sync::Mutex::default(),
            synced_notify: tokio::sync::Notify::new(),
            ticks,
            pending: std::sync::Mutex::new(Pending {
                changes: Vec::new(),
                rebuild: true,
            }),
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

    /// Whether the caches can be trusted now: every reflector has synced and none has failed
    /// since its last (re)list. What `/readyz` reports.
    pub fn ready(&self) -> bool {
        self.synced() && self.stale_kinds().is_empty()
    }

    /// The kinds whose watch failed and that have not re-listed since.
    pub fn stale_kinds(&self) -> Vec<&'static str> {
        let stale = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        stale.iter().copied().collect()
    }

    /// A watch of `kind` failed: its cache may miss changes until the next (re)list.
    pub fn mark_stale(&self, kind: &'static str) {
        let mut stale = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        stale.insert(kind);
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

    /// Records one watched change of a cached object (before [`CacheState::changed`] counts it).
    pub fn record(&self, kind: KindId, change: ObjectChange) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.rebuild {
            return;
        }
        if p.changes.len() >= MAX_PENDING {
            p.changes = Vec::new();
            p.rebuild = true;
            return;
        }
        p.changes.push((kind, change));
    }

    /// A cache was (re)listed: the next snapshot is rebuilt from the stores.
    pub fn record_relist(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.changes = Vec::new();
        p.rebuild = true;
    }

    /// Takes the changes recorded so far. Read [`CacheState::version`] first: every change
    /// counted in that version is in what this returns (or in the stores, after a rebuild).
    pub fn take_pending(&self) -> Pending {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *p)
    }

    /// Records a change and sends a tick (only once synced: the initial lists are one change).
    pub fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        if self.synced() {
            let _ = self.ticks.send(());
        }
    }

    fn mark_synced(&self, kind: &'static str) {
        self.stale
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(kind);
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if synced.insert(kind) && synced.len() >= self.expected {
            self.all_synced.store(true, Ordering::Release);
            self.synced_notify.notify_waiters();
            let _ = self.ticks.send(());
        }
    }
}

/// The snapshot of the stores' current contents: the recorded changes applied to `previous`
/// (in place when nothing else holds it, else on a copy), or a rebuild from the stores when
/// there is no previous snapshot, a cache was (re)listed, too many changes piled up, or a
/// change cannot be applied. Read [`CacheState::version`] before calling.
pub fn updated_snapshot(
    stores: &Stores,
    state: &CacheState,
    previous: Option<Arc<ClusterSnapshot>>,
) -> Arc<ClusterSnapshot> {
    let pending = state.take_pending();
    let updated = match previous {
        Some(mut previous) if !pending.rebuild => {
            let s = Arc::make_mut(&mut previous);
            pending
                .changes
                .into_iter()
                .try_for_each(|(kind, change)| s.apply(kind, change))
                .map_err(|e| warn!(error = %e, "rebuilding the snapshot"))
                .ok()
                .map(|()| previous)
        }
        _ => None,
    };
    updated.unwrap_or_else(|| Arc::new(ClusterSnapshot::new(stores.objects())))
}

/// The per-object path of every watch cache: the event's objects are trimmed ([`trim`]), then
/// applied to the store. The operator feeds it watch events; tests feed it scripted events to
/// show that the operator and `audit` see the same objects.
pub fn admit<K>(writer: &mut Writer<K>, mut event: watcher::Event<K>) -> Applied<K>
where
    K: Resource + Clone + 'static,
{
    match &mut event {
        watcher::Event::Apply(obj)
        | watcher::Event::InitApply(obj)
        | watcher::Event::Delete(obj) => trim(obj),
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
    writer.apply(event)
}

async fn replay_list<K>(list: &[Arc<K>], mut writer: Writer<K>) -> Store<K>
where
    K: Resource + Clone + 'static,
{
    let store = writer.as_reader();
    admit(&mut writer, watcher::Event::Init);
    for o in list {
        admit(&mut writer, watcher::Event::InitApply(K::clone(o)));
    }
    admit(&mut writer, watcher::Event::InitDone);
    store
}

async fn reflect<K>(
    api: Api<K>,
    writer: Writer<K>,
    state: Arc<CacheState>,
    label: &'static str,
    kind: KindId,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let events =
        watcher(api, watcher::Config::default().any_semantic()).backoff(RelistBackoff::new());
    drive(events, writer, state, label, kind).await;
}

/// The retry delays of the watch caches: 200 ms doubling to a 2 s cap, each scaled by a random
/// factor in [0.75, 1.25) so replicas and kinds do not retry in lockstep; reset by the next
/// event. kube-runtime's default (800 ms doubling to 30 s) left a watch up to 30 s behind an API
/// server that came back (measured: 33-38 s worst over 1-60 s outages in the scripted test);
/// with this cap it resumes within 2.5 s (measured ≤ 2.2 s).
pub struct RelistBackoff {
    next: Duration,
    rng: u64,
}

impl RelistBackoff {
    /// First delay.
    pub const INITIAL: Duration = Duration::from_millis(200);
    /// Longest delay (before jitter).
    pub const MAX: Duration = Duration::from_secs(2);

    /// A backoff at its first delay, with a random jitter seed.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            next: Self::INITIAL,
            rng: seed | 1,
        }
    }

    /// A number in [0.75, 1.25) (xorshift64).
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        0.75 + (self.rng >> 11) as f64 / (1u64 << 53) as f64 * 0.5
    }
}

impl Default for RelistBackoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for RelistBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(base.mul_f64(self.jitter()))
    }
}

impl Backoff for RelistBackoff {
    fn reset(&mut self) {
        self.next = Self::INITIAL;
    }
}

/// Applies every event of one kind's watch to its store and keeps the bookkeeping: a completed
/// (re)list marks the cache synced and current and asks for a rebuild, each change is recorded
/// for the incremental snapshot, and a watch error marks the cache stale.
async fn drive<K, S>(
    events: S,
    mut writer: Writer<K>,
    state: Arc<CacheState>,
    label: &'static str,
    kind: KindId,
) where
    K: Resource + Clone + Send + Sync + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event.map(|e| admit(&mut writer, e)) {
            Ok(Applied::Listed) => {
                debug!(kind = label, "watch cache synced");
                state.record_relist();
                state.mark_synced(label);
                state.changed();
            }
            Ok(Applied::Upserted(obj)) => {
                state.record(kind, ObjectChange::upsert(obj));
                state.changed();
            }
            Ok(Applied::Deleted(obj)) => {
                state.record(kind, ObjectChange::remove(&obj));
                state.changed();
            }
            Ok(Applied::Buffered) => {}
            Err(e) => {
                state.mark_stale(label);
                warn!(kind = label, error = %e, "watch failed; cache stale until it re-lists");
            }
        }
    }
}

#[cfg(test)]
mod tests;
