//! Checks of the `data` domain: credentials kept outside Secrets
//! (`data.credentials-in-plain-config`) and namespaces labelled with a data classification
//! (`data.classification`).
//!
//! Nothing here ever copies a configuration value into a finding: messages name keys,
//! containers and objects only, so evidence never carries a secret.

mod classification;
mod credentials;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(credentials::CredentialsInPlainConfig);
    catalog.add(classification::Classification);
}
