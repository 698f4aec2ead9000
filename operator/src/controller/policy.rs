//! `EvidencePolicy`: one task per policy that writes evidence snapshots on its schedule, as a
//! pipeline of small steps: validate → load secrets → open the writer (chain head from the
//! store) → wait for the due time → snapshot, evaluate the selected controls, write, prune →
//! status and metrics.
//!
//! A reflector on `EvidencePolicy` drives the tasks: a new or changed spec (re)starts the
//! policy's task, deletion stops it. A task stops only at a wait, never inside a snapshot write,
//! so no snapshot is left with documents but no manifest. Only the leader writes (evidence and status); standbys
//! wait. Secret values never leave the steps that load them: errors name the Secret and key,
//! never their content.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::events::{Event, EventType};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::Context;
use super::enforce::MANAGER;
use soc2_core::activity::Activity;
use soc2_core::crd::{
    CheckpointRef, Condition, ControlSelection, EvidencePolicy, EvidencePolicySpec,
    EvidencePolicyStatus, SnapshotRef, Soc2Control, parse_duration,
};
use soc2_core::engine;
use soc2_core::snapshot::ClusterSnapshot;
use soc2_evidence::writer::Written;
use soc2_evidence::{self, Provenance, Schedule, SigningKey, Store, Writer, WriterConfig, rfc3339};

/// Condition type: the spec is valid, the secrets loaded and the store opened.
pub const READY: &str = "Ready";
/// Condition type: the last snapshot attempt succeeded.
pub const HEALTHY: &str = "Healthy";

/// Wait before retrying a policy whose secrets or store could not be opened.
pub const SETUP_RETRY: Duration = Duration::from_secs(60);

/// Metric label values of `soc2_evidence_snapshots_total{result}`.
pub const SUCCESS: &str = "success";
/// See [`SUCCESS`].
pub const FAILURE: &str = "failure";

// ---------------------------------------------------------------------------------------------
// Pure steps
// ---------------------------------------------------------------------------------------------

/// A valid spec, parsed.
#[derive(Debug)]
pub struct Validated {
    /// When snapshots are due.
    pub schedule: Schedule,
    /// The control selector, parsed.
    pub selector: Option<Selector>,
}

/// Step: validates a spec without talking to anything. Errors name the field at fault
/// (`spec.schedule: …`, `spec.retention: …`, `spec.storage.url: …`).
pub fn validate(spec: &EvidencePolicySpec) -> Result<Validated, String> {
    let schedule = Schedule::from_spec(spec).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("spec.") || msg.contains("spec.schedule") {
            msg
        } else {
            format!("spec.schedule: {msg}")
        }
    })?;
    if let Some(r) = spec.retention.as_deref() {
        parse_duration(r).map_err(|e| format!("spec.retention: {e}"))?;
    }
    check_storage_url(&spec.storage.url).map_err(|e| format!("spec.storage.url: {e}"))?;
    check_object_lock(&spec.storage, "spec.storage")?;
    if spec.retention.is_some() && spec.storage.object_lock.is_some() {
        return Err(soc2_evidence::writer::RETENTION_WITH_LOCK.into());
    }
    if let Some(w) = &spec.witness {
        check_storage_url(&w.url).map_err(|e| format!("spec.witness.url: {e}"))?;
        check_object_lock(w, "spec.witness")?;
    }
    if let Some(t) = &spec.timestamping {
        timestamper(t)?;
    }
    if let Some(signing) = &spec.signing {
        if signing.secret_name.is_empty() {
            return Err("spec.signing.secretName: must not be empty".into());
        }
        if signing.key.is_empty() {
            return Err("spec.signing.key: must not be empty".into());
        }
    }
    let selector = spec
        .controls
        .selector
        .clone()
        .map(Selector::try_from)
        .transpose()
        .map_err(|e| format!("spec.controls.selector: {e}"))?;
    Ok(Validated { schedule, selector })
}

/// The client of `spec.timestamping`; errors name the field at fault.
pub fn timestamper(
    spec: &soc2_core::crd::TimestampingSpec,
) -> Result<soc2_evidence::timestamp::Timestamper, String> {
    use soc2_evidence::timestamp::{Timestamper, TrustAnchors};
    let anchors = spec
        .ca_bundle
        .as_deref()
        .map(TrustAnchors::from_pem)
        .transpose()
        .map_err(|e| format!("spec.timestamping.caBundle: {e}"))?;
    Ok(Timestamper::new(&spec.url)
        .map_err(|e| format!("spec.timestamping.url: {e}"))?
        .with_anchors(anchors))
}

