//! Evidence: signed, hash-chained snapshots of evaluation results in object storage, and the
//! tools that read them back (verification and the Type II period report).
//!
//! A snapshot is a folder of canonical JSON documents ([`bundle`]) plus a `manifest.json`
//! ([`manifest`]) that lists every document with its SHA-256, links to the previous manifest
//! and is signed ([`signing`]) when a key is configured. The [`writer`] finds the chain head in
//! the [`store`] (never in Kubernetes status), writes documents create-only and the manifest
//! last, retries with backoff and records missed [`schedule`] slots as gaps. [`verify`] and
//! [`report`] read only the store.
//!
//! This module does not evaluate controls (see [`soc2_core::engine`]) and does not talk to
//! Kubernetes; the controller and the CLI call into it.

pub mod access_review;
pub mod activity;
pub mod bundle;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod keyed;
pub mod keyring;
pub mod layout;
pub mod manifest;
pub mod provenance;
pub mod report;
pub mod schedule;
pub mod signing;
pub mod store;
pub mod timestamp;
pub mod verify;
pub mod writer;

pub use bundle::Bundle;
pub use keyring::Keyring;
pub use manifest::Manifest;
pub use provenance::Provenance;
pub use schedule::Schedule;
pub use signing::{PublicKey, SigningKey};
pub use store::Store;
pub use verify::{VerifyOptions, VerifyReport};
pub use writer::{RetryPolicy, Writer, WriterConfig};

/// Errors of the evidence subsystem. Messages name the object key at fault and never carry
/// secret values (credentials, keys).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage URL or its options cannot be used.
    #[error("storage {url:?}: {message}")]
    StoreConfig {
        /// The URL as configured.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// An object store operation failed.
    #[error("{op} {key}: {source}")]
    Store {
        /// `put`, `get`, `list` or `delete`.
        op: &'static str,
        /// The object key (or prefix).
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A create-only write found the object already there.
    #[error("{key} already exists (evidence objects are written create-only)")]
    AlreadyExists {
        /// The object key.
        key: String,
    },
    /// A write kept failing.
    #[error("giving up on {key} after {attempts} attempt(s): {source}")]
    RetriesExhausted {
        /// The object key.
        key: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: Box<Error>,
    },
    /// A document could not be serialized.
    #[error("serializing {what}: {source}")]
    Serialize {
        /// Which document.
        what: String,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
    /// A signing or public key cannot be used.
    #[error("key: {0}")]
    Key(String),
    /// The schedule, interval or retention cannot be parsed.
    #[error("{0}")]
    Schedule(String),
    /// A manifest cannot be read.
    #[error("manifest {key}: {message}")]
    Manifest {
        /// The object key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Invalid input (names, arguments).
    #[error("{0}")]
    Invalid(String),
    /// The chain head in the store was not written by this writer's key (planted, unsigned or
    /// signed by another key): the writer refuses to extend it.
    #[error("refusing to extend the chain head {key}: {message}")]
    UntrustedHead {
        /// The head manifest's key.
        key: String,
        /// Why it is not trusted.
        message: String,
    },
    /// Local I/O (key files, report output).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::StoreConfig { .. } => "store_config",
            Error::Store { .. } => "store",
            Error::AlreadyExists { .. } => "already_exists",
            Error::RetriesExhausted { .. } => "retries_exhausted",
            Error::Serialize { .. } => "serialize",
            Error::Key(_) => "key",
            Error::Schedule(_) => "schedule",
            Error::Manifest { .. } => "manifest",
            Error::Invalid(_) => "invalid",
            Error::Io { .. } => "io",
            Error::UntrustedHead { .. } => "untrusted_head",
        }
    }
}

/// Result with the evidence error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Formats a time as RFC 3339 UTC with whole seconds (`2026-06-15T12:00:00Z`).
pub fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
