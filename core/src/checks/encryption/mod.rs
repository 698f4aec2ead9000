//! Checks of the `encryption` domain: Secrets encrypted at rest by the API server, and volumes
//! provisioned on encrypting storage.
//!
//! This module owns `control_plane`, the kube-apiserver pod discovery and flag parsing that
//! `logging.audit-log` shares. It cannot see the encryption configuration file itself, nor a
//! managed control plane: those need an attestation.

pub(super) mod control_plane;
mod secrets_at_rest;
mod volumes;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(secrets_at_rest::SecretsAtRest);
    catalog.add(volumes::EncryptedVolumes);
}