/// `objectLock` of a storage spec (`field`: `spec.storage` or `spec.witness`): S3 only, and a
/// valid duration.
pub fn check_object_lock(storage: &soc2_core::crd::StorageSpec, field: &str) -> Result<(), String> {
    let Some(lock) = &storage.object_lock else {
        return Ok(());
    };
    if !storage.url.trim().starts_with("s3://") {
        return Err(format!(
            "{field}.objectLock: S3 Object Lock needs an s3:// URL, not {:?} (GCS and Azure have their own retention policies, set on the bucket; see docs/evidence.md)",
            storage.url
        ));
    }
    let d =
        parse_duration(&lock.duration).map_err(|e| format!("{field}.objectLock.duration: {e}"))?;
    if d <= jiff::SignedDuration::ZERO {
        return Err(format!("{field}.objectLock.duration: must be positive"));
    }
    Ok(())
}

/// The storage URL's syntax only: opening the store needs the credentials (a later step), and
/// some backends refuse to build without them.
pub fn check_storage_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?}: expected file://, s3://, gs:// or az://"));
    };
    match scheme {
        "file" if rest.starts_with('/') => Ok(()),
        "file" => Err(format!(
            "{url:?}: file:// URLs need an absolute path (file:///...)"
        )),
        "s3" | "gs" | "az" | "azure" => {
            if rest.split('/').next().unwrap_or_default().is_empty() {
                Err(format!("{url:?}: the URL names no bucket"))
            } else {
                Ok(())
            }
        }
        other => Err(format!("{url:?}: unsupported scheme {other:?}")),
    }
}

/// Step: the controls a policy covers: those matching the selector or named in `names`; every
/// control when both are empty. Sorted by name.
pub fn select_controls(
    selection: &ControlSelection,
    selector: Option<&Selector>,
    controls: &[Soc2Control],
) -> Vec<Soc2Control> {
    let all = selection.selector.is_none() && selection.names.is_empty();
    let mut out: Vec<Soc2Control> = controls
        .iter()
        .filter(|c| {
            all || selection.names.iter().any(|n| *n == c.name_any())
                || selector.is_some_and(|s| s.matches(c.labels()))
        })
        .cloned()
        .collect();
    out.sort_by_key(|c| c.name_any());
    out
}

/// Step: when the next snapshot is due, strictly after `now`.
pub fn next_due(schedule: &Schedule, now: Timestamp) -> Option<Timestamp> {
    schedule.next_after(now)
}

/// How long to sleep from `now` until `due` (zero when already due).
pub fn sleep_until(due: Timestamp, now: Timestamp) -> Duration {
    let secs = due.as_millisecond().saturating_sub(now.as_millisecond());
    Duration::from_millis(u64::try_from(secs).unwrap_or(0))
}

/// What the policy's task knows, from which status is computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// `Err(message)` when the spec, secrets or store cannot be used (names the field).
    pub setup: Result<(), String>,
    /// The last snapshot attempt: `None` before the first one.
    pub last_attempt: Option<Result<(), String>>,
    /// The last complete snapshot (from the store's chain head, then from writes).
    pub last_snapshot: Option<SnapshotRef>,
    /// Digest of the newest manifest.
    pub chain_head: Option<String>,
    /// Snapshots written since this task started.
    pub snapshots_written: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When the next snapshot is due.
    pub next_snapshot: Option<Timestamp>,
    /// The last checkpoint written to the witness.
    pub checkpoint: Option<CheckpointRef>,
}

impl Default for Observed {
    fn default() -> Self {
        Self {
            setup: Ok(()),
            last_attempt: None,
            last_snapshot: None,
            chain_head: None,
            snapshots_written: 0,
            consecutive_failures: 0,
            next_snapshot: None,
            checkpoint: None,
        }
    }
}

