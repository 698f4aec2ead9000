//! `soc2-operator audit`: one evaluation of a cluster or a folder of manifests.

use std::path::PathBuf;

use clap::Args;

use super::output::{self, Format};
use super::{EXIT_FAIL, EXIT_OK, EXIT_USAGE, input_error};
use crate::live;
use soc2_core::engine::{self, Status};
use soc2_core::snapshot::{ClusterSnapshot, manifests};

/// Arguments of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit this folder (or file) of YAML/JSON manifests instead of a live cluster.
    #[arg(long, short = 'm')]
    pub manifests: Option<PathBuf>,
    /// Soc2Control manifests (file or folder). Default: the built-in SOC 2 baseline.
    #[arg(long, short = 'c')]
    pub controls: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Evaluation time (RFC 3339), for reproducible runs. Default: now.
    #[arg(long)]
    pub at: Option<jiff::Timestamp>,
    /// Kubeconfig context for a live cluster (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
}

pub(super) fn run(args: AuditArgs) -> u8 {
    let controls = match &args.controls {
        Some(path) => super::load_controls(path),
        None => super::baseline_controls(),
    };
    let controls = match controls {
        Ok(c) if c.is_empty() => return input_error("no Soc2Control found in --controls"),
        Ok(c) => c,
        Err(e) => return input_error(e),
    };
    let (snapshot, not_evaluated) = match &args.manifests {
        Some(dir) => match manifests::load(dir) {
            Ok(report) => {
                tracing::debug!(files = report.files, objects = report.objects.len(), ignored = ?report.ignored, "loaded manifests");
                (ClusterSnapshot::new(report.objects), report.not_evaluated)
            }
            Err(e) => return input_error(e),
        },
        None => match load_live(args.context.as_deref()) {
            Ok(s) => (s, Vec::new()),
            Err(e) => return input_error(format!("reading the cluster: {e}")),
        },
    };
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    let evaluation = engine::evaluate(&controls, &snapshot, now);
    if let Err(e) = output::print_evaluation(&evaluation, &not_evaluated, args.output) {
        return input_error(e);
    }
    let errors: Vec<_> = evaluation
        .controls
        .iter()
        .filter(|c| c.status == Status::Error)
        .collect();
    if !errors.is_empty() {
        for c in errors {
            eprintln!(
                "error: Soc2Control {:?} ({}): {}",
                c.name, c.control_id, c.reason
            );
        }
        return EXIT_USAGE;
    }
    if evaluation.all_compliant() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}

pub(super) fn load_live(context: Option<&str>) -> crate::Result<ClusterSnapshot> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::Io {
            context: "starting the runtime".into(),
            source: e,
        })?;
    rt.block_on(async {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kube::Config::from_kubeconfig(&options).await {
            Ok(c) => c,
            Err(_) if context.is_none() => kube::Config::infer()
                .await
                .map_err(|e| crate::Error::Invalid(format!("no usable kubeconfig: {e}")))?,
            Err(e) => return Err(crate::Error::Invalid(format!("kubeconfig: {e}"))),
        };
        let client = kube::Client::try_from(config)?;
        let objects = live::load(&client).await?;
        Ok(ClusterSnapshot::new(objects))
    })
}
