//! Checks of the `availability` domain: critical workloads survive node loss and disruptions
//! (`availability.redundancy`) and every container declares the resources it needs
//! (`availability.resources`).
//!
//! Autoscalers and LimitRange defaults are not part of the snapshot, so these checks judge the
//! workload specs as written.

mod redundancy;
mod resources;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(redundancy::Redundancy);
    catalog.add(resources::Resources);
}
