//! Incremental snapshots: applying one object's change to a [`ClusterSnapshot`] in place.
//!
//! The operator's watch caches report each change as an [`ObjectChange`] of a [`KindId`];
//! [`ClusterSnapshot::apply`] puts it into that kind's sorted list (a binary search and one
//! insert, replace or remove; the [`Index`](super::Index) searches the lists, so it has nothing
//! to refresh) and gives that kind a fresh stamp. Every other kind keeps its list and its
//! stamp, which is what lets the engine's
//! [`Incremental`](crate::engine::Incremental) evaluator reuse the outcomes of checks that do
//! not read the kind. A snapshot built by [`ClusterSnapshot::new`] from the same objects is
//! equal to one kept up to date this way (the property test in `engine::incremental` checks
//! it through the evaluation results).

use std::any::Any;
use std::sync::Arc;

use kube::Resource;

use super::ClusterSnapshot;
use super::kind_id::{KindId, KindMismatch, Remove, Stamps, Upsert};

/// One change to one object of a snapshot.
#[derive(Clone)]
pub enum ObjectChange {
    /// The object was created or changed: this is its new content (an `Arc<K>` of the kind's
    /// type).
    Upsert(Arc<dyn Any + Send + Sync>),
    /// The object was deleted.
    Remove {
        /// Its namespace (`None` for cluster-scoped kinds).
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
}

impl std::fmt::Debug for ObjectChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectChange::Upsert(_) => f.write_str("Upsert(..)"),
            ObjectChange::Remove { namespace, name } => f
                .debug_struct("Remove")
                .field("namespace", namespace)
                .field("name", name)
                .finish(),
        }
    }
}

impl ObjectChange {
    /// The object was created or changed.
    pub fn upsert<K: Resource + Send + Sync + 'static>(obj: Arc<K>) -> Self {
        ObjectChange::Upsert(obj)
    }

    /// The object was deleted.
    pub fn remove<K: Resource>(obj: &K) -> Self {
        ObjectChange::Remove {
            namespace: obj.meta().namespace.clone(),
            name: obj.meta().name.clone().unwrap_or_default(),
        }
    }
}

impl ClusterSnapshot {
    /// The content stamp of every kind: equal stamps, equal objects of that kind.
    pub fn stamps(&self) -> &Stamps {
        &self.stamps
    }

    /// Applies one object's change. An upsert into an optional kind that was absent makes it
    /// served; removing an object that is not there changes nothing. Errors (and changes
    /// nothing) when an upserted object is not of the kind's type.
    pub fn apply(&mut self, kind: KindId, change: ObjectChange) -> Result<(), KindMismatch> {
        match change {
            ObjectChange::Upsert(obj) => {
                self.objects.visit_kind(kind, Upsert(obj, kind))?;
            }
            ObjectChange::Remove { namespace, name } => {
                if !self
                    .objects
                    .visit_kind(kind, Remove(namespace.as_deref(), &name))
                {
                    return Ok(());
                }
            }
        }
        self.stamps.bump(kind);
        Ok(())
    }
}
