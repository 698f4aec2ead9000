//! `soc2-operator run`: the long-running operator (watch, evaluate, status, enforce).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::audit_events::AggregateConfig;
use crate::audit_events::queue::{AuditSettings, IntakeConfig, read_token};
use crate::audit_events::ratelimit::RateLimitConfig;
use crate::audit_events::tls::{TlsSettings, load_server_config};
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
    /// address. Off by default. HTTPS with `--audit-tls-cert`/`--audit-tls-key`; needs
    /// `--audit-token-file`, `--audit-client-ca` or both.
    #[arg(long, env = "SOC2_AUDIT_LISTEN")]
    pub audit_listen: Option<SocketAddr>,
    /// PEM certificate chain of the intake (a mounted TLS Secret's `tls.crt`); reloaded when
    /// the file changes.
    #[arg(long, env = "SOC2_AUDIT_TLS_CERT")]
    pub audit_tls_cert: Option<PathBuf>,
    /// PEM private key of the intake (`tls.key`); reloaded when the file changes.
    #[arg(long, env = "SOC2_AUDIT_TLS_KEY")]
    pub audit_tls_key: Option<PathBuf>,
    /// PEM CA certificates: clients presenting a certificate that chains to one of them are
    /// authenticated (mTLS). Without `--audit-token-file`, a client certificate is required.
    #[arg(long, env = "SOC2_AUDIT_CLIENT_CA")]
    pub audit_client_ca: Option<PathBuf>,
    /// Serve the intake over plain HTTP instead of HTTPS: only for a sender on the same host
    /// (a sidecar log shipper on localhost). Cannot be combined with the TLS flags.
    #[arg(long)]
    pub audit_insecure_http: bool,
    /// File holding the bearer token audit senders may present.
    #[arg(long, env = "SOC2_AUDIT_TOKEN_FILE")]
    pub audit_token_file: Option<PathBuf>,
    /// Sustained audit events per second accepted from one source (client certificate subject,
    /// else source IP); above it, 429 with `Retry-After`.
    #[arg(long, env = "SOC2_AUDIT_RATE_LIMIT", default_value_t = 5000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_rate_limit: u32,
    /// Events one source may send at once after being idle.
    #[arg(long, env = "SOC2_AUDIT_RATE_BURST", default_value_t = 20000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_rate_burst: u32,
    /// Seconds between checks of the TLS files for a rotated certificate.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub audit_tls_reload_secs: u64,
    /// Prefix of OIDC user names or groups (the issuer's `claimPrefix`/`groupsPrefix`), for
    /// counting humans by authenticator.
    #[arg(long, env = "SOC2_AUDIT_OIDC_PREFIX")]
    pub audit_oidc_prefix: Option<String>,
    /// File holding a salt: when given, user names in the audit aggregates are SHA-256 hashes.
    #[arg(long, env = "SOC2_AUDIT_HASH_SALT_FILE")]
    pub audit_hash_salt_file: Option<PathBuf>,
}

/// The audit intake's settings from the flags (`None` without `--audit-listen`). Refuses a
/// receiver without client authentication, plain HTTP unless asked for, and TLS files that do
/// not load, naming the flag.
fn audit_settings(args: &RunArgs) -> crate::Result<Option<AuditSettings>> {
    let Some(listen) = args.audit_listen else {
        return Ok(None);
    };
    let bad = |m: &str| Err(crate::Error::Invalid(m.to_owned()));
    if args.audit_token_file.is_none() && args.audit_client_ca.is_none() {
        return bad(
            "--audit-listen needs client authentication: --audit-token-file (a bearer token), --audit-client-ca (client certificates) or both",
        );
    }
    let tls = match (
        args.audit_insecure_http,
        &args.audit_tls_cert,
        &args.audit_tls_key,
    ) {
        (true, None, None) if args.audit_client_ca.is_none() => None,
        (true, _, _) => {
            return bad(
                "--audit-insecure-http serves plain HTTP: it cannot be combined with --audit-tls-cert, --audit-tls-key or --audit-client-ca",
            );
        }
        (false, Some(cert), Some(key)) => {
            let tls = TlsSettings {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.audit_client_ca.clone(),
                client_cert_required: args.audit_token_file.is_none(),
                reload_interval: Duration::from_secs(args.audit_tls_reload_secs),
            };
            // Fail now, with the file named, rather than after connecting to the cluster.
            load_server_config(&tls)?;
            Some(tls)
        }
        (false, _, _) => {
            return bad(
                "--audit-listen serves HTTPS: give --audit-tls-cert and --audit-tls-key (a mounted TLS Secret's tls.crt and tls.key), or --audit-insecure-http for a sender on the same host",
            );
        }
    };
    let token = match &args.audit_token_file {
        Some(p) => Some(read_token(p)?),
        None => None,
    };
    let hash_salt = match &args.audit_hash_salt_file {
        Some(p) => Some(read_token(p)?),
        None => None,
    };
    Ok(Some(AuditSettings {
        listen,
        tls,
        intake: IntakeConfig {
            token,
            accept_client_certificates: args.audit_client_ca.is_some(),
            rate_limit: Some(RateLimitConfig::new(
                args.audit_rate_limit,
                args.audit_rate_burst,
            )),
            ..IntakeConfig::default()
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn settings(extra: &[&str]) -> crate::Result<Option<AuditSettings>> {
        let mut argv = vec!["run", "--audit-listen", "127.0.0.1:8443"];
        argv.extend_from_slice(extra);
        audit_settings(&Cli::try_parse_from(argv).expect("flags parse").run)
    }

    fn message(r: crate::Result<Option<AuditSettings>>) -> String {
        r.expect_err("should be refused").to_string()
    }

    #[test]
    fn the_intake_refuses_to_start_without_authentication_or_without_tls() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t0ken\n").unwrap();
        let token = token.to_str().unwrap();

        assert!(message(settings(&[])).contains("--audit-token-file"));
        assert!(message(settings(&["--audit-token-file", token])).contains("serves HTTPS"));
        assert!(
            message(settings(&[
                "--audit-insecure-http",
                "--audit-client-ca",
                "/ca.crt"
            ]))
            .contains("cannot be combined")
        );
        let missing = message(settings(&[
            "--audit-token-file",
            token,
            "--audit-tls-cert",
            "/nonexistent/tls.crt",
            "--audit-tls-key",
            "/nonexistent/tls.key",
        ]));
        assert!(missing.contains("/nonexistent/tls.crt"), "{missing}");

        let plain = settings(&["--audit-token-file", token, "--audit-insecure-http"])
            .unwrap()
            .unwrap();
        assert!(plain.tls.is_none());
        assert_eq!(plain.intake.token.as_deref(), Some("t0ken"));
        assert_eq!(
            plain.intake.rate_limit,
            Some(RateLimitConfig::new(5000, 20000))
        );
        // The token never shows in a Debug print (settings are logged on failure paths).
        assert!(!format!("{plain:?}").contains("t0ken"));
        assert!(
            Cli::try_parse_from(["run", "--audit-rate-limit", "0"]).is_err(),
            "a zero rate is refused by the flag parser"
        );
    }
}
