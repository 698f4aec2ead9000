//! The operator: watch caches, the `Soc2Control` controller, leader election, metrics and
//! health endpoints, wired together by [`run`].
//!
//! Owns the [`Context`] shared by reconciles and the HTTP server. Evaluation itself is the
//! [engine](soc2_core::engine)'s; this module feeds it snapshots built from the caches and acts on
//! its results.

pub mod activity;
pub mod caches;
pub mod control;
pub mod debounce;
pub mod enforce;
pub mod leader;
pub mod policy;
pub mod status;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, CustomResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::live;
use crate::metrics::Metrics;
use crate::{Error, Result};
use soc2_core::crd::{EvidencePolicy, Soc2Control};
use soc2_core::engine::Incremental;
use soc2_core::snapshot::ClusterSnapshot;

/// Where snapshots come from.
enum Source {
    /// The watch caches (the operator).
    Caches {
        stores: Box<caches::Stores>,
        state: Arc<caches::CacheState>,
        last: Mutex<Option<(u64, Arc<ClusterSnapshot>)>>,
    },
    /// A fixed snapshot (tests).
    Fixed(Arc<ClusterSnapshot>),
}

/// State shared by every reconcile and the HTTP server.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// One shared event recorder (so events aggregate).
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Whether `Enforce` controls may act (`run --enforcement`).
    pub enforcement: bool,
    /// The operator's namespace (Lease, Secrets).
    pub namespace: String,
    /// Name of this cluster (first component of evidence keys).
    pub cluster_name: String,
    leader: watch::Receiver<bool>,
    source: Source,
    controls: Option<Store<DeserializeGuard<Soc2Control>>>,
    backoff: Mutex<HashMap<String, u32>>,
    /// The audit-event aggregates filled by the intake (`run --audit-listen`); `None`: the
    /// intake is off and the activity checks are NotApplicable.
    activity: Option<Arc<Mutex<soc2_core::activity::Activity>>>,
    /// Outcomes of the previous evaluations, so a reconcile re-runs only the checks whose
    /// inputs changed.
    pub incremental: Incremental,
}

impl Context {
    /// Whether this replica may write now. Checked before every write.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// The snapshot of the current cache contents. When something changed, the watched
    /// changes are applied to the previous snapshot (in place when no reconcile still holds
    /// it); after a (re)list, or if a change cannot be applied, it is rebuilt from the stores.
    pub fn snapshot(&self) -> Arc<ClusterSnapshot> {
        match &self.source {
            Source::Fixed(s) => s.clone(),
            Source::Caches {
                stores,
                state,
                last,
            } => {
                let version = state.version();
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((v, s)) = last.as_ref()
                    && *v == version
                {
                    return s.clone();
                }
                let previous = last.take().map(|(_, s)| s);
                let snapshot = caches::updated_snapshot(stores, state, previous);
                for (kind, n) in snapshot.counts() {
                    self.metrics
                        .watch_cache_objects
                        .with_label_values(&[kind])
                        .set(n as i64);
                }
                *last = Some((version, snapshot.clone()));
                snapshot
            }
        }
    }

    /// The audit-event activity for an evaluation or snapshot of `snapshot` at `now` (the
    /// binding ledger updated from it), or `None` when the intake is off.
    pub fn activity_view(
        &self,
        snapshot: &ClusterSnapshot,
        now: jiff::Timestamp,
    ) -> Option<soc2_core::activity::Activity> {
        self.activity
            .as_deref()
            .map(|shared| activity::view(shared, snapshot, now))
    }

    /// The shared aggregates, when the intake runs.
    pub fn activity(&self) -> Option<&Arc<Mutex<soc2_core::activity::Activity>>> {
        self.activity.as_ref()
    }

    /// Gives the context the intake's aggregates (tests; `run` sets them itself).
    pub fn with_activity(mut self, shared: Arc<Mutex<soc2_core::activity::Activity>>) -> Self {
        self.activity = Some(shared);
        self
    }

    /// Every control the controller's cache holds.
    pub fn controls(&self) -> Vec<Arc<DeserializeGuard<Soc2Control>>> {
        self.controls.as_ref().map(Store::state).unwrap_or_default()
    }

    /// The next retry delay for a failing control: 5 s doubling to 5 min.
    pub fn next_backoff(&self, name: &str) -> Duration {
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(name.to_string()).or_insert(0);
        let delay = Duration::from_secs(5u64.saturating_mul(1 << (*n).min(6)))
            .min(Duration::from_secs(300));
        *n = n.saturating_add(1);
        delay
    }

    /// Forgets a control's failures after a successful reconcile.
    pub fn reset_backoff(&self, name: &str) {
        self.backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// A context over a fixed snapshot, for tests of single reconcile steps.
    pub fn for_tests(
        client: Client,
        snapshot: ClusterSnapshot,
        leader: bool,
        enforcement: bool,
    ) -> Self {
        let (_tx, rx) = watch::channel(leader);
        Self {
            recorder: Recorder::new(client.clone(), reporter()),
            client,
            metrics: Arc::new(Metrics::new()),
            enforcement,
            namespace: "soc2-system".into(),
            cluster_name: "test".into(),
            leader: rx,
            source: Source::Fixed(Arc::new(snapshot)),
            controls: None,
            backoff: Mutex::default(),
            activity: None,
            incremental: Incremental::new(),
        }
    }
}

fn reporter() -> Reporter {
    Reporter {
        controller: enforce::MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    }
}

/// Settings of `soc2-operator run`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Let `Enforce` controls remediate and install admission policies.
    pub enforcement: bool,
    /// Name of the leader Lease.
    pub lease_name: String,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Run leader election (off: this replica always leads).
    pub leader_election: bool,
    /// Address of the metrics and health server.
    pub http_addr: SocketAddr,
    /// Name of this cluster (for evidence keys).
    pub cluster_name: String,
    /// Debounce quiet period.
    pub debounce: Duration,
    /// Longest debounce delay.
    pub debounce_max: Duration,
    /// The audit-event intake (`--audit-listen`); `None`: not started.
    pub audit: Option<crate::audit_events::queue::AuditSettings>,
}

