#![forbid(unsafe_code)]
//! soc2-core: the pure middle of soc2-operator.
//!
//! [`crd`] (the `Soc2Control` and `EvidencePolicy` types), [`snapshot`] (the indexed,
//! read-only view of a cluster that checks read), [`checks`] (the catalog) and [`engine`]
//! (controls × snapshot → results). Nothing here talks to a cluster, runs async code or writes
//! to a store: this crate does not depend on the kube client, tokio or object_store, so "the
//! checks never see a client" is enforced by the compiler. The operator builds snapshots from
//! watch caches; `audit` builds them from a live cluster or a folder of manifests.

pub mod activity;
pub mod checks;
pub mod crd;
pub mod engine;
pub mod snapshot;
pub mod synth;

/// Errors of the pure middle: reading manifests and invalid input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest could not be read or parsed.
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    /// Any I/O failure.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Invalid user input (arguments, control specs).
    #[error("{0}")]
    Invalid(String),
}

/// Result with the core error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
