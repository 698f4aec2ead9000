//! `soc2-operator access-review`: the quarterly access review (CC6.2/CC6.3) from a verified
//! evidence chain: every subject with its effective permissions, what changed since the
//! previous review, and ServiceAccounts that look dormant. See `docs/access-review.md`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::evidence::{StoreArgs, TrustArgs, parse_to, runtime};
use super::{EXIT_FAIL, EXIT_OK, EXIT_USAGE, input_error};
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

/// Arguments of `access-review`.
#[derive(Debug, Args)]
pub struct AccessReviewArgs {
    /// Where the evidence is.
    #[command(flatten)]
    pub store: StoreArgs,
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
    let keyring = match args.trust.keyring() {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    let store = match args.store.open() {
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
    let text = match args.output {
        ReviewFormat::Text => access_review::to_text(&review),
        ReviewFormat::Markdown => access_review::to_markdown(&review),
        ReviewFormat::Csv => access_review::to_csv(&review),
        ReviewFormat::Json => match canonical::to_vec(&review, "access review") {
            Ok(b) => String::from_utf8_lossy(&b).into_owned() + "\n",
            Err(e) => return input_error(e),
        },
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
