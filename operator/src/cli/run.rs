//! `soc2-operator run`: the long-running operator (watch, evaluate, status, enforce).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

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
}

/// Runs the operator; returns the exit status.
pub fn run(args: RunArgs) -> u8 {
    let config = controller::Config {
        enforcement: args.enforcement,
        lease_name: args.lease_name,
        namespace: args.namespace,
        leader_election: !args.no_leader_election,
        http_addr: args.metrics_addr,
        cluster_name: args.cluster_name,
        debounce: Duration::from_millis(args.debounce_ms),
        debounce_max: Duration::from_millis(args.debounce_max_ms.max(args.debounce_ms)),
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
