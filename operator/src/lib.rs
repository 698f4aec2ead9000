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
    /// A step of a `Soc2Control` reconcile failed.
    #[error("{step}: {source}")]
    Step {
        /// Which step.
        step: Step,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
}

/// The steps of a `Soc2Control` reconcile that can fail: the `step` label of
/// `soc2_reconcile_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Decoding the object.
    Decode,
    /// Adding or removing the cleanup finalizer.
    Finalizer,
    /// Remediations and admission policies of an `Enforce` control.
    Enforce,
    /// Undoing enforcement (back to `Audit`, or deletion).
    Relax,
    /// Writing status.
    Status,
    /// Publishing an Event (logged and counted; the reconcile goes on).
    Event,
}

impl Step {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Decode => "decode",
            Step::Finalizer => "finalizer",
            Step::Enforce => "enforce",
            Step::Relax => "relax",
            Step::Status => "status",
            Step::Event => "event",
        }
    }

    /// Wraps an error of this step.
    pub fn error(self, source: impl Into<Error>) -> Error {
        Error::Step {
            step: self,
            source: Box::new(source.into()),
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Manifest { .. } => "manifest",
            Error::Kube(_) => "kube",
            Error::Io { .. } => "io",
            Error::Invalid(_) => "invalid",
            Error::Step { source, .. } => source.metric_label(),
        }
    }

    /// The reconcile step that failed (`other` outside a reconcile step).
    pub fn step_label(&self) -> &'static str {
        match self {
            Error::Step { step, .. } => step.as_str(),
            _ => "other",
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

pub mod audit_events;

pub mod cli;
pub mod controller;
pub mod http;
pub mod live;
pub mod metrics;
pub mod telemetry;

/// The mimalloc settings the image (`Dockerfile`) and the chart's Deployment run the operator
/// with: arena memory committed on demand (`ARENA_EAGER_COMMIT=0`) and freed memory returned to
/// the OS at once (`PURGE_DELAY=0`, default 1 s), so RSS follows the live data instead of
/// keeping up to a third more committed (BENCHMARKS.md, "Operator: watch-cache memory").
/// `examples/cache_memory.rs` measures with them.
pub const MIMALLOC_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

#[cfg(test)]
mod tests {
    /// The image and the chart set what the memory benchmark measured with.
    #[test]
    fn the_image_and_the_chart_run_with_the_measured_allocator_settings() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).expect("Dockerfile");
        let chart = std::fs::read_to_string(format!(
            "{root}/charts/soc2-operator/templates/deployment.yaml"
        ))
        .expect("chart");
        for (name, value) in super::MIMALLOC_ENV {
            assert!(
                dockerfile.contains(&format!("{name}={value}")),
                "Dockerfile: {name}"
            );
            assert!(
                chart.contains(&format!("- name: {name}\n              value: \"{value}\"")),
                "chart: {name}"
            );
        }
    }
}
