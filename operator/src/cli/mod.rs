//! Command-line front door: argument parsing and the one-shot commands.
//!
//! Each subcommand lives in its own module; this one only defines the arguments and dispatches.

mod access_review;
mod audit;
mod controls;
mod crdgen;
mod evidence;
mod keygen;
mod output;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use controls::{baseline_controls, load_controls};

/// Exit status: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: a control failed (or verification found a break).
pub const EXIT_FAIL: u8 = 1;
/// Exit status: bad usage or input.
pub const EXIT_USAGE: u8 = 2;

/// SOC 2 controls as Kubernetes resources: audit, operate, and keep evidence.
#[derive(Debug, Parser)]
#[command(name = "soc2-operator", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SOC2_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit a cluster (live, or a folder of manifests) against SOC 2 controls, once.
    Audit(audit::AuditArgs),
    /// List the check catalog with criteria, severity and parameter defaults.
    Checks {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = output::Format::Table)]
        output: output::Format,
    },
    /// Evidence snapshots: write one, or verify a store.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// The Type II period report from an evidence store (HTML, JSON, Markdown, OSCAL).
    Report(report::ReportArgs),
    /// The quarterly access review (CC6.2/CC6.3) from an evidence store: every subject's
    /// permissions, changes since the previous review, dormant ServiceAccounts.
    AccessReview(access_review::AccessReviewArgs),
    /// Generate an ed25519 key pair for signing evidence manifests.
    Keygen(keygen::KeygenArgs),
    /// Write the CRD YAML generated from the Rust types.
    Crdgen {
        /// Directory to write into.
        #[arg(long, default_value = "crds")]
        out: PathBuf,
        /// Do not write; exit 1 when the directory differs from what the types generate.
        #[arg(long)]
        check: bool,
    },
    /// Run the operator: watch the cluster, keep every Soc2Control's status current, enforce.
    Run(run::RunArgs),
}

/// Parses arguments and runs the command; returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // kube and object_store enable both rustls providers; without a choice the first TLS
    // connection panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::telemetry::init(cli.log_format == LogFormat::Json);
    let code = match cli.command {
        Command::AccessReview(args) => access_review::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Checks { output } => output::print_catalog(output),
        Command::Crdgen { out, check } => crdgen::run(&out, check),
        Command::Evidence(cmd) => evidence::run(cmd),
        Command::Keygen(args) => keygen::run(args),
        Command::Report(args) => report::run(args),
        Command::Run(args) => run::run(args),
    };
    ExitCode::from(code)
}

/// Prints an input error and returns the usage exit status.
fn input_error(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    EXIT_USAGE
}