impl Observed {
    /// Records a successful write.
    /// `timestamps_required` (`spec.timestamping.required`): a snapshot written without its
    /// time stamp token counts as a failed attempt.
    pub fn success(&mut self, written: &Written, timestamps_required: bool) {
        self.last_attempt = Some(Ok(()));
        self.last_snapshot = Some(written.snapshot.clone());
        self.chain_head = Some(written.snapshot.digest.clone());
        self.snapshots_written += 1;
        self.consecutive_failures = 0;
        if written.checkpoint.is_some() {
            self.checkpoint = Some(CheckpointRef {
                sequence: written.sequence,
                digest: written.snapshot.digest.clone(),
                time: written.snapshot.time.clone(),
            });
        }
        if let Some(e) = &written.witness_error {
            self.last_attempt = Some(Err(format!(
                "the snapshot was written but its checkpoint was not: {e}"
            )));
        }
        if let Some(e) = &written.timestamp_error
            && timestamps_required
        {
            self.last_attempt = Some(Err(format!(
                "the snapshot was written without its required time stamp: {e}"
            )));
        }
    }

    /// Records a failed write.
    pub fn failure(&mut self, error: &soc2_evidence::Error) {
        self.last_attempt = Some(Err(error.to_string()));
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
    }
}

/// Step: the status a policy should have. `lastTransitionTime` moves only on a transition.
pub fn desired_status(
    generation: Option<i64>,
    previous: Option<&EvidencePolicyStatus>,
    observed: &Observed,
    now: Timestamp,
) -> EvidencePolicyStatus {
    let prev: &[Condition] = previous.map_or(&[], |s| s.conditions.as_slice());
    let ready = match &observed.setup {
        Ok(()) => Condition::new(
            READY,
            true,
            "Ready",
            "spec valid, store opened",
            generation,
            now,
            prev,
        ),
        Err(msg) => Condition::new(READY, false, "Invalid", msg.clone(), generation, now, prev),
    };
    let healthy = match (&observed.setup, &observed.last_attempt) {
        (Err(_), _) => Condition::new(
            HEALTHY,
            false,
            "NotReady",
            "no snapshot can be written until Ready",
            generation,
            now,
            prev,
        ),
        (Ok(()), None) => Condition::new(
            HEALTHY,
            true,
            "Waiting",
            "no snapshot attempted yet",
            generation,
            now,
            prev,
        ),
        (Ok(()), Some(Ok(()))) => Condition::new(
            HEALTHY,
            true,
            "SnapshotWritten",
            "the last snapshot was written",
            generation,
            now,
            prev,
        ),
        (Ok(()), Some(Err(msg))) => Condition::new(
            HEALTHY,
            false,
            "SnapshotFailed",
            msg.clone(),
            generation,
            now,
            prev,
        ),
    };
    let last_error = match (&observed.setup, &observed.last_attempt) {
        (Err(msg), _) => Some(msg.clone()),
        (Ok(()), Some(Err(msg))) => Some(msg.clone()),
        _ => None,
    };
    EvidencePolicyStatus {
        conditions: vec![ready, healthy],
        observed_generation: generation,
        last_snapshot: observed.last_snapshot.clone(),
        chain_head: observed.chain_head.clone(),
        snapshots_written: observed.snapshots_written,
        consecutive_failures: observed.consecutive_failures,
        last_error,
        next_snapshot: observed.next_snapshot.map(rfc3339),
        checkpoint: observed.checkpoint.clone(),
    }
}

/// The server-side apply body for a status (apiVersion and kind are required).
pub fn apply_body(status: &EvidencePolicyStatus) -> Value {
    json!({
        "apiVersion": EvidencePolicy::api_version(&()),
        "kind": EvidencePolicy::kind(&()),
        "status": status,
    })
}

/// Step: one snapshot: evaluate the selected controls against `snapshot` (and the audit-event
/// `activity`, recorded as `activity.json` when the intake runs), write, prune. A pruning
/// failure is logged and does not fail the snapshot.
pub async fn tick(
    writer: &mut Writer,
    controls: &[Soc2Control],
    snapshot: &ClusterSnapshot,
    activity: Option<&Activity>,
    now: Timestamp,
) -> soc2_evidence::Result<Written> {
    let evaluation = engine::evaluate_with_activity(controls, snapshot, activity, now);
    let written = writer
        .write_with_activity(&evaluation, snapshot, activity, now)
        .await?;
    if let Err(e) = writer.prune(now).await {
        warn!(error = %e, "evidence retention failed; will retry after the next snapshot");
    }
    Ok(written)
}

