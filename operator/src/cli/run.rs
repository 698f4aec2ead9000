//! `soc2-operator run`: the long-running operator (watch, evaluate, status, enforce).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::audit_events::AggregateConfig;
use crate::audit_events::queue::{AuditSettings, IntakeConfig, read_token};
use crate::controller::{self, debounce};

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Let controls with `enforcement: Enforce` remediate and install admission policies.
    /// Without it every control is audited only (and says so in status).
    #[arg(long)]
    pub enforcement: bool,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "soc2-operator", env = "SOC2_LEASE_NAME")]
    pub lease_name: String,
    /// The operator's namespace (Lease, Secrets).
    #[arg(long, env = "POD_NAMESPACE", default_value = "soc2-system")]
    pub namespace: String,
    /// Disable leader election (a single replica that always writes; for development).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(
        long,
        alias = "http-addr",
        default_value = "0.0.0.0:8080",
        env = "SOC2_METRICS_ADDR"
    )]
    pub metrics_addr: SocketAddr,
    /// Name of this cluster (keys evidence in a shared bucket).
    #[arg(long, env = "SOC2_CLUSTER_NAME", default_value = "default")]
    pub cluster_name: String,
    /// Quiet period before re-evaluating after a change, in milliseconds.
    #[arg(long, default_value_t = debounce::QUIET.as_millis() as u64)]
    pub debounce_ms: u64,
    /// Longest delay of a re-evaluation after the first change of a burst, in milliseconds.
    #[arg(long, default_value_t = debounce::MAX_DELAY.as_millis() as u64)]
    pub debounce_max_ms: u64,
    /// Serve the audit-event intake (`POST /audit/v1/events`, `/audit/v1/lines`) on this
    /// address. Off by default. Plain HTTP: put a TLS-terminating proxy in front of it.
    #[arg(long, env = "SOC2_AUDIT_LISTEN", requires = "audit_token_file")]
    pub audit_listen: Option<SocketAddr>,
    /// File holding the bearer token audit senders must present.
    #[arg(long, env = "SOC2_AUDIT_TOKEN_FILE")]
    pub audit_token_file: Option<PathBuf>,
    /// Prefix of OIDC user names or groups (the issuer's `claimPrefix`/`groupsPrefix`), for
    /// counting humans by authenticator.
    #[arg(long, env = "SOC2_AUDIT_OIDC_PREFIX")]
    pub audit_oidc_prefix: Option<String>,
    /// File holding a salt: when given, user names in the audit aggregates are SHA-256 hashes.
    #[arg(long, env = "SOC2_AUDIT_HASH_SALT_FILE")]
    pub audit_hash_salt_file: Option<PathBuf>,
}

/// The audit intake's settings from the flags (`None` without `--audit-listen`).
fn audit_settings(args: &RunArgs) -> crate::Result<Option<AuditSettings>> {
    let (Some(listen), Some(token_file)) = (args.audit_listen, &args.audit_token_file) else {
        return Ok(None);
    };
    let hash_salt = match &args.audit_hash_salt_file {
        Some(p) => Some(read_token(p)?),
        None => None,
    };
    Ok(Some(AuditSettings {
        listen,
        intake: IntakeConfig::with_token(read_token(token_file)?),
        aggregate: AggregateConfig {
            oidc_prefix: args.audit_oidc_prefix.clone(),
            hash_salt,
            ..AggregateConfig::default()
        },
    }))
}

/// Runs the operator; returns the exit status.
pub fn run(args: RunArgs) -> u8 {
    let audit = match audit_settings(&args) {
        Ok(a) => a,
        Err(e) => return super::input_error(e),
    };
    let config = controller::Config {
        enforcement: args.enforcement,
        lease_name: args.lease_name,
        namespace: args.namespace,
        leader_election: !args.no_leader_election,
        http_addr: args.metrics_addr,
        cluster_name: args.cluster_name,
        debounce: Duration::from_millis(args.debounce_ms),
        debounce_max: Duration::from_millis(args.debounce_max_ms.max(args.debounce_ms)),
        audit,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::input_error(e),
    };
    match runtime.block_on(controller::run(config)) {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "operator failed");
            eprintln!("error: {e}");
            super::EXIT_FAIL
        }
    }
}
