//! Watch caches: one kube-runtime reflector per kind the checks read.
//!
//! Every object goes through [`cache_events`] before it is cached: the one trim
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
    runtime::{
        WatchStreamExt,
        reflector::{self, Store, store::Writer},
        utils::Backoff,
        watcher,
    },
};
use serde::de::DeserializeOwned;
use soc2_core::snapshot::kinds::*;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::live::{OptionalApis, velero_resource};
use soc2_core::snapshot::dynamic::{DYN_KIND_COUNT, DynKind};
use soc2_core::snapshot::{ClusterSnapshot, KindId, ObjectChange, Objects, VELERO_KINDS, trim};

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
                tasks.push(Box::pin(reflect(Api::<$ty>::all(client.clone()), writer, caches.clone(), <$ty as k8s_openapi::Resource>::KIND, KindId::$ty, ())));
                let $field = store;
            )*
            let (admission_policies, admission_policy_bindings) = if apis.admission_policies {
                let (s1, w1) = reflector::store::<ValidatingAdmissionPolicy>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w1, caches.clone(), "ValidatingAdmissionPolicy", KindId::ValidatingAdmissionPolicy, ())));
                let (s2, w2) = reflector::store::<ValidatingAdmissionPolicyBinding>();
                tasks.push(Box::pin(reflect(Api::all(client.clone()), w2, caches.clone(), "ValidatingAdmissionPolicyBinding", KindId::ValidatingAdmissionPolicyBinding, ())));
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
                    let (label, id): (&'static str, KindId) = match kind {
                        "Backup" => ("Backup.velero.io", KindId::VeleroBackup),
                        "Schedule" => ("Schedule.velero.io", KindId::VeleroSchedule),
                        _ => ("Restore.velero.io", KindId::VeleroRestore),
                    };
                    tasks.push(Box::pin(reflect(api, writer, caches.clone(), label, id, ar.clone())));
                    velero[i] = Some(store);
                }
            }
            let mut dynamic: [Option<Store<DynamicObject>>; DYN_KIND_COUNT] = Default::default();
            for (slot, kind) in dynamic.iter_mut().zip(DynKind::ALL) {
                let Some(source) = apis.dynamic.get(kind) else { continue };
                let ar = kind.resource(source);
                let writer = Writer::<DynamicObject>::new(ar.clone());
                *slot = Some(writer.as_reader());
                tasks.push(Box::pin(reflect(Api::<DynamicObject>::all_with(client.clone(), &ar), writer, caches.clone(), kind.api().label, KindId::Dyn(kind), ar.clone())));
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

async fn reflect<K>(
    api: Api<K>,
    writer: Writer<K>,
    state: Arc<CacheState>,
    label: &'static str,
    kind: KindId,
    dyntype: K::DynamicType,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let events =
        watcher(api, watcher::Config::default().any_semantic()).backoff(RelistBackoff::new());
    let track = tracker(writer.as_reader(), dyntype, state.clone(), kind);
    drive(cache_events(events, writer), state, label, track).await;
}

/// Records each watched change as the object the store now holds (the same `Arc`), or as a
/// removal.
fn tracker<K>(
    store: Store<K>,
    dyntype: K::DynamicType,
    state: Arc<CacheState>,
    kind: KindId,
) -> impl FnMut(&watcher::Event<K>)
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    move |event| match event {
        watcher::Event::Apply(obj) => {
            match store.get(&reflector::ObjectRef::from_obj_with(obj, dyntype.clone())) {
                Some(cached) => state.record(kind, ObjectChange::upsert(cached)),
                // Not cached (cannot happen after the reflector applied it): rebuild.
                None => state.record_relist(),
            }
        }
        watcher::Event::Delete(obj) => state.record(kind, ObjectChange::remove(obj)),
        _ => {}
    }
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

async fn drive<K, S>(
    stream: S,
    state: Arc<CacheState>,
    kind: &'static str,
    mut track: impl FnMut(&watcher::Event<K>),
) where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                debug!(kind, "watch cache synced");
                state.record_relist();
                state.mark_synced(kind);
                state.changed();
            }
            Ok(ref e @ (watcher::Event::Apply(_) | watcher::Event::Delete(_))) => {
                track(e);
                state.changed();
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Err(e) => {
                state.mark_stale(kind);
                warn!(kind, error = %e, "watch failed; cache stale until it re-lists");
            }
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

    /// Scripted watch events for ConfigMaps through the cache path with change tracking: the
    /// updated snapshot equals a rebuild from the stores, shares the stores' objects, leaves
    /// a snapshot still held by someone else alone, and keeps the other kinds' stamps.
    #[tokio::test]
    async fn watched_changes_update_the_snapshot_as_a_rebuild_would() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::ResourceExt;

        let objects = soc2_core::synth::generate(300, 5);
        let mut stores = Stores::replay(&objects).await;
        let (tx, _rx) = mpsc::unbounded_channel();
        let state = CacheState::new(1, tx);
        let (store, writer) = reflector::store::<ConfigMap>();
        stores.config_maps = store.clone();
        let (events, source) = futures::channel::mpsc::unbounded();
        let track = tracker(store.clone(), (), state.clone(), KindId::ConfigMap);
        tokio::spawn(drive(
            cache_events(source.map(Ok), writer),
            state.clone(),
            "ConfigMap",
            track,
        ));
        let send = |evs: Vec<watcher::Event<ConfigMap>>| {
            let before = state.version();
            let n = evs
                .iter()
                .filter(|e| !matches!(e, watcher::Event::Init | watcher::Event::InitApply(_)))
                .count() as u64;
            for e in evs {
                events.unbounded_send(e).expect("driver running");
            }
            let state = state.clone();
            async move {
                while state.version() < before + n {
                    tokio::task::yield_now().await;
                }
            }
        };
        let list = |cms: &[Arc<ConfigMap>]| {
            std::iter::once(watcher::Event::Init)
                .chain(
                    cms.iter()
                        .map(|c| watcher::Event::InitApply(ConfigMap::clone(c))),
                )
                .chain(std::iter::once(watcher::Event::InitDone))
                .collect::<Vec<_>>()
        };
        send(list(&objects.config_maps)).await;
        let first = updated_snapshot(&stores, &state, None);
        assert_eq!(first.config_maps.len(), objects.config_maps.len());

        let mut edited = ConfigMap::clone(&objects.config_maps[0]);
        edited.data = Some([("k".to_string(), "v".to_string())].into());
        let gone = ConfigMap::clone(&objects.config_maps[1]);
        let mut added = ConfigMap::clone(&objects.config_maps[2]);
        added.metadata.name = Some("added".into());
        send(vec![
            watcher::Event::Apply(edited.clone()),
            watcher::Event::Delete(gone.clone()),
            watcher::Event::Apply(added),
        ])
        .await;
        let second = updated_snapshot(&stores, &state, Some(first.clone()));
        let rebuilt = ClusterSnapshot::new(stores.objects());
        assert!(second.objects() == rebuilt.objects() && second.index() == rebuilt.index());
        let is_gone = |c: &Arc<ConfigMap>| {
            (c.namespace(), c.name_any()) == (gone.namespace(), gone.name_any())
        };
        assert!(first.config_maps.iter().any(is_gone));
        assert!(!second.config_maps.iter().any(is_gone));
        let cached = store
            .get(&reflector::ObjectRef::from_obj(&edited))
            .expect("cached");
        assert!(
            second.config_maps.iter().any(|c| Arc::ptr_eq(c, &cached)),
            "the snapshot shares the store's object"
        );
        assert_ne!(
            first.stamps().get(KindId::ConfigMap),
            second.stamps().get(KindId::ConfigMap)
        );
        assert_eq!(
            first.stamps().get(KindId::Pod),
            second.stamps().get(KindId::Pod)
        );

        // A re-list: rebuilt from the stores, every stamp new.
        send(list(&objects.config_maps[..5])).await;
        let third = updated_snapshot(&stores, &state, Some(second.clone()));
        assert_eq!(third.config_maps.len(), 5);
        assert_ne!(
            second.stamps().get(KindId::Pod),
            third.stamps().get(KindId::Pod)
        );
    }

    #[test]
    fn relist_backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut b = RelistBackoff::new();
        let delays: Vec<Duration> = (0..8).map(|_| b.next().unwrap()).collect();
        let (lo, hi) = (0.75, 1.25);
        assert!(delays[0] >= Duration::from_millis(150) && delays[0] < Duration::from_millis(250));
        for d in &delays[4..] {
            assert!(
                d.as_secs_f64() >= 2.0 * lo && d.as_secs_f64() < 2.0 * hi,
                "{d:?}"
            );
        }
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "jittered");
        b.reset();
        assert!(b.next().unwrap() < Duration::from_millis(250));
    }

    mod scripted {
        use super::super::*;
        use http::{Request, Response};
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::ResourceExt;
        use kube::client::Body;
        use serde_json::json;
        use tokio::time::Instant;

        fn status(code: u16, reason: &str) -> serde_json::Value {
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "reason": reason, "code": code, "message": reason})
        }

        fn list(rv: &str, names: &[&str]) -> serde_json::Value {
            let items: Vec<_> = names
                .iter()
                .map(|n| json!({"metadata": {"name": n, "namespace": "a", "resourceVersion": rv}}))
                .collect();
            json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items})
        }

        fn respond(code: u16, body: Vec<u8>) -> Response<Body> {
            Response::builder()
                .status(code)
                .body(Body::from(body))
                .expect("response")
        }

        /// A watch answered by `410 Gone`, then the API server unreachable (503) for `down`,
        /// then back. Returns the time from the server being back to the re-list request, and
        /// checks readiness and the cache contents along the way.
        async fn relist_after_gone<B: Backoff + 'static>(backoff: B, down: Duration) -> Duration {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let client = kube::Client::new(service, "default");
            let (tx, _rx) = mpsc::unbounded_channel();
            let state = CacheState::new(1, tx);
            let (store, writer) = reflector::store::<ConfigMap>();
            let events = watcher(
                Api::<ConfigMap>::all(client),
                watcher::Config::default().any_semantic(),
            )
            .backoff(backoff);
            tokio::spawn(drive(
                cache_events(events, writer),
                state.clone(),
                "ConfigMap",
                |_| {},
            ));

            let is_watch = |r: &Request<Body>| r.uri().query().unwrap_or("").contains("watch=true");
            // Initial list, then a watch answered with 410 Gone.
            let (req, send) = handle.next_request().await.expect("list");
            assert!(!is_watch(&req), "{}", req.uri());
            send.send_response(respond(
                200,
                serde_json::to_vec(&list("1", &["old"])).unwrap(),
            ));
            let (req, send) = handle.next_request().await.expect("watch");
            assert!(is_watch(&req), "{}", req.uri());
            let mut gone =
                serde_json::to_vec(&json!({"type": "ERROR", "object": status(410, "Expired")}))
                    .unwrap();
            gone.push(b'\n');
            send.send_response(respond(200, gone));
            // The server is down: every call fails until `back`.
            let back = Instant::now() + down;
            let relisted = loop {
                let (req, send) = handle.next_request().await.expect("a retry");
                if Instant::now() >= back {
                    assert!(
                        !is_watch(&req),
                        "after 410 the watcher re-lists: {}",
                        req.uri()
                    );
                    let waited = Instant::now() - back;
                    send.send_response(respond(
                        200,
                        serde_json::to_vec(&list("5", &["new"])).unwrap(),
                    ));
                    break waited;
                }
                assert!(!state.ready(), "stale while the server is down");
                assert_eq!(state.stale_kinds(), vec!["ConfigMap"]);
                send.send_response(respond(
                    503,
                    serde_json::to_vec(&status(503, "ServiceUnavailable")).unwrap(),
                ));
            };
            // The fresh list replaces the cache and makes it current again.
            let (req, _hold) = handle.next_request().await.expect("the next watch");
            assert!(is_watch(&req), "{}", req.uri());
            assert!(state.ready(), "current again after the re-list");
            let names: Vec<String> = store.state().iter().map(|c| c.name_any()).collect();
            assert_eq!(names, vec!["new".to_string()]);
            relisted
        }

        /// The API server unreachable (503) for `down` while the cache watches, then back.
        /// Returns the time from the server being back to the next watch request. No re-list
        /// happens here, so nothing resets the backoff during the outage.
        async fn rewatch_after_outage<B: Backoff + 'static>(
            backoff: B,
            down: Duration,
        ) -> Duration {
            let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let client = kube::Client::new(service, "default");
            let (tx, _rx) = mpsc::unbounded_channel();
            let state = CacheState::new(1, tx);
            let (_store, writer) = reflector::store::<ConfigMap>();
            let events = watcher(
                Api::<ConfigMap>::all(client),
                watcher::Config::default().any_semantic(),
            )
            .backoff(backoff);
            tokio::spawn(drive(
                cache_events(events, writer),
                state.clone(),
                "ConfigMap",
                |_| {},
            ));
            let (_req, send) = handle.next_request().await.expect("list");
            send.send_response(respond(
                200,
                serde_json::to_vec(&list("1", &["a"])).unwrap(),
            ));
            let back = Instant::now() + down;
            let mut failed = false;
            loop {
                let (req, send) = handle.next_request().await.expect("a watch");
                assert!(
                    req.uri().query().unwrap_or("").contains("watch=true"),
                    "{}",
                    req.uri()
                );
                // The retry came after the failure was handled.
                assert_eq!(state.ready(), !failed, "stale after a failed watch");
                if Instant::now() >= back {
                    return Instant::now() - back;
                }
                send.send_response(respond(
                    503,
                    serde_json::to_vec(&status(503, "ServiceUnavailable")).unwrap(),
                ));
                failed = true;
            }
        }

        #[tokio::test(start_paused = true)]
        async fn after_an_outage_while_watching_the_cache_rewatches_within_the_backoff_cap() {
            let (mut ours, mut default) = (Duration::ZERO, Duration::ZERO);
            for secs in (1..=60).step_by(3) {
                let down = Duration::from_secs(secs);
                ours = ours.max(rewatch_after_outage(RelistBackoff::new(), down).await);
                default = default
                    .max(rewatch_after_outage(watcher::DefaultBackoff::default(), down).await);
            }
            eprintln!(
                "server back -> watch again, worst over 1..60 s outages: RelistBackoff {ours:?}, kube default {default:?}"
            );
            assert!(ours <= Duration::from_millis(2500), "{ours:?}");
            assert!(
                default > Duration::from_secs(5),
                "the old backoff was the delay: {default:?}"
            );
        }

        #[tokio::test(start_paused = true)]
        async fn after_410_and_an_outage_the_cache_relists_within_the_backoff_cap() {
            // The worst wait over outages of 1 to 60 s (the phase of the backoff varies).
            let (mut ours, mut default) = (Duration::ZERO, Duration::ZERO);
            for secs in (1..=60).step_by(3) {
                let down = Duration::from_secs(secs);
                ours = ours.max(relist_after_gone(RelistBackoff::new(), down).await);
                default =
                    default.max(relist_after_gone(watcher::DefaultBackoff::default(), down).await);
            }
            eprintln!(
                "server back -> relist, worst over 1..60 s outages: RelistBackoff {ours:?}, kube default {default:?}"
            );
            assert!(ours <= Duration::from_millis(2500), "{ours:?}");
        }
    }
}
