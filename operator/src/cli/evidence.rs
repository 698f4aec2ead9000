//! `soc2-operator evidence snapshot|verify`: one-shot evidence snapshots through the same
//! writer the operator uses, and verification of a store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;

use super::{EXIT_FAIL, EXIT_OK, EXIT_USAGE, input_error};
use soc2_core::crd::{
    EvidenceInclude, ObjectLockMode, ObjectLockSpec, StorageSpec, parse_duration, parse_expiry,
};
use soc2_core::engine;
use soc2_core::snapshot::{ClusterSnapshot, manifests};
use soc2_evidence::store::storage_spec;
use soc2_evidence::verify::{
    DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_MANIFEST_BYTES, Limits, ObjectLockOptions,
};
use soc2_evidence::{
    Keyring, Provenance, PublicKey, RetryPolicy, Schedule, SigningKey, Store, VerifyOptions,
    Writer, WriterConfig, checkpoint, verify,
};

/// Where the evidence is (shared by `evidence` and `report`).
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Store URL: `file:///dir` (or a plain path), `s3://bucket/prefix`, `gs://…`, `az://…`.
    /// Credentials come from the environment (AWS_ACCESS_KEY_ID, …).
    #[arg(long)]
    pub store: String,
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
}

impl StoreArgs {
    /// The storage spec these arguments describe.
    pub fn spec(&self) -> StorageSpec {
        let mut spec = storage_spec(&self.store);
        spec.endpoint = self.endpoint.clone();
        spec.region = self.region.clone();
        spec.path_style = self.path_style;
        spec.allow_http = self.allow_http;
        spec
    }

    /// Opens the store.
    pub fn open(&self) -> Result<Store, String> {
        Store::open(&self.spec(), &BTreeMap::new()).map_err(|e| e.to_string())
    }
}

/// What verification trusts (shared by `evidence verify` and `report`): a pinned keyring or
/// public key, or an explicit `--insecure-no-pin`; plus the read caps.
#[derive(Debug, Args, Clone)]
pub struct TrustArgs {
    /// Pinned keyring (JSON: `{"format": "soc2-operator.keyring/v1", "keys": [{"publicKey",
    /// "notBefore", "notAfter", "comment"}], "rotations": [...]}`, see docs/evidence.md).
    #[arg(long)]
    pub keyring: Option<PathBuf>,
    /// The expected public key (`ed25519.pub`), pinned as a one-key keyring; unsigned or
    /// differently signed manifests fail.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Verify without a pinned key: signatures are checked only against the keys embedded in
    /// the manifests. Every output says so. Required when neither --keyring nor --public-key
    /// is given.
    #[arg(long, conflicts_with_all = ["keyring", "public_key"])]
    pub insecure_no_pin: bool,
    /// Largest manifest read, in bytes (larger ones are a problem, not read).
    #[arg(long, default_value_t = DEFAULT_MAX_MANIFEST_BYTES)]
    pub max_manifest_bytes: u64,
    /// Largest document read, in bytes (larger ones are a problem, not read).
    #[arg(long, default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: u64,
}

impl TrustArgs {
    /// The pinned keyring (`None` with `--insecure-no-pin`); an error when nothing is pinned
    /// and `--insecure-no-pin` was not given. Warnings (legacy key files) go to stderr.
    pub fn keyring(&self) -> Result<Option<Keyring>, String> {
        let mut ring = match &self.keyring {
            Some(p) => Some(Keyring::read(p).map_err(|e| e.to_string())?),
            None => None,
        };
        if let Some(p) = &self.public_key {
            let (key, warning) = PublicKey::read_file(p).map_err(|e| e.to_string())?;
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            match &mut ring {
                Some(r) => r.add(key, &format!("--public-key {}", p.display())),
                None => ring = Some(Keyring::single(key, &p.display().to_string())),
            }
        }
        if ring.is_none() && !self.insecure_no_pin {
            return Err(
                "no pinned key: give --keyring FILE or --public-key FILE (or, knowing that \
                 anyone able to write the store could then re-sign it, --insecure-no-pin)"
                    .into(),
            );
        }
        if ring.is_none() {
            eprintln!(
                "warning: --insecure-no-pin: signatures are checked only against the keys embedded in the manifests"
            );
        }
        Ok(ring)
    }

