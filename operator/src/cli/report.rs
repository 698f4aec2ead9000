//! `soc2-operator report`: the Type II period report from an evidence store, as HTML, JSON,
//! Markdown or OSCAL assessment-results.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::evidence::{StoreArgs, TrustArgs, parse_from, parse_to, runtime};
use super::{EXIT_FAIL, EXIT_OK, EXIT_USAGE, input_error};
use soc2_evidence::Schedule;
use soc2_evidence::canonical;
use soc2_evidence::report::{self, ReportOptions, html, markdown, oscal, population};

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file with charts.
    Html,
    /// Canonical JSON.
    Json,
    /// Markdown.
    Md,
    /// OSCAL assessment-results JSON.
    Oscal,
    /// CSV (populations and samples only).
    Csv,
    /// Plain text (samples only).
    Text,
}

/// Populations an auditor samples from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PopulationArg {
    /// Every finding of the period, with the snapshots that show it open and closed.
    Findings,
    /// Every object created, modified or deleted between consecutive snapshots (inventory).
    Changes,
    /// Every exception of the period, with the first and last snapshot showing it.
    Exceptions,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where the evidence is.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Period start (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// Period end (RFC 3339, or YYYY-MM-DD meaning the end of that day).
    #[arg(long)]
    pub to: String,
    /// Output format (default: `html`; `csv` with `--population`, `text` with `--sample`).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// List a population instead of the report: every item of the period with its evidence
    /// references (snapshot manifest keys and SHA-256 digests), as CSV.
    #[arg(long, value_enum)]
    pub population: Option<PopulationArg>,
    /// Draw a reproducible random sample of this many items from the population.
    #[arg(long, requires = "population", requires = "seed")]
    pub sample: Option<usize>,
    /// Seed of the sample (same population and seed, same sample).
    #[arg(long, requires = "sample")]
    pub seed: Option<u64>,
    /// One cluster, or `all` for the fleet.
    #[arg(long, default_value = "all")]
    pub cluster: String,
    /// One evidence policy (default: all).
    #[arg(long)]
    pub policy: Option<String>,
    /// What the integrity check trusts.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The schedule the auditor expects (cron, UTC): completeness is counted against it and
    /// manifests recording another schedule are listed. Default: each recorded schedule for its
    /// own epoch.
    #[arg(long, conflicts_with = "expected_interval")]
    pub expect_schedule: Option<String>,
    /// The interval the auditor expects (e.g. `1h`); see `--expect-schedule`.
    #[arg(long)]
    pub expected_interval: Option<String>,
    /// Witnessed checkpoints (a checkpoint file or the witness store URL): snapshots they show
    /// that are missing from the store make the evidence fail to verify.
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Time stamps and Object Lock, checked as `evidence verify` does.
    #[command(flatten)]
    pub assurance: super::evidence::AssuranceArgs,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Writes the report; exits 1 when the evidence does not verify (the report is still written
/// and says why), 2 on usage errors.
pub(super) fn run(args: ReportArgs) -> u8 {
    let (from, to) = match (parse_from(&args.from), parse_to(&args.to)) {
        (Ok(f), Ok(t)) if f < t => (f, t),
        (Ok(_), Ok(_)) => return input_error("--from must be before --to"),
        (Err(e), _) | (_, Err(e)) => return input_error(e),
    };
    let keyring = match args.trust.keyring() {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    let store = match args.store.open() {
        Ok(s) => s,
        Err(e) => return input_error(e),
    };
    let timestamps = match args.assurance.timestamps() {
        Ok(t) => t,
        Err(e) => return input_error(e),
    };
    let object_lock = match args.assurance.object_lock(&store) {
        Ok(o) => o,
        Err(e) => return input_error(e),
    };
    let expected_schedule = match (&args.expect_schedule, &args.expected_interval) {
        (None, None) => None,
        (c, i) => match Schedule::parse(c.as_deref(), i.as_deref()) {
            Ok(s) => Some(s),
            Err(e) => return input_error(format!("--expect-schedule/--expected-interval: {e}")),
        },
    };
    let checkpoint_source = match args
        .checkpoint
        .as_deref()
        .map(super::evidence::checkpoint_source)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return input_error(format!("--checkpoint: {e}")),
    };
    let mut options = ReportOptions {
        from,
        to,
        cluster: (args.cluster != "all").then(|| args.cluster.clone()),
        policy: args.policy.clone(),
        public_key: None,
        keyring,
        limits: args.trust.limits(),
        now: Timestamp::now(),
        expected_schedule,
        checkpoints: None,
        timestamps,
        object_lock,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return input_error(e),
    };
    if let Some(source) = &checkpoint_source {
        match rt.block_on(soc2_evidence::checkpoint::load(source)) {
            Ok(l) => options.checkpoints = Some(std::sync::Arc::new(l)),
            Err(e) => return input_error(format!("--checkpoint: {e}")),
        }
    }
    let format = match (args.format, args.population, args.sample) {
        (Some(ReportFormat::Csv | ReportFormat::Text), None, _) => {
            return input_error("--format csv and text are for --population and --sample");
        }
        (Some(f), None, _) => f,
        (None, None, _) => ReportFormat::Html,
        (None, Some(_), None) | (Some(ReportFormat::Csv), Some(_), _) => ReportFormat::Csv,
        (None, Some(_), Some(_)) | (Some(ReportFormat::Text), Some(_), Some(_)) => {
            ReportFormat::Text
        }
        (Some(_), Some(_), None) => {
            return input_error("--population lists items as CSV: use --format csv");
        }
        (Some(_), Some(_), Some(_)) => {
            return input_error("--sample prints text or CSV: use --format text or csv");
        }
    };
    let r = match rt.block_on(report::build(&store, &options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading {store}: {e}");
            return EXIT_USAGE;
        }
    };
    let text = match (args.population, format) {
        (Some(kind), format) => {
            let population = match kind {
                PopulationArg::Findings => population::findings(&r),
                PopulationArg::Exceptions => population::exceptions(&r),
                PopulationArg::Changes => {
                    match rt.block_on(population::changes(&store, &options)) {
                        Ok((p, skipped)) => {
                            if !skipped.is_empty() {
                                eprintln!(
                                    "warning: {} snapshot(s) without a verified inventory.json were skipped (first: {})",
                                    skipped.len(),
                                    skipped[0]
                                );
                            }
                            p
                        }
                        Err(e) => {
                            eprintln!("error: reading {store}: {e}");
                            return EXIT_USAGE;
                        }
                    }
                }
            };
            match (args.sample, args.seed) {
                (Some(n), Some(seed)) => {
                    let rows = population.sample(n, seed);
                    if format == ReportFormat::Csv {
                        population.sample_csv(&rows)
                    } else {
                        population.sample_text(&rows, seed)
                    }
                }
                _ => population.to_csv(),
            }
        }
        (None, ReportFormat::Csv | ReportFormat::Text) => {
            return input_error("--format csv and text are for --population and --sample");
        }
        (None, ReportFormat::Html) => html::render(&r),
        (None, ReportFormat::Md) => markdown::render(&r),
        (None, ReportFormat::Json) => match canonical::to_vec(&r, "report") {
            Ok(b) => String::from_utf8_lossy(&b).into_owned() + "\n",
            Err(e) => return input_error(e),
        },
        (None, ReportFormat::Oscal) => {
            let v = oscal::render(&r);
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
    };
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                return input_error(format!("writing {}: {e}", path.display()));
            }
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    if r.clusters.is_empty() {
        eprintln!("warning: no evidence found in {store} for the period");
    }
    let broken: Vec<String> = r
        .clusters
        .iter()
        .filter(|c| !c.integrity.verified)
        .map(|c| format!("{}/{}", c.cluster, c.policy))
        .collect();
    if broken.is_empty() {
        EXIT_OK
    } else {
        eprintln!(
            "error: evidence does not verify for {} (see the report's integrity section)",
            broken.join(", ")
        );
        EXIT_FAIL
    }
}
