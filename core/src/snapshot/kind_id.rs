//! [`KindId`]: one name for every object list of a snapshot, so checks can declare what they
//! read and the incremental path can say what changed.
//!
//! This module owns the enum, the per-kind content stamps ([`Stamps`]) and the kind-generic
//! operations on [`Objects`] that the incremental snapshot ([`super::incremental`]) and the
//! declaration tests need: insert, replace or remove one object of a kind, or swap a kind's
//! whole list. It does not decide what to re-evaluate (the engine's
//! [`Incremental`](crate::engine::Incremental) does).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::Resource;

use super::Objects;
use super::dynamic::{DYN_KIND_COUNT, DynKind};

macro_rules! define_kind_id {
    ($($field:ident: $ty:ident,)*) => {
        /// One object list of a snapshot: every always-present kind, the optional typed kinds,
        /// the Velero kinds and every [`DynKind`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum KindId {
            $(
                #[doc = concat!("`", stringify!($ty), "` (`Objects::", stringify!($field), "`).")]
                $ty,
            )*
            /// `ValidatingAdmissionPolicy` (optional).
            ValidatingAdmissionPolicy,
            /// `ValidatingAdmissionPolicyBinding` (optional).
            ValidatingAdmissionPolicyBinding,
            /// Velero `Backup` (optional).
            VeleroBackup,
            /// Velero `Schedule` (optional).
            VeleroSchedule,
            /// Velero `Restore` (optional).
            VeleroRestore,
            /// A table kind of [`super::dynamic`] (optional).
            Dyn(DynKind),
        }

        /// The always-present kinds, in `for_each_core_kind!` order.
        const CORE: &[KindId] = &[$(KindId::$ty,)*];

        impl Objects {
            /// Calls `visitor` with the list of `kind`, typed.
            pub(crate) fn visit_kind<V: KindVisitor>(&mut self, kind: KindId, visitor: V) -> V::Out {
                match kind {
                    $( KindId::$ty => visitor.visit(Slot::Always(&mut self.$field)), )*
                    KindId::ValidatingAdmissionPolicy => visitor.visit(Slot::Optional(&mut self.admission_policies)),
                    KindId::ValidatingAdmissionPolicyBinding => visitor.visit(Slot::Optional(&mut self.admission_policy_bindings)),
                    KindId::VeleroBackup => visitor.visit(Slot::Optional(&mut self.velero_backups)),
                    KindId::VeleroSchedule => visitor.visit(Slot::Optional(&mut self.velero_schedules)),
                    KindId::VeleroRestore => visitor.visit(Slot::Optional(&mut self.velero_restores)),
                    KindId::Dyn(k) => visitor.visit(Slot::Optional(self.dynamic.get_mut(k))),
                }
            }
        }
    };
}
crate::for_each_core_kind!(define_kind_id);

/// Number of always-present kinds.
const CORE_COUNT: usize = CORE.len();
/// Number of [`KindId`]s.
pub const KIND_COUNT: usize = CORE_COUNT + 5 + DYN_KIND_COUNT;

/// The kinds [`ClusterSnapshot::workloads`](super::ClusterSnapshot::workloads) reads.
pub const WORKLOAD_KINDS: [KindId; 7] = [
    KindId::Deployment,
    KindId::StatefulSet,
    KindId::DaemonSet,
    KindId::CronJob,
    KindId::ReplicaSet,
    KindId::Job,
    KindId::Pod,
];

impl KindId {
    /// Every kind, in index order.
    pub fn all() -> impl Iterator<Item = KindId> {
        CORE.iter()
            .copied()
            .chain([
                KindId::ValidatingAdmissionPolicy,
                KindId::ValidatingAdmissionPolicyBinding,
                KindId::VeleroBackup,
                KindId::VeleroSchedule,
                KindId::VeleroRestore,
            ])
            .chain(DynKind::ALL.into_iter().map(KindId::Dyn))
    }