/// Step: records a tick's outcome in the metrics.
pub fn record_metrics(
    metrics: &crate::metrics::Metrics,
    policy: &str,
    outcome: &soc2_evidence::Result<Written>,
    now: Timestamp,
) {
    let result = if outcome.is_ok() { SUCCESS } else { FAILURE };
    metrics
        .evidence_snapshots
        .with_label_values(&[policy, result])
        .inc();
    match outcome {
        Ok(w) => {
            metrics
                .evidence_last_success
                .with_label_values(&[policy])
                .set(now.as_second());
            metrics
                .evidence_chain_sequence
                .with_label_values(&[policy])
                .set(i64::try_from(w.sequence).unwrap_or(i64::MAX));
            // One series per head digest; the previous one is dropped from the exposition
            // (Prometheus keeps its history).
            use prometheus::core::Collector as _;
            for m in metrics.evidence_chain_head.collect() {
                for metric in m.get_metric() {
                    let labels: Vec<(&str, &str)> = metric
                        .get_label()
                        .iter()
                        .map(|l| (l.name(), l.value()))
                        .collect();
                    if labels.contains(&("policy", policy))
                        && let Some((_, d)) = labels.iter().find(|(n, _)| *n == "digest")
                    {
                        let _ = metrics
                            .evidence_chain_head
                            .remove_label_values(&[policy, d]);
                    }
                }
            }
            metrics
                .evidence_chain_head
                .with_label_values(&[policy, &w.snapshot.digest])
                .set(1);
            if w.witness_error.is_some() {
                metrics
                    .evidence_errors
                    .with_label_values(&[policy, "witness"])
                    .inc();
            }
            if w.timestamp_error.is_some() {
                metrics
                    .evidence_errors
                    .with_label_values(&[policy, "timestamp"])
                    .inc();
            }
        }
        Err(e) => metrics
            .evidence_errors
            .with_label_values(&[policy, e.metric_label()])
            .inc(),
    }
}

/// Step: restores the binding ledger from the chain head's `activity.json` (when the intake
/// runs and the head has one), so removals seen before a restart are not forgotten. The writer
/// has checked the head's signature when a key is configured. A read failure is logged: the
/// ledger then starts from what the operator observes.
async fn restore_ledger(ctx: &Context, writer: &Writer) {
    let (Some(shared), Some(head)) = (ctx.activity(), writer.head()) else {
        return;
    };
    match soc2_evidence::activity::read_head_ledger(writer.store(), &head.key).await {
        Ok(Some(ledger)) => {
            info!(head = %head.key, removed = ledger.removed.len(), "binding ledger restored from the evidence");
            super::activity::restore_ledger(shared, ledger);
        }
        Ok(None) => {}
        Err(e) => {
            warn!(head = %head.key, error = %e, "could not restore the binding ledger from the evidence")
        }
    }
}