    /// The read caps.
    pub fn limits(&self) -> Limits {
        Limits {
            max_manifest_bytes: self.max_manifest_bytes,
            max_document_bytes: self.max_document_bytes,
        }
    }
}

/// What verification asks of time stamps and S3 Object Lock (shared by `evidence verify` and
/// `report`).
#[derive(Debug, Args, Clone, Default)]
pub struct AssuranceArgs {
    /// PEM CA bundle that `manifest.tsr` tokens must chain to. Without it, tokens are
    /// checked (digest, time, signature by the embedded certificate) but the TSA is not pinned.
    #[arg(long)]
    pub tsa_ca: Option<PathBuf>,
    /// A snapshot without a time stamp token is a break.
    #[arg(long)]
    pub require_timestamps: bool,
    /// Largest distance between a token's time and the manifest time (default 15m).
    #[arg(long)]
    pub timestamp_tolerance: Option<String>,
    /// Every object of every snapshot must carry S3 Object Lock retention (read by a HEAD per
    /// object); one without is an `object-lock` break. S3 stores only. On S3 the retention is
    /// reported without this flag too.
    #[arg(long)]
    pub require_object_lock: bool,
    /// With --require-object-lock: retention must last at least this long after each
    /// snapshot's time (e.g. `400d`, the policy's objectLock.duration).
    #[arg(long, requires = "require_object_lock")]
    pub object_lock_min: Option<String>,
}

impl AssuranceArgs {
    /// The time stamp checks.
    pub fn timestamps(&self) -> Result<soc2_evidence::timestamp::TimestampOptions, String> {
        let anchors = self
            .tsa_ca
            .as_deref()
            .map(soc2_evidence::timestamp::TrustAnchors::read)
            .transpose()
            .map_err(|e| format!("--tsa-ca: {e}"))?;
        let tolerance = self
            .timestamp_tolerance
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| format!("--timestamp-tolerance: {e}"))?;
        Ok(soc2_evidence::timestamp::TimestampOptions {
            anchors,
            required: self.require_timestamps,
            tolerance,
        })
    }

    /// The Object Lock checks for `store`: retention is read on every S3 store.
    pub fn object_lock(&self, store: &Store) -> Result<ObjectLockOptions, String> {
        if self.require_object_lock && !store.reports_retention() {
            return Err(format!(
                "--require-object-lock: {store} is not an s3:// store (Object Lock is S3's)"
            ));
        }
        let min_duration = self
            .object_lock_min
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| format!("--object-lock-min: {e}"))?;
        Ok(ObjectLockOptions {
            report: store.reports_retention(),
            required: self.require_object_lock,
            min_duration,
        })
    }
}

/// `evidence` subcommands.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Evaluate once and write one signed, hash-chained snapshot.
    Snapshot(SnapshotArgs),
    /// Check every digest, signature, chain link and sequence number; report gaps.
    Verify(VerifyArgs),
}

