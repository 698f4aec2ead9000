//! Checks of the `availability` domain: critical workloads survive node loss and disruptions
//! (`availability.redundancy`), every container declares the resources it needs
//! (`availability.resources`), and critical workloads have availability alerts routed to an
//! Alertmanager (`monitoring.alerting`, in [`alerting`]).
//!
//! Autoscalers and LimitRange defaults are not part of the snapshot, so these checks judge the
//! workload specs as written.

pub mod alerting;
mod redundancy;
mod resources;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(redundancy::Redundancy);
    catalog.add(resources::Resources);
    catalog.add(alerting::Alerting);
}
