//! Checks of the `availability` domain.

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(_catalog: &mut Catalog) {}