/// The head of an opened chain, as status shows it.
pub fn head_ref(writer: &Writer) -> (Option<SnapshotRef>, Option<String>) {
    match writer.head() {
        Some(h) => (
            Some(SnapshotRef {
                time: rfc3339(h.time),
                key: h.key.clone(),
                digest: h.digest.clone(),
            }),
            Some(h.digest.clone()),
        ),
        None => (None, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Steps that talk to the API server or the store
// ---------------------------------------------------------------------------------------------

/// Step: reads a Secret of the operator's namespace as text values. Errors name the field and
/// the Secret, never a value.
async fn read_secret(
    ctx: &Context,
    field: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| format!("{field}: reading Secret {}/{name}: {e}", ctx.namespace))?
        .ok_or_else(|| format!("{field}: Secret {}/{name} not found", ctx.namespace))?;
    let mut out: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        out.insert(k, v.into_bytes());
    }
    Ok(out)
}

/// Step: loads the storage credentials and the signing key (Secrets in the operator's
/// namespace).
async fn load_secrets(
    ctx: &Context,
    spec: &EvidencePolicySpec,
) -> Result<(BTreeMap<String, String>, Option<SigningKey>), String> {
    let mut credentials = BTreeMap::new();
    if let Some(name) = &spec.storage.credentials_secret {
        let field = "spec.storage.credentialsSecret";
        for (k, v) in read_secret(ctx, field, name).await? {
            let v = String::from_utf8(v)
                .map_err(|_| format!("{field}: key {k:?} of Secret {name} is not UTF-8"))?;
            credentials.insert(k, v);
        }
    }
    let key = match &spec.signing {
        None => None,
        Some(s) => {
            let data = read_secret(ctx, "spec.signing.secretName", &s.secret_name).await?;
            let bytes = data.get(&s.key).ok_or_else(|| {
                format!(
                    "spec.signing.key: Secret {} has no key {:?}",
                    s.secret_name, s.key
                )
            })?;
            Some(
                SigningKey::from_bytes(bytes)
                    .map_err(|e| format!("spec.signing.key: Secret {}: {e}", s.secret_name))?,
            )
        }
    };
    Ok((credentials, key))
}

/// Step: validate, load secrets, open the store and the writer (which finds the chain head).
async fn open_writer(
    ctx: &Context,
    policy: &EvidencePolicy,
) -> Result<(Validated, Writer), (bool, String)> {
    let validated = validate(&policy.spec).map_err(|e| (false, e))?;
    let (credentials, key) = load_secrets(ctx, &policy.spec)
        .await
        .map_err(|e| (true, e))?;
    let store = Store::open(&policy.spec.storage, &credentials)
        .map_err(|e| (true, format!("spec.storage: {e}")))?;
    drop(credentials);
    let config =
        WriterConfig::from_policy(&ctx.cluster_name, &policy.name_any(), &policy.spec, key)
            .map_err(|e| (false, e.to_string()))?;
    let mut writer = match Writer::open(store, config).await {
        Ok(w) => w,
        Err(e @ soc2_evidence::Error::UntrustedHead { .. }) => {
            untrusted_head(ctx, policy, &e).await;
            return Err((true, format!("spec.storage: {e}")));
        }
        Err(e) => return Err((true, format!("spec.storage: {e}"))),
    };
    if let Some(t) = &policy.spec.timestamping {
        writer = writer.with_timestamper(Some(timestamper(t).map_err(|e| (false, e))?));
    }
    if let Some(w) = &policy.spec.witness {
        let credentials = match &w.credentials_secret {
            None => BTreeMap::new(),
            Some(name) => {
                let field = "spec.witness.credentialsSecret";
                let mut out = BTreeMap::new();
                for (k, v) in read_secret(ctx, field, name).await.map_err(|e| (true, e))? {
                    let v = String::from_utf8(v).map_err(|_| {
                        (
                            true,
                            format!("{field}: key {k:?} of Secret {name} is not UTF-8"),
                        )
                    })?;
                    out.insert(k, v);
                }
                out
            }
        };
        let witness =
            Store::open(w, &credentials).map_err(|e| (true, format!("spec.witness: {e}")))?;
        writer.set_witness(witness);
    }
    // In a pod the API server is the one of the service environment variables.
    let server = match (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) {
        (Ok(h), Ok(p)) => Some(format!("https://{h}:{p}")),
        _ => None,
    };
    writer.set_provenance(Provenance::live(
        cluster_uid(&ctx.client).await,
        server,
        "operator",
    ));
    Ok((validated, writer))
}

/// The UID of the `kube-system` namespace: identifies the cluster a live snapshot was read
/// from. `None` when it cannot be read (the manifest then records no UID).
pub async fn cluster_uid(client: &kube::Client) -> Option<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get_opt("kube-system").await {
        Ok(ns) => ns.and_then(|n| n.metadata.uid),
        Err(e) => {
            warn!(error = %e, "could not read the kube-system namespace UID for evidence provenance");
            None
        }
    }
}

/// The writer refused a chain head it did not write: metric and Warning Event on the policy.
async fn untrusted_head(ctx: &Context, policy: &EvidencePolicy, error: &soc2_evidence::Error) {
    let name = policy.name_any();
    ctx.metrics
        .evidence_errors
        .with_label_values(&[name.as_str(), error.metric_label()])
        .inc();
    warning_event(
        ctx,
        policy,
        "UntrustedChainHead",
        "OpenEvidenceChain",
        &error.to_string(),
    )
    .await;
}

