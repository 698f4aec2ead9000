#![forbid(unsafe_code)]
//! soc2-operator: SOC 2 controls as Kubernetes resources, audited continuously, with signed,
//! hash-chained evidence.
//!
//! The pure middle — snapshot, checks, engine — lives in [`soc2_core`], which cannot talk to a
//! cluster; evidence lives in [`soc2_evidence`]. This crate is the edge: the [`cli`], the
//! [`controller`]s, the [`live`] snapshot, [`metrics`] and the HTTP endpoints.

/// Errors at the edges of the library (loading input, talking to a cluster).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest could not be read or parsed.
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    /// The Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
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

impl Error {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Manifest { .. } => "manifest",
            Error::Kube(_) => "kube",
            Error::Io { .. } => "io",
            Error::Invalid(_) => "invalid",
        }
    }
}

impl From<soc2_core::Error> for Error {
    fn from(e: soc2_core::Error) -> Self {
        match e {
            soc2_core::Error::Manifest { path, message } => Error::Manifest { path, message },
            soc2_core::Error::Io { context, source } => Error::Io { context, source },
            soc2_core::Error::Invalid(message) => Error::Invalid(message),
        }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub mod cli;
pub mod controller;
pub mod http;
pub mod live;
pub mod metrics;
pub mod telemetry;
