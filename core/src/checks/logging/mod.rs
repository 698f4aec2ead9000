//! Checks of the `logging` domain (and `monitoring`, which the design groups with it): API
//! server audit logging, and detection/monitoring agents running on every node.
//!
//! The kube-apiserver discovery and flag parsing live in
//! `encryption::control_plane`. This module does not read audit logs
//! or agent output; it shows that they are configured and running.

mod agents;
mod audit_log;
pub mod detectors;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(audit_log::AuditLog);
    catalog.add(agents::AgentsReady);
}