/// Refuses to start without the CRDs, with an install hint.
async fn check_crds(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [Soc2Control::crd_name(), EvidencePolicy::crd_name()] {
        if api.get_opt(crd).await?.is_none() {
            return Err(Error::Invalid(format!(
                "CustomResourceDefinition {crd} is not installed; install it with `kubectl apply -f crds/` (or the Helm chart) and start again"
            )));
        }
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the operator until SIGTERM/SIGINT.
pub async fn run(config: Config) -> Result<()> {
    let client = Client::try_default().await?;
    check_crds(&client).await?;
    let apis = live::discover(&client).await?;
    info!(
        velero = apis.velero,
        admission_policies = apis.admission_policies,
        enforcement = config.enforcement,
        "starting"
    );

    let metrics = Arc::new(Metrics::new());
    let (tick_tx, tick_rx) = mpsc::unbounded_channel::<()>();
    let state = caches::CacheState::new(caches::CacheState::reflector_count(apis), tick_tx.clone());
    let (stores, tasks) = caches::start(&client, apis, &state);
    for t in tasks {
        tokio::spawn(t);
    }

    // Shutdown: one signal, observed by the controller, the election and the HTTP server.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        let _ = shutdown_tx.send(true);
    });

    // Leadership.
    let (leader_tx, leader_rx) = watch::channel(!config.leader_election);
    let mut _always_leader = None;
    let election = if config.leader_election {
        let api: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
        let me = leader::identity();
        info!(identity = %me, lease = %config.lease_name, namespace = %config.namespace, "leader election");
        Some(tokio::spawn(leader::run(
            api,
            config.lease_name.clone(),
            me,
            leader_tx,
            shutdown_rx.clone(),
        )))
    } else {
        // No election: this replica always leads; keep the sender alive.
        _always_leader = Some(leader_tx);
        None
    };

    // HTTP.
    let ready_state = state.clone();
    let http_metrics = metrics.clone();
    let addr = config.http_addr;
    let http_shutdown = shutdown_rx.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::http::serve(
            addr,
            http_metrics,
            move || ready_state.ready(),
            http_shutdown,
        )
        .await
        {
            error!(error = %e, "metrics server failed");
        }
    });

    // Audit-event intake (off unless --audit-listen): the activity checks read its
    // aggregates, and each evidence snapshot records them in activity.json.
    let audit_activity = match config.audit.clone() {
        Some(audit) => Some(
            crate::audit_events::queue::start(audit, metrics.registry(), shutdown_rx.clone())
                .await?,
        ),
        None => None,
    };

    // Leader gauge, and re-evaluate everything when leadership is gained.
    let mut leader_watch = leader_rx.clone();
    let leader_metrics = metrics.clone();
    let leader_tick = tick_tx.clone();
    tokio::spawn(async move {
        loop {
            let leading = *leader_watch.borrow_and_update();
            leader_metrics.is_leader.set(i64::from(leading));
            if leading {
                let _ = leader_tick.send(());
            }
            if leader_watch.changed().await.is_err() {
                break;
            }
        }
    });

    let mut early_shutdown = shutdown_rx.clone();
    tokio::select! {
        () = state.wait_synced() => info!("watch caches synced"),
        _ = early_shutdown.wait_for(|s| *s) => return Ok(()),
    }

    let controls: Api<DeserializeGuard<Soc2Control>> = Api::all(client.clone());
    let controller = Controller::new(controls, watcher::Config::default().any_semantic())
        .with_config(controller::Config::default().concurrency(2));
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter()),
        client: client.clone(),
        metrics: metrics.clone(),
        enforcement: config.enforcement,
        namespace: config.namespace.clone(),
        cluster_name: config.cluster_name.clone(),
        leader: leader_rx,
        source: Source::Caches {
            stores: Box::new(stores),
            state: state.clone(),
            last: Mutex::new(None),
        },
        controls: Some(controller.store()),
        backoff: Mutex::default(),
        activity: audit_activity,
        incremental: Incremental::new(),
    });

    // Evidence policies: one task each, writing while this replica leads.
    let policies = tokio::spawn(policy::run(ctx.clone(), shutdown_rx.clone()));

    let ticks = tokio_stream_from(tick_rx);
    let trigger = debounce::debounced(ticks, config.debounce, config.debounce_max);
    let mut shutdown = shutdown_rx.clone();
    controller
        .reconcile_all_on(trigger)
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .run(control::reconcile, control::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(control = %obj.name, "reconciled"),
                Err(e) => warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
    // The policy tasks see the same shutdown signal; they stop at their next wait, after a
    // write in progress (bounded to stay inside the 30 s termination grace period).
    if tokio::time::timeout(Duration::from_secs(20), policies)
        .await
        .is_err()
    {
        warn!("evidence policy tasks did not stop in time");
    }
    // Writes have stopped (the controller is down); release the lease so a standby takes over
    // at once instead of after expiry.
    if let Some(task) = election
        && tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
    {
        warn!("lease release timed out");
    }
    info!("stopped");
    Ok(())
}

fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<()>,
) -> impl futures::Stream<Item = ()> + Send + Unpin + 'static {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_type2;
