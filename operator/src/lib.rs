#![forbid(unsafe_code)]
//! soc2-operator: SOC 2 controls as Kubernetes resources, audited continuously, with signed,
//! hash-chained evidence.
//!
//! The pure middle — [`snapshot`], [`checks`], [`engine`] — never talks to a cluster; the edges
//! ([`cli`], the controllers, the evidence stores) build snapshots and act on results.

pub mod crd;

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

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub mod checks;
pub mod cli;
pub mod controller;
pub mod engine;
pub mod evidence;
pub mod http;
pub mod metrics;
pub mod snapshot;
pub mod synth;
pub mod telemetry;
