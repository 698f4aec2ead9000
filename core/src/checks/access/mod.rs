//! Checks of the `access` domain: how the kube-apiserver authenticates and authorizes requests
//! (`access.api-server-authentication`, `access.api-server-authorization`), and what the API
//! server's audit events show about access (`access.failed-logins`, `access.mfa`,
//! `access.privileged-actions-reviewed`, `access.terminated-identities`).
//!
//! The API server pods and their flags come from `encryption::control_plane`, which
//! `encryption.secrets-at-rest` and `logging.audit-log` share. This module does not read the
//! files the flags point to (structured authentication/authorization configuration, webhook
//! kubeconfigs), nor RBAC objects (the `rbac` domain judges those), nor a managed control plane:
//! there it reports one finding that only an attestation satisfies.
//!
//! The activity checks read [`crate::checks::Ctx::activity`], a separate input from the
//! snapshot ([`ACTIVITY_CHECKS`]); `access.mfa` also reads RBAC bindings. Each is NotApplicable
//! without the operator's audit-event intake or before its first event, and fails with
//! [`EVENTS_STOPPED`] when events stopped arriving.

mod activity;
mod api_server;
mod failed_logins;
mod mfa;
mod privileged_reviewed;
mod terminated;

pub use activity::{ACTIVITY_CHECKS, EVENTS_STOPPED};
pub use terminated::{PostTerminationUse, post_termination_use};

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(api_server::ApiServerAuthentication);
    catalog.add(api_server::ApiServerAuthorization);
    catalog.add(failed_logins::FailedLogins);
    catalog.add(mfa::Mfa);
    catalog.add(privileged_reviewed::PrivilegedActionsReviewed);
    catalog.add(terminated::TerminatedIdentities);
}