/// Arguments of `evidence snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// A folder (or file) of manifests. Unset (or `live`): the cluster of the current
    /// kubeconfig context, as `audit` reads it. Only live snapshots count toward a period's
    /// completeness.
    #[arg(long, short = 'm')]
    pub manifests: Option<String>,
    /// Soc2Control manifests (file or folder). Default: the built-in baseline.
    #[arg(long, short = 'c')]
    pub controls: Option<PathBuf>,
    /// Where to write.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Cluster name (first key component).
    #[arg(long)]
    pub cluster: String,
    /// Policy name (second key component).
    #[arg(long, default_value = "default")]
    pub policy: String,
    /// ed25519 private key file (base64 seed, as `keygen` writes). Unset: unsigned.
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Interval the snapshots are meant to follow (for gap accounting).
    #[arg(long, conflicts_with = "schedule")]
    pub interval: Option<String>,
    /// Cron schedule (UTC) the snapshots are meant to follow.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Delete whole snapshots older than this after writing (e.g. `400d`).
    #[arg(long)]
    pub retention: Option<String>,
    /// Snapshot time (RFC 3339), for snapshots of a manifests folder only (refused for a live
    /// cluster, whose snapshots are always taken now). Default: now.
    #[arg(long)]
    pub at: Option<Timestamp>,
    /// Witness store for signed checkpoints of the chain head (another bucket or prefix).
    /// Credentials: `SOC2_WITNESS_<NAME>` environment variables (e.g.
    /// `SOC2_WITNESS_AWS_ACCESS_KEY_ID`) override the store's; endpoint/region/path-style flags
    /// are shared with `--store`.
    #[arg(long)]
    pub witness: Option<String>,
    /// Kubeconfig context for `--manifests live`.
    #[arg(long)]
    pub context: Option<String>,
    /// Also write the snapshot as OSCAL assessment-results.
    #[arg(long)]
    pub oscal: bool,
    /// Write attempts per object.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// RFC 3161 time stamping authority: store a token over the manifest as `manifest.tsr`.
    /// Default: none.
    #[arg(long)]
    pub tsa_url: Option<String>,
    /// S3 Object Lock mode of every object written (the bucket must have Object Lock
    /// enabled); with --object-lock-duration. Not with --retention.
    #[arg(
        long,
        value_enum,
        requires = "object_lock_duration",
        conflicts_with = "retention"
    )]
    pub object_lock_mode: Option<LockModeArg>,
    /// S3 Object Lock retention of every object written, from its write (e.g. `400d`).
    #[arg(long, requires = "object_lock_mode")]
    pub object_lock_duration: Option<String>,
    /// Also lock the checkpoints written to --witness (an S3 bucket with Object Lock).
    #[arg(long, requires_all = ["object_lock_mode", "witness"])]
    pub witness_object_lock: bool,
}

/// `--object-lock-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LockModeArg {
    /// Users with s3:BypassGovernanceRetention may still delete.
    Governance,
    /// Nobody may delete until the retention ends.
    Compliance,
}

/// Output of `evidence verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// Human readable.
    Text,
    /// JSON.
    Json,
}

/// Arguments of `evidence verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this policy.
    #[arg(long)]
    pub policy: Option<String>,
    /// Only snapshots from this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only snapshots until this time (RFC 3339, or YYYY-MM-DD meaning the end of that day).
    #[arg(long)]
    pub to: Option<String>,
    /// What is trusted.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Time stamps and Object Lock.
    #[command(flatten)]
    pub assurance: AssuranceArgs,
    /// Witnessed checkpoints: a checkpoint file, or the witness store URL (`--witness` of the
    /// writer). Snapshots they show that are missing from the store are breaks.
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = VerifyFormat::Text)]
    pub output: VerifyFormat,
}

pub(super) fn run(cmd: EvidenceCommand) -> u8 {
    match cmd {
        EvidenceCommand::Snapshot(a) => snapshot(a),
        EvidenceCommand::Verify(a) => verify_cmd(a),
    }
}

/// Parses `--from`: RFC 3339, or a date meaning the start of that day (UTC).
pub fn parse_from(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| format!("--from {s:?}: expected RFC 3339 or YYYY-MM-DD"))
}

