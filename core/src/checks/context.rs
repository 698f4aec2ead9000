//! What a check sees: the snapshot, the control's namespace scope and the time.

use std::collections::HashSet;

use jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use crate::activity::Activity;
use crate::crd::{Attestation, Scope};
use crate::snapshot::ClusterSnapshot;

/// The namespaces a control applies to, resolved against a snapshot.
#[derive(Clone, Debug, Default)]
pub struct ScopeFilter {
    selector: Option<Selector>,
    excluded: HashSet<String>,
}

impl ScopeFilter {
    /// Every namespace.
    pub fn all() -> Self {
        Self::default()
    }

    /// From a control's `spec.scope`. Errors name the field.
    pub fn from_spec(scope: &Scope) -> Result<Self, String> {
        let selector = match &scope.namespace_selector {
            Some(sel) => Some(
                Selector::try_from(sel.clone())
                    .map_err(|e| format!("spec.scope.namespaceSelector: {e}"))?,
            ),
            None => None,
        };
        Ok(Self {
            selector,
            excluded: scope.excluded_namespaces.iter().cloned().collect(),
        })
    }

    /// Excludes more namespaces (used by tests and the CLI).
    pub fn excluding<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.excluded.extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether deciding the scope reads the snapshot's Namespaces (their labels): true when
    /// there is a namespace label selector.
    pub fn reads_namespaces(&self) -> bool {
        self.selector.is_some()
    }

    /// Whether objects in `namespace` are in scope. Namespaces the snapshot does not know are
    /// in scope only when there is no label selector.
    pub fn includes(&self, snapshot: &ClusterSnapshot, namespace: &str) -> bool {
        if self.excluded.contains(namespace) {
            return false;
        }
        match &self.selector {
            None => true,
            Some(sel) => match snapshot.index().namespace(namespace) {
                Some(ns) => {
                    static EMPTY: std::collections::BTreeMap<String, String> =
                        std::collections::BTreeMap::new();
                    sel.matches(ns.metadata.labels.as_ref().unwrap_or(&EMPTY))
                }
                None => false,
            },
        }
    }
}

/// The input of a check.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// The cluster.
    pub snapshot: &'a ClusterSnapshot,
    /// Namespaces in scope.
    pub scope: &'a ScopeFilter,
    /// Evaluation time (for ages and expiry); never read from the clock inside a check.
    pub now: Timestamp,
    /// Name of the Soc2Control being evaluated ("" outside a control).
    pub control: &'a str,
    /// The control's attestations as written (for checks that judge recorded reviews, such as
    /// `rbac.access-review-current`); empty outside a control.
    pub attestations: &'a [Attestation],
    /// What the API server's audit events showed (the `access.*` activity checks read only
    /// this); `None` when the operator's audit-event intake is not running. A separate input
    /// from the snapshot: it changes with events, not with cluster objects.
    pub activity: Option<&'a Activity>,
}

impl<'a> Ctx<'a> {
    /// Whether a namespace is in scope.
    pub fn in_scope(&self, namespace: &str) -> bool {
        self.scope.includes(self.snapshot, namespace)
    }

    /// In-scope namespaces (objects), sorted by name.
    pub fn namespaces(
        &self,
    ) -> impl Iterator<Item = &'a k8s_openapi::api::core::v1::Namespace> + 'a {
        let snapshot = self.snapshot;
        let scope = self.scope;
        snapshot
            .namespaces
            .iter()
            .map(AsRef::as_ref)
            .filter(move |n| scope.includes(snapshot, n.metadata.name.as_deref().unwrap_or("")))
    }
}