/// A Warning Event on the policy (leader only; the note is cut to 1000 characters).
async fn warning_event(
    ctx: &Context,
    policy: &EvidencePolicy,
    reason: &str,
    action: &str,
    note: &str,
) {
    if !ctx.is_leader() {
        return;
    }
    let ev = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &policy.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

/// Step: writes status by server-side apply (leader only).
async fn write_status(ctx: &Context, name: &str, status: &EvidencePolicyStatus) {
    if !ctx.is_leader() {
        return;
    }
    let api: Api<EvidencePolicy> = Api::all(ctx.client.clone());
    if let Err(e) = api
        .patch_status(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(apply_body(status)),
        )
        .await
    {
        warn!(policy = name, error = %e, "could not write EvidencePolicy status");
    }
}

/// The controls of the controller's cache (undecodable ones are skipped).
fn cached_controls(ctx: &Context) -> Vec<Soc2Control> {
    ctx.controls()
        .iter()
        .filter_map(|g| g.0.as_ref().ok().cloned())
        .collect()
}

/// Waits until this replica leads. Returns false when the leader channel closed.
async fn wait_leader(ctx: &Context) -> bool {
    let mut rx = ctx.leader.clone();
    rx.wait_for(|l| *l).await.is_ok()
}

/// Sleeps until `due`, returning early (false) when leadership is lost.
async fn sleep_while_leading(ctx: &Context, due: Timestamp) -> bool {
    let mut rx = ctx.leader.clone();
    let wait = sleep_until(due, Timestamp::now());
    let lost = tokio::select! {
        () = tokio::time::sleep(wait) => false,
        _ = rx.wait_for(|l| !*l) => true,
    };
    !lost && *ctx.leader.borrow()
}

/// Runs `fut` unless `stop` fires first (`None` then; a dropped sender counts as a stop).
/// Every wait of a policy task goes through this; the snapshot write does not, so stopping a
/// task never cuts a snapshot between its documents and its manifest.
async fn unless_stopped<F: std::future::Future>(
    stop: &mut watch::Receiver<bool>,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => None,
        out = fut => Some(out),
    }
}

