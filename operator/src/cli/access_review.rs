//! `soc2-operator access-review`: the quarterly access review (CC6.2/CC6.3) from a verified
//! evidence chain: every subject with its effective permissions, what changed since the
//! previous review, and ServiceAccounts that look dormant. See `docs/access-review.md`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::evidence::{StoreArgs, TrustArgs, parse_to, runtime};
use super::{EXIT_FAIL, EXIT_OK, EXIT_USAGE, input_error};
use soc2_core::snapshot::{ClusterSnapshot, manifests};
use soc2_evidence::access_review::{self, AccessReviewOptions};
use soc2_evidence::canonical;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    /// Human readable.
    Text,
    /// Canonical JSON.
    Json,
    /// Markdown.
    Markdown,
    /// CSV, one row per grant, permission, change and dormant account.
    Csv,
}

/// Where the evidence is (as for `evidence verify`), or `--manifests` for a quick look.
#[derive(Debug, Args)]
pub struct ReviewSource {
    /// Store URL: `file:///dir` (or a plain path), `s3://bucket/prefix`, `gs://…`, `az://…`.
    /// Credentials come from the environment (AWS_ACCESS_KEY_ID, …).
    #[arg(long, required_unless_present = "manifests")]
    pub store: Option<String>,
    /// S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// S3 region.
    #[arg(long)]
    pub region: Option<String>,
    /// Path-style S3 addressing.
    #[arg(long)]
    pub path_style: bool,
    /// Allow plain HTTP to the endpoint.
    #[arg(long)]
    pub allow_http: bool,
    /// A quick look without evidence: review a folder (or file) of manifests instead of a
    /// store. Nothing is verified, there is no history (no changes; dormant means no workload
    /// in these manifests runs as the account), and the output says so.
    #[arg(long, short = 'm', conflicts_with = "store")]
    pub manifests: Option<PathBuf>,
}

/// Arguments of `access-review`.
#[derive(Debug, Args)]
pub struct AccessReviewArgs {
    /// Where the evidence is.
    #[command(flatten)]
    pub source: ReviewSource,
    /// What the integrity check trusts.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The cluster (required when the store holds several).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The evidence policy (required when the cluster has several chains).
    #[arg(long)]
    pub policy: Option<String>,
    /// Review the newest snapshot at or before this time (RFC 3339, or YYYY-MM-DD meaning the
    /// end of that day). Default: the newest snapshot.
    #[arg(long)]
    pub at: Option<String>,
    /// Compare with the newest snapshot at or before this time (the previous review).
    /// Default: 92 days before the reviewed snapshot.
    #[arg(long)]
    pub previous: Option<String>,
    /// A ServiceAccount bound to a role that no workload ran as for this many days is dormant.
    #[arg(long, default_value_t = 90)]
    pub dormant_days: u32,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ReviewFormat::Text)]
    pub output: ReviewFormat,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes the review; exits 1 when the evidence does not verify (the review is still written
/// and says so), 2 on usage errors or when there is nothing to review.
pub(super) fn run(args: AccessReviewArgs) -> u8 {
    let at = match args.at.as_deref().map(parse_to).transpose() {
        Ok(t) => t,
        Err(e) => return input_error(e.replace("--to", "--at")),
    };
    let previous = match args.previous.as_deref().map(parse_to).transpose() {
        Ok(t) => t,
        Err(e) => return input_error(e.replace("--to", "--previous")),
    };
    if let (Some(a), Some(p)) = (at, previous)
        && p >= a
    {
        return input_error("--previous must be before --at");
    }
    if args.dormant_days == 0 {
        return input_error("--dormant-days must be at least 1");
    }
    if let Some(dir) = &args.source.manifests {
        return quick_look(dir, at, &args);
    }
    let keyring = match args.trust.keyring() {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    let store_args = StoreArgs {
        store: args.source.store.clone().unwrap_or_default(),
        endpoint: args.source.endpoint.clone(),
        region: args.source.region.clone(),
        path_style: args.source.path_style,
        allow_http: args.source.allow_http,
    };
    let store = match store_args.open() {
        Ok(s) => s,
        Err(e) => return input_error(e),
    };
    let options = AccessReviewOptions {
        cluster: args.cluster.clone(),
        policy: args.policy.clone(),
        at,
        previous,
        dormant_days: args.dormant_days,
        public_key: None,
        keyring,
        limits: args.trust.limits(),
        now: Timestamp::now(),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return input_error(e),
    };
    let review = match rt.block_on(access_review::build(&store, &options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(code) = write(&review, &args) {
        return code;
    }
    if review.verified {
        EXIT_OK
    } else {
        eprintln!(
            "error: the evidence of {}/{} does not verify (see the review's problems)",
            review.cluster, review.policy
        );
        EXIT_FAIL
    }
}

/// Renders and writes the review; the usage exit status on failure.
fn write(review: &access_review::AccessReview, args: &AccessReviewArgs) -> Result<(), u8> {
    let text = match args.output {
        ReviewFormat::Text => access_review::to_text(review),
        ReviewFormat::Markdown => access_review::to_markdown(review),
        ReviewFormat::Csv => access_review::to_csv(review),
        ReviewFormat::Json => match canonical::to_vec(review, "access review") {
            Ok(b) => String::from_utf8_lossy(&b).into_owned() + "\n",
            Err(e) => return Err(input_error(e)),
        },
    };
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                return Err(input_error(format!("writing {}: {e}", path.display())));
            }
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `--manifests`: the review of one folder of manifests, without evidence or history.
fn quick_look(dir: &std::path::Path, at: Option<Timestamp>, args: &AccessReviewArgs) -> u8 {
    if args.previous.is_some() {
        return input_error("--previous needs an evidence --store (manifests have no history)");
    }
    let report = match manifests::load(dir) {
        Ok(r) => r,
        Err(e) => return input_error(e),
    };
    let snapshot = ClusterSnapshot::new(report.objects);
    let doc = match soc2_evidence::bundle::access_review_document(&snapshot) {
        Ok(d) => d,
        Err(e) => return input_error(e),
    };
    let now = Timestamp::now();
    let review = match access_review::from_document(
        &doc.bytes,
        &dir.display().to_string(),
        at.unwrap_or(now),
        args.dormant_days,
        now,
    ) {
        Ok(r) => r,
        Err(e) => return input_error(e),
    };
    eprintln!("note: reviewed manifests, not evidence: nothing verified, no history");
    match write(&review, args) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}