    /// A dense index in `0..KIND_COUNT`.
    pub fn index(self) -> usize {
        match self {
            KindId::ValidatingAdmissionPolicy => CORE_COUNT,
            KindId::ValidatingAdmissionPolicyBinding => CORE_COUNT + 1,
            KindId::VeleroBackup => CORE_COUNT + 2,
            KindId::VeleroSchedule => CORE_COUNT + 3,
            KindId::VeleroRestore => CORE_COUNT + 4,
            KindId::Dyn(k) => CORE_COUNT + 5 + k as usize,
            core => CORE.iter().position(|c| *c == core).unwrap_or(0),
        }
    }

    /// Whether the list may be absent (`None`: the cluster does not serve the API).
    pub fn optional(self) -> bool {
        self.index() >= CORE_COUNT
    }
}

/// A stamp per kind naming the content of that kind's list: two snapshots with the same stamp
/// for a kind hold the same objects of that kind. Every new or changed list gets a stamp never
/// used before in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamps([u64; KIND_COUNT]);

static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

fn fresh() -> u64 {
    NEXT_STAMP.fetch_add(1, Ordering::Relaxed)
}

impl Default for Stamps {
    fn default() -> Self {
        Self::fresh()
    }
}

impl Stamps {
    /// A fresh stamp for every kind.
    pub fn fresh() -> Self {
        Self(std::array::from_fn(|_| fresh()))
    }

    /// The stamp of a kind.
    pub fn get(&self, kind: KindId) -> u64 {
        self.0[kind.index()]
    }

    /// Gives a kind a fresh stamp (its list changed).
    pub fn bump(&mut self, kind: KindId) {
        self.0[kind.index()] = fresh();
    }
}

/// What a snapshot object must be for the kind-generic operations.
pub(crate) trait SnapshotObject:
    Resource + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
}
impl<K> SnapshotObject for K where
    K: Resource + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
}

/// The list of one kind, typed.
pub(crate) enum Slot<'a, K> {
    /// An always-present kind.
    Always(&'a mut Vec<Arc<K>>),
    /// An optional kind (`None`: not served).
    Optional(&'a mut Option<Vec<Arc<K>>>),
}

/// An operation on the list of one kind, whatever its type.
pub(crate) trait KindVisitor {
    /// What the operation returns.
    type Out;
    /// Runs on the typed list.
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> Self::Out;
}

/// An object was passed for a kind whose type is another.
#[derive(Debug, thiserror::Error)]
#[error("object of the wrong type for kind {0:?}")]
pub struct KindMismatch(pub KindId);

/// The sort key of snapshot lists: (namespace, name).
fn key<K: Resource>(o: &K) -> (Option<&str>, Option<&str>) {
    (o.meta().namespace.as_deref(), o.meta().name.as_deref())
}

/// Where the object `(namespace, name)` is in a list sorted by [`key`].
pub(crate) fn position<K: Resource>(
    list: &[Arc<K>],
    namespace: Option<&str>,
    name: &str,
) -> Result<usize, usize> {
    list.binary_search_by(|o| key(o.as_ref()).cmp(&(namespace, Some(name))))
}

/// Inserts or replaces one object, keeping the list sorted.
pub(crate) struct Upsert(pub Arc<dyn Any + Send + Sync>, pub KindId);

impl KindVisitor for Upsert {
    type Out = Result<(), KindMismatch>;
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> Self::Out {
        let obj = self.0.downcast::<K>().map_err(|_| KindMismatch(self.1))?;
        let list = match slot {
            Slot::Always(l) => l,
            Slot::Optional(l) => l.get_or_insert_default(),
        };
        let meta = obj.meta();
        match position(
            list,
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or(""),
        ) {
            Ok(i) => list[i] = obj,
            Err(i) => list.insert(i, obj),
        }
        Ok(())
    }
}

/// Removes one object, if present.
pub(crate) struct Remove<'a>(pub Option<&'a str>, pub &'a str);

impl KindVisitor for Remove<'_> {
    type Out = bool;
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> bool {
        let list = match slot {
            Slot::Always(l) => l,
            Slot::Optional(Some(l)) => l,
            Slot::Optional(None) => return false,
        };
        match position(list, self.0, self.1) {
            Ok(i) => {
                list.remove(i);
                true
            }
            Err(_) => false,
        }
    }
}

