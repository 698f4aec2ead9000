//! Checks of the `access` domain: how the kube-apiserver authenticates and authorizes requests
//! (`access.api-server-authentication`, `access.api-server-authorization`).
//!
//! The API server pods and their flags come from `encryption::control_plane`, which
//! `encryption.secrets-at-rest` and `logging.audit-log` share. This module does not read the
//! files the flags point to (structured authentication/authorization configuration, webhook
//! kubeconfigs), nor RBAC objects (the `rbac` domain judges those), nor a managed control plane:
//! there it reports one finding that only an attestation satisfies.

mod api_server;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(api_server::ApiServerAuthentication);
    catalog.add(api_server::ApiServerAuthorization);
}