/// The loop of one policy. Runs until `stop` fires (spec change, deletion, shutdown); it looks
/// at `stop` only while waiting, never during a write. `previous` is the task this one replaces:
/// it is awaited first, so two tasks never write the same chain at once.
pub async fn run_policy(
    ctx: Arc<Context>,
    policy: Arc<EvidencePolicy>,
    mut stop: watch::Receiver<bool>,
    previous_task: Option<JoinHandle<()>>,
) {
    if let Some(task) = previous_task {
        let _ = task.await;
    }
    let name = policy.name_any();
    let generation = policy.metadata.generation;
    let mut previous = policy.status.clone();
    loop {
        match unless_stopped(&mut stop, wait_leader(&ctx)).await {
            Some(true) => {}
            Some(false) | None => return,
        }
        let mut observed = Observed {
            consecutive_failures: previous.as_ref().map_or(0, |s| s.consecutive_failures),
            ..Observed::default()
        };
        let Some(opened) = unless_stopped(&mut stop, open_writer(&ctx, &policy)).await else {
            return;
        };
        let (validated, mut writer) = match opened {
            Ok(v) => v,
            Err((retry, msg)) => {
                warn!(policy = %name, error = %msg, "evidence policy not ready");
                observed.setup = Err(msg);
                let status =
                    desired_status(generation, previous.as_ref(), &observed, Timestamp::now());
                unless_stopped(&mut stop, write_status(&ctx, &name, &status)).await;
                previous = Some(status);
                if retry
                    && unless_stopped(&mut stop, tokio::time::sleep(SETUP_RETRY))
                        .await
                        .is_some()
                {
                    continue;
                }
                // An invalid spec waits for a change (which stops this task).
                unless_stopped(&mut stop, std::future::pending::<()>()).await;
                return;
            }
        };
        restore_ledger(&ctx, &writer).await;
        let (last, head) = head_ref(&writer);
        observed.last_snapshot =
            last.or_else(|| previous.as_ref().and_then(|s| s.last_snapshot.clone()));
        observed.chain_head = head;
        info!(policy = %name, chain_head = ?observed.chain_head, "evidence policy ready");
        loop {
            let now = Timestamp::now();
            let Some(due) = next_due(&validated.schedule, now) else {
                observed.setup = Err("spec.schedule: no future time matches".into());
                let status = desired_status(generation, previous.as_ref(), &observed, now);
                unless_stopped(&mut stop, write_status(&ctx, &name, &status)).await;
                unless_stopped(&mut stop, std::future::pending::<()>()).await;
                return;
            };
            observed.next_snapshot = Some(due);
            let status = desired_status(generation, previous.as_ref(), &observed, now);
            unless_stopped(&mut stop, write_status(&ctx, &name, &status)).await;
            previous = Some(status);
            match unless_stopped(&mut stop, sleep_while_leading(&ctx, due)).await {
                None => return,
                Some(false) => {
                    info!(policy = %name, "lost leadership; evidence paused");
                    break;
                }
                Some(true) => {}
            }
            // The controls' cache fills once the Soc2Control controller has listed them.
            if let Some(store) = &ctx.controls {
                match unless_stopped(&mut stop, store.wait_until_ready()).await {
                    Some(Ok(())) => {}
                    Some(Err(_)) | None => return,
                }
            }
            let now = Timestamp::now();
            let snapshot = ctx.snapshot();
            let controls = select_controls(
                &policy.spec.controls,
                validated.selector.as_ref(),
                &cached_controls(&ctx),
            );
            let activity = ctx.activity_view(&snapshot, now);
            // Not cancellable: documents, then the manifest, then pruning.
            let outcome = tick(&mut writer, &controls, &snapshot, activity.as_ref(), now).await;
            record_metrics(&ctx.metrics, &name, &outcome, now);
            match &outcome {
                Ok(w) => {
                    let required = policy
                        .spec
                        .timestamping
                        .as_ref()
                        .is_some_and(|t| t.required);
                    observed.success(w, required);
                    if let Some(e) = &w.timestamp_error {
                        warning_event(&ctx, &policy, "TimestampMissing", "TimestampSnapshot", e)
                            .await;
                    }
                }
                Err(e) => {
                    warn!(policy = %name, error = %e, "evidence snapshot failed; next attempt at the next due time");
                    observed.failure(e);
                }
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// A running policy task, the spec it runs, and its stop signal.
struct Running {
    spec: EvidencePolicySpec,
    generation: Option<i64>,
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// Asks the task to stop at its next wait (a write in progress completes first).
    fn stop(self) -> JoinHandle<()> {
        self.stop.send_replace(true);
        self.task
    }
}

/// Step: brings the running tasks in line with the cached policies: starts new ones, restarts
/// changed ones, stops deleted ones.
fn sync_tasks(
    ctx: &Arc<Context>,
    running: &mut HashMap<String, Running>,
    policies: Vec<Arc<EvidencePolicy>>,
) {
    let mut seen = std::collections::HashSet::new();
    for p in policies {
        let name = p.name_any();
        seen.insert(name.clone());
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(r) = running.get(&name)
            && r.spec == p.spec
            && r.generation == p.metadata.generation
        {
            continue;
        }
        let previous = running.remove(&name).map(|old| {
            info!(policy = %name, "evidence policy changed; restarting after its current write");
            old.stop()
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_policy(ctx.clone(), p.clone(), stop_rx, previous));
        running.insert(
            name,
            Running {
                spec: p.spec.clone(),
                generation: p.metadata.generation,
                task,
                stop,
            },
        );
    }
    let gone: Vec<String> = running
        .keys()
        .filter(|n| !seen.contains(*n))
        .cloned()
        .collect();
    for name in gone {
        if let Some(r) = running.remove(&name) {
            info!(policy = %name, "evidence policy deleted; stopping after its current write");
            // Detached: it ends at its next wait.
            drop(r.stop());
        }
    }
}

/// Watches `EvidencePolicy` and runs one task per policy until shutdown.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let api: Api<EvidencePolicy> = Api::all(ctx.client.clone());
    let (reader, writer) = reflector::store::<EvidencePolicy>();
    // Every event, not only touched objects: a relist (InitDone) also drops policies deleted
    // while the watch was down.
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => continue,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    warn!(error = %e, "EvidencePolicy watch error");
                    continue;
                }
                None => break,
            },
            _ = shutdown.wait_for(|s| *s) => break,
        }
        sync_tasks(&ctx, &mut running, reader.state());
    }
    // Stop every task at its next wait and let writes in progress finish (the caller bounds
    // how long it waits for this).
    let tasks: Vec<JoinHandle<()>> = running.into_values().map(Running::stop).collect();
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests;