/// Parses `--to`: RFC 3339, or a date meaning the end of that day (UTC).
pub fn parse_to(s: &str) -> Result<Timestamp, String> {
    parse_expiry(s).map_err(|e| format!("--to: {e}"))
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

fn snapshot(args: SnapshotArgs) -> u8 {
    let controls = match &args.controls {
        Some(path) => super::load_controls(path),
        None => super::baseline_controls(),
    };
    let controls = match controls {
        Ok(c) if c.is_empty() => return input_error("no Soc2Control found in --controls"),
        Ok(c) => c,
        Err(e) => return input_error(e),
    };
    let schedule = match (&args.schedule, &args.interval) {
        (None, None) => Schedule::parse(None, Some("1h")),
        (s, i) => Schedule::parse(s.as_deref(), i.as_deref()),
    };
    let schedule = match schedule {
        Ok(s) => s,
        Err(e) => return input_error(e),
    };
    let retention = match args.retention.as_deref().map(parse_duration).transpose() {
        Ok(r) => r,
        Err(e) => return input_error(format!("--retention: {e}")),
    };
    let signing_key = match args
        .signing_key
        .as_deref()
        .map(SigningKey::read)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    let object_lock = match (args.object_lock_mode, &args.object_lock_duration) {
        (Some(mode), Some(duration)) => {
            if let Err(e) = parse_duration(duration) {
                return input_error(format!("--object-lock-duration: {e}"));
            }
            Some(ObjectLockSpec {
                mode: match mode {
                    LockModeArg::Governance => ObjectLockMode::GOVERNANCE,
                    LockModeArg::Compliance => ObjectLockMode::COMPLIANCE,
                },
                duration: duration.clone(),
            })
        }
        _ => None,
    };
    let mut spec = args.store.spec();
    spec.object_lock = object_lock.clone();
    let store = match Store::open(&spec, &BTreeMap::new()) {
        Ok(s) => s,
        Err(e) => return input_error(format!("--store: {e}")),
    };
    let witness_lock = object_lock.filter(|_| args.witness_object_lock);
    let witness = match args
        .witness
        .as_deref()
        .map(|w| open_witness(w, &args.store, witness_lock))
    {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => return input_error(format!("--witness: {e}")),
    };
    let (snapshot, provenance) = match args.manifests.as_deref() {
        None | Some("live") => {
            if args.at.is_some() {
                return input_error(
                    "--at is only for snapshots of a --manifests folder: a live snapshot is taken now",
                );
            }
            match load_live(args.context.as_deref()) {
                Ok(s) => s,
                Err(e) => return input_error(format!("reading the cluster: {e}")),
            }
        }
        Some(path) => match manifests::load(std::path::Path::new(path)) {
            Ok(r) => {
                for n in &r.not_evaluated {
                    eprintln!(
                        "warning: {} (document {}): {} {} not evaluated: {}",
                        n.file, n.document, n.kind, n.name, n.reason
                    );
                }
                (
                    ClusterSnapshot::new(r.objects),
                    Provenance::manifests(path, "cli"),
                )
            }
            Err(e) => return input_error(e),
        },
    };
    let now = args.at.unwrap_or_else(Timestamp::now);
    let evaluation = engine::evaluate(&controls, &snapshot, now);
    let config = WriterConfig {
        cluster: args.cluster.clone(),
        policy: args.policy.clone(),
        schedule,
        signing_key,
        retry: RetryPolicy {
            attempts: args.attempts,
            ..RetryPolicy::default()
        },
        include: EvidenceInclude::default(),
        retention,
        oscal: args.oscal,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return input_error(e),
    };
    let tsa = match args
        .tsa_url
        .as_deref()
        .map(soc2_evidence::timestamp::Timestamper::new)
        .transpose()
    {
        Ok(t) => t,
        Err(e) => return input_error(e),
    };
    let result = rt.block_on(async {
        let mut writer = Writer::open(store, config).await?.with_timestamper(tsa);
        writer.set_provenance(provenance);
        if let Some(w) = witness {
            writer.set_witness(w);
        }
        let written = writer.write(&evaluation, &snapshot, now).await?;
        let pruned = writer.prune(now).await?;
        Ok::<_, soc2_evidence::Error>((written, pruned))
    });
    match result {
        Ok((w, pruned)) => {
            println!(
                "wrote snapshot {} (sequence {}, manifest sha256 {})",
                w.snapshot.key, w.sequence, w.snapshot.digest
            );
            if let Some(e) = &w.timestamp_error {
                eprintln!("warning: the snapshot has no time stamp: {e}");
            }
            for g in &w.gaps {
                println!(
                    "recorded gap: {} slot(s) missed from {} to {}",
                    g.missed, g.from, g.to
                );
            }
            if let Some(until) = w.retain_until {
                println!(
                    "object lock: every object retained until {}",
                    soc2_evidence::rfc3339(until)
                );
            }
            if let Some(c) = &w.checkpoint {
                println!("checkpoint: {c}");
            }
            if let Some(e) = &w.witness_error {
                eprintln!("error: the snapshot was written but its checkpoint was not: {e}");
                return EXIT_FAIL;
            }
            if !pruned.folders.is_empty() {
                println!(
                    "retention: deleted {} snapshot(s); chain anchored at {}",
                    pruned.folders.len(),
                    pruned.anchor.as_deref().unwrap_or("(none)")
                );
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: evidence snapshot failed: {e}");
            EXIT_FAIL
        }
    }
}

fn verify_cmd(args: VerifyArgs) -> u8 {
    let from = match args.from.as_deref().map(parse_from).transpose() {
        Ok(v) => v,
        Err(e) => return input_error(e),
    };
    let to = match args.to.as_deref().map(parse_to).transpose() {
        Ok(v) => v,
        Err(e) => return input_error(e),
    };
    let keyring = match args.trust.keyring() {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    let timestamps = match args.assurance.timestamps() {
        Ok(t) => t,
        Err(e) => return input_error(e),
    };
    let store = match args.store.open() {
        Ok(s) => s,
        Err(e) => return input_error(e),
    };
    let object_lock = match args.assurance.object_lock(&store) {
        Ok(o) => o,
        Err(e) => return input_error(e),
    };
    let options = VerifyOptions {
        cluster: args.cluster,
        policy: args.policy,
        from,
        to,
        public_key: None,
        keyring,
        limits: args.trust.limits(),
        keep: None,
        also_keep: Vec::new(),
        now: Timestamp::now(),
        timestamps,
        object_lock,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return input_error(e),
    };
    let checkpoints = match args
        .checkpoint
        .as_deref()
        .map(checkpoint_source)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return input_error(format!("--checkpoint: {e}")),
    };
    let report = match rt.block_on(async {
        let mut report = verify::verify(&store, &options).await?;
        if let Some(source) = &checkpoints {
            let loaded = checkpoint::load(source).await?;
            checkpoint::check(&mut report, &loaded, &options);
        }
        Ok::<_, soc2_evidence::Error>(report)
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading {store}: {e}");
            return EXIT_USAGE;
        }
    };
    match args.output {
        VerifyFormat::Text => print!("{}", report.to_text()),
        VerifyFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return input_error(e),
        },
    }
    if report.chains.is_empty() {
        eprintln!("error: no evidence found in {store}");
        return EXIT_FAIL;
    }
    if report.ok() { EXIT_OK } else { EXIT_FAIL }
}

/// Opens the witness store: the `--store` connection flags with the witness URL, credentials
/// from `SOC2_WITNESS_*` environment variables.
fn open_witness(
    url: &str,
    store: &StoreArgs,
    lock: Option<ObjectLockSpec>,
) -> Result<Store, String> {
    let args = StoreArgs {
        store: url.to_string(),
        ..store.clone()
    };
    let mut spec = args.spec();
    spec.object_lock = lock;
    let credentials: BTreeMap<String, String> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("SOC2_WITNESS_").map(|k| (k.to_string(), v)))
        .collect();
    Store::open(&spec, &credentials).map_err(|e| e.to_string())
}

/// `--checkpoint`: an existing file, else a witness store URL.
pub fn checkpoint_source(arg: &str) -> Result<checkpoint::Source, String> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        return Ok(checkpoint::Source::File(path.to_path_buf()));
    }
    Store::open(&storage_spec(arg), &BTreeMap::new())
        .map(checkpoint::Source::Store)
        .map_err(|e| e.to_string())
}

/// Reads the cluster of the kubeconfig (`context`, or the current one; in a pod, the service
/// account) and its provenance: the API server's address and the `kube-system` namespace UID.
fn load_live(context: Option<&str>) -> Result<(ClusterSnapshot, Provenance), String> {
    let rt = runtime()?;
    rt.block_on(async {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kube::Config::from_kubeconfig(&options).await {
            Ok(c) => c,
            Err(_) if context.is_none() => kube::Config::infer()
                .await
                .map_err(|e| format!("no usable kubeconfig: {e}"))?,
            Err(e) => return Err(format!("kubeconfig: {e}")),
        };
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let uid = crate::controller::policy::cluster_uid(&client).await;
        let objects = crate::live::load(&client)
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            ClusterSnapshot::new(objects),
            Provenance::live(uid, Some(server), "cli"),
        ))
    })
}