/// Takes a kind's whole list out, type-erased (`Option<Vec<Arc<K>>>`; always `Some` for an
/// always-present kind), leaving it absent (empty for an always-present kind).
pub(crate) struct Take;

impl KindVisitor for Take {
    type Out = Box<dyn Any + Send>;
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> Self::Out {
        let list: Option<Vec<Arc<K>>> = match slot {
            Slot::Always(l) => Some(std::mem::take(l)),
            Slot::Optional(l) => l.take(),
        };
        Box::new(list)
    }
}

/// Puts a list taken by [`Take`] in place (`None` empties an always-present kind).
pub(crate) struct Put(pub Box<dyn Any + Send>, pub KindId);

impl KindVisitor for Put {
    type Out = Result<(), KindMismatch>;
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> Self::Out {
        let list = *self
            .0
            .downcast::<Option<Vec<Arc<K>>>>()
            .map_err(|_| KindMismatch(self.1))?;
        match slot {
            Slot::Always(l) => *l = list.unwrap_or_default(),
            Slot::Optional(l) => *l = list,
        }
        Ok(())
    }
}

/// Sets a kind absent (`None`), or served and empty.
pub(crate) struct SetEmpty {
    /// `true`: served with no objects; `false`: not served (empty for an always-present kind).
    pub served: bool,
}

impl KindVisitor for SetEmpty {
    type Out = ();
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) {
        match slot {
            Slot::Always(l) => l.clear(),
            Slot::Optional(l) => *l = self.served.then(Vec::new),
        }
    }
}

impl Objects {
    /// Moves out the list of `kind` (type-erased), leaving it absent or empty.
    pub fn take_kind(&mut self, kind: KindId) -> Box<dyn Any + Send> {
        self.visit_kind(kind, Take)
    }

    /// Puts a list from [`Objects::take_kind`] of the same kind in place.
    pub fn put_kind(
        &mut self,
        kind: KindId,
        list: Box<dyn Any + Send>,
    ) -> Result<(), KindMismatch> {
        self.visit_kind(kind, Put(list, kind))
    }

    /// Empties a kind: not served (`served == false`; always-present kinds just become empty)
    /// or served with no objects.
    pub fn empty_kind(&mut self, kind: KindId, served: bool) {
        self.visit_kind(kind, SetEmpty { served })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_dense_and_distinct() {
        let all: Vec<usize> = KindId::all().map(KindId::index).collect();
        assert_eq!(all, (0..KIND_COUNT).collect::<Vec<_>>());
        assert!(!KindId::Pod.optional());
        assert!(KindId::VeleroBackup.optional());
        assert!(KindId::Dyn(DynKind::Alertmanager).optional());
    }

    #[test]
    fn take_and_put_move_a_kind_between_snapshots() {
        let mut a = crate::synth::generate(200, 3);
        let mut b = Objects::default();
        let pods = a.pods.len();
        assert!(pods > 0);
        let list = a.take_kind(KindId::Pod);
        assert!(a.pods.is_empty());
        b.put_kind(KindId::Pod, list).expect("same kind");
        assert_eq!(b.pods.len(), pods);
        let wrong = b.take_kind(KindId::Pod);
        assert!(b.put_kind(KindId::Namespace, wrong).is_err());
        a.empty_kind(KindId::VeleroSchedule, false);
        assert!(a.velero_schedules.is_none());
        a.empty_kind(KindId::VeleroSchedule, true);
        assert_eq!(a.velero_schedules.as_ref().map(Vec::len), Some(0));
    }
}
