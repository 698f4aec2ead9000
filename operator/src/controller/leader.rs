//! Leader election on a `coordination.k8s.io/v1` Lease.
//!
//! kube has no leader election; this implements the client-go `leaderelection` rules that matter
//! for safety, on the same Lease fields, so it interoperates with client-go candidates:
//! - a holder renews `renewTime` every [`RENEW_EVERY`]; every write is a replace guarded by
//!   `resourceVersion`, so a `409 Conflict` means another replica won the race;
//! - expiry is judged by local observation time, never by the holder's clock: a candidate notes
//!   when it first saw the current lease record (holder, `renewTime`, …) on its own monotonic
//!   clock and takes the lease over only when that record has not changed for
//!   `leaseDurationSeconds` ([`Observation`]); a holder with a skewed clock can neither keep a
//!   lease forever nor lose it early;
//! - each round is bounded by the renew deadline ([`RENEW_DEADLINE`], shorter than the lease): a
//!   hung API call cannot keep this replica leading; leadership is dropped at the deadline.
//!
//! Not implemented from client-go: the `OnNewLeader` callback and the retry jitter.
//!
//! [`decide`] is the pure decision (times are inputs); [`run`] drives it and publishes
//! leadership on a `watch::channel<bool>` that every writer checks before writing. Losing the
//! lease (another holder, or no successful renew within [`RENEW_DEADLINE`]) flips the channel
//! to `false` at once.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long a lease is valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A holder that has not renewed for this long stops writing (before others may take over).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// The parts of a Lease the decision needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// `spec.holderIdentity`; `None` or empty means released.
    pub holder: Option<String>,
    /// `spec.renewTime` (or `acquireTime` when never renewed).
    pub renewed: Option<Timestamp>,
    /// `spec.leaseDurationSeconds`.
    pub duration_secs: Option<i32>,
}

impl LeaseView {
    /// Reads the view from a Lease.
    pub fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            renewed: spec.and_then(|s| {
                s.renew_time
                    .as_ref()
                    .or(s.acquire_time.as_ref())
                    .map(|t| t.0)
            }),
            duration_secs: spec.and_then(|s| s.lease_duration_seconds),
        }
    }
}

/// What a candidate should do with the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No lease object: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Released or expired: take it over.
    Acquire,
    /// Someone else holds a valid lease: stand by.
    Standby,
}

/// The pure decision: what `me` should do given the lease as read, where `unchanged_for` is how
/// long this replica has seen the same lease record (its own clock, see [`Observation`]).
pub fn decide(lease: Option<&LeaseView>, me: &str, unchanged_for: Duration) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    match lease.holder.as_deref() {
        Some(h) if h == me => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(_) => {
            let duration = lease
                .duration_secs
                .and_then(|d| u64::try_from(d).ok())
                .map_or(LEASE_DURATION, Duration::from_secs);
            if unchanged_for < duration {
                Decision::Standby
            } else {
                Decision::Acquire
            }
        }
    }
}

/// When this replica first saw the current lease record, on its own monotonic clock (client-go's
/// `observedTime`). The holder's `renewTime` is only compared for change, never with our clock.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    seen: Option<(Option<LeaseView>, Instant)>,
}

impl Observation {
    /// Records the record read at `now`; returns how long it has been unchanged.
    pub fn observe(&mut self, lease: Option<&LeaseView>, now: Instant) -> Duration {
        match &self.seen {
            Some((view, since)) if view.as_ref() == lease => now.saturating_duration_since(*since),
            _ => {
                self.seen = Some((lease.cloned(), now));
                Duration::ZERO
            }
        }
    }
}

/// Whether a leader whose last successful renew was `since_renew` ago may still write.
pub fn still_leader(since_renew: Duration) -> bool {
    since_renew < RENEW_DEADLINE
}

/// The lease spec we write when holding it.
fn held_spec(
    me: &str,
    now: Timestamp,
    previous: Option<&LeaseSpec>,
    taking_over: bool,
) -> LeaseSpec {
    let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: if taking_over {
            Some(MicroTime(now))
        } else {
            previous.and_then(|s| s.acquire_time.clone())
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if taking_over {
            transitions + 1
        } else {
            transitions
        }),
        ..LeaseSpec::default()
    }
}

/// One round of the protocol. Returns whether we hold the lease afterwards; `Err` on API
/// failures other than a lost race.
pub async fn try_acquire_or_renew(
    api: &Api<Lease>,
    name: &str,
    me: &str,
    now: Timestamp,
    observation: &mut Observation,
) -> kube::Result<bool> {
    let current = api.get_opt(name).await?;
    let view = current.as_ref().map(LeaseView::of);
    let unchanged_for = observation.observe(view.as_ref(), Instant::now());
    let result = match (decide(view.as_ref(), me, unchanged_for), current) {
        (Decision::Create, _) => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(held_spec(me, now, None, true)),
            };
            api.create(&PostParams::default(), &lease)
                .await
                .map(|_| true)
        }
        (Decision::Standby, _) => Ok(false),
        (decision, Some(mut lease)) => {
            // Replace keeps metadata.resourceVersion: the API server refuses it with 409 when
            // someone wrote in between.
            lease.spec = Some(held_spec(
                me,
                now,
                lease.spec.as_ref(),
                decision == Decision::Acquire,
            ));
            api.replace(name, &PostParams::default(), &lease)
                .await
                .map(|_| true)
        }
        (_, None) => Ok(false),
    };
    match result {
        Ok(held) => Ok(held),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Clears `holderIdentity` when we hold the lease, so a standby takes over at once.
pub async fn release(api: &Api<Lease>, name: &str, me: &str) -> kube::Result<()> {
    if let Some(mut lease) = api.get_opt(name).await?
        && LeaseView::of(&lease).holder.as_deref() == Some(me)
    {
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
            spec.acquire_time = None;
        }
        match api.replace(name, &PostParams::default(), &lease).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the election until `shutdown` fires, publishing leadership on `tx`. On shutdown it
/// stops writing first, then releases the lease.
pub async fn run(
    api: Api<Lease>,
    name: String,
    me: String,
    tx: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Local, monotonic time of the last successful renew.
    let mut last_renew: Option<Instant> = None;
    let mut observation = Observation::default();
    loop {
        // A round may take at most RENEW_EVERY, and never past the renew deadline.
        let limit = match last_renew {
            Some(t) => RENEW_EVERY.min(RENEW_DEADLINE.saturating_sub(t.elapsed())),
            None => RENEW_EVERY,
        };
        let started = Instant::now();
        let round = tokio::time::timeout(
            limit,
            try_acquire_or_renew(&api, &name, &me, Timestamp::now(), &mut observation),
        );
        let outcome = tokio::select! {
            r = round => r,
            _ = shutdown.changed() => break,
        };
        match outcome {
            Ok(Ok(true)) => {
                last_renew = Some(started);
                if !*tx.borrow() {
                    info!(lease = %name, identity = %me, "acquired leadership");
                }
                tx.send_replace(true);
            }
            Ok(Ok(false)) => {
                if *tx.borrow() {
                    warn!(lease = %name, "lost leadership to another holder; stopping writes");
                }
                last_renew = None;
                tx.send_replace(false);
            }
            other => {
                let error = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {limit:?}"),
                };
                let keep = last_renew.is_some_and(|t| still_leader(t.elapsed()));
                if !keep {
                    last_renew = None;
                }
                if *tx.borrow() && !keep {
                    warn!(lease = %name, error = %error, "could not renew before the deadline; stopping writes");
                } else {
                    warn!(lease = %name, error = %error, "lease round failed");
                }
                tx.send_replace(keep);
            }
        }
        // Sleep until the next round, waking at the renew deadline if that comes first.
        let wait = match last_renew {
            Some(t) if *tx.borrow() => RENEW_EVERY.min(RENEW_DEADLINE.saturating_sub(t.elapsed())),
            _ => RENEW_EVERY,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
        if let Some(t) = last_renew
            && !still_leader(t.elapsed())
        {
            if *tx.borrow() {
                warn!(lease = %name, "renew deadline passed; stopping writes");
            }
            last_renew = None;
            tx.send_replace(false);
        }
    }
    tx.send_replace(false);
    if last_renew.is_some() {
        match tokio::time::timeout(RENEW_EVERY, release(&api, &name, &me)).await {
            Ok(Ok(())) => info!(lease = %name, "released the lease"),
            Ok(Err(e)) => warn!(lease = %name, error = %e, "could not release the lease"),
            Err(_) => warn!(lease = %name, "could not release the lease: no answer"),
        }
    }
}

/// This replica's identity: `POD_NAME`, else the hostname.
pub fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("soc2-operator-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn view(holder: Option<&str>, renewed: &str) -> LeaseView {
        LeaseView {
            holder: holder.map(str::to_string),
            renewed: Some(t(renewed)),
            duration_secs: Some(15),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(decide(None, "a", S(0)), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed() {
        let v = view(Some("a"), "2026-01-01T00:00:00Z");
        assert_eq!(decide(Some(&v), "a", S(5)), Decision::Renew);
        // Even past expiry it is ours to renew (nobody took it).
        assert_eq!(decide(Some(&v), "a", S(60)), Decision::Renew);
    }

    #[test]
    fn valid_foreign_lease_means_standby_until_expiry() {
        let v = view(Some("b"), "2026-01-01T00:00:00Z");
        assert_eq!(decide(Some(&v), "a", S(14)), Decision::Standby);
        assert_eq!(decide(Some(&v), "a", S(15)), Decision::Acquire);
    }

    #[test]
    fn released_lease_is_acquired_at_once() {
        let v = view(None, "2026-01-01T00:00:00Z");
        assert_eq!(decide(Some(&v), "a", S(0)), Decision::Acquire);
        let empty = view(Some(""), "2026-01-01T00:00:00Z");
        assert_eq!(decide(Some(&empty), "a", S(0)), Decision::Acquire);
    }

    #[test]
    fn foreign_lease_without_times_is_judged_by_observation_too() {
        let v = LeaseView {
            holder: Some("b".into()),
            renewed: None,
            duration_secs: None,
        };
        assert_eq!(decide(Some(&v), "a", S(0)), Decision::Standby);
        assert_eq!(decide(Some(&v), "a", LEASE_DURATION), Decision::Acquire);
    }

    /// A holder whose clock is far off: expiry follows our observation of its renewals, not
    /// its `renewTime`.
    #[test]
    fn skewed_holder_clock_expiry_is_by_local_observation() {
        let start = Instant::now();
        let at = |s: u64| start + S(s);
        // Behind by two hours: the old rule took a lease its holder renews every 5 s.
        let mut seen = Observation::default();
        for (i, renewed) in [
            "2025-12-31T22:00:00Z",
            "2025-12-31T22:00:05Z",
            "2025-12-31T22:00:10Z",
        ]
        .iter()
        .enumerate()
        {
            let v = view(Some("b"), renewed);
            let unchanged = seen.observe(Some(&v), at(5 * i as u64));
            assert_eq!(decide(Some(&v), "a", unchanged), Decision::Standby);
        }
        // Ahead by two hours and then gone: the old rule waited two hours; we wait one lease
        // duration after the record stopped changing.
        let mut seen = Observation::default();
        let v = view(Some("b"), "2026-01-01T02:00:00Z");
        assert_eq!(
            decide(Some(&v), "a", seen.observe(Some(&v), at(0))),
            Decision::Standby
        );
        assert_eq!(
            decide(Some(&v), "a", seen.observe(Some(&v), at(14))),
            Decision::Standby
        );
        assert_eq!(
            decide(Some(&v), "a", seen.observe(Some(&v), at(15))),
            Decision::Acquire
        );
    }

    #[test]
    fn writes_stop_at_the_renew_deadline() {
        assert!(still_leader(S(9)));
        assert!(!still_leader(S(10)));
        assert!(RENEW_DEADLINE < LEASE_DURATION);
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let prev = LeaseSpec {
            holder_identity: Some("b".into()),
            lease_transitions: Some(3),
            ..LeaseSpec::default()
        };
        let now = t("2026-01-01T00:00:00Z");
        let s = held_spec("a", now, Some(&prev), true);
        assert_eq!(s.lease_transitions, Some(4));
        assert_eq!(s.holder_identity.as_deref(), Some("a"));
        assert_eq!(s.lease_duration_seconds, Some(15));
        let renewed = held_spec("a", now, Some(&s), false);
        assert_eq!(renewed.lease_transitions, Some(4));
    }

    mod api {
        use super::super::*;
        use super::t;
        use crate::controller::fixtures::{ApiServerVerifier, Expect, mock_client};
        use serde_json::json;

        const PATH: &str =
            "/apis/coordination.k8s.io/v1/namespaces/soc2-system/leases/soc2-operator";

        fn lease(holder: &str, renewed: &str, rv: &str) -> serde_json::Value {
            json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "soc2-operator", "namespace": "soc2-system", "resourceVersion": rv},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed, "leaseTransitions": 1},
            })
        }

        fn not_found() -> serde_json::Value {
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
        }

        fn conflict() -> serde_json::Value {
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified"})
        }

        #[tokio::test]
        async fn creates_a_missing_lease() {
            let (client, server) = mock_client();
            let task = server.run(vec![
                Expect::new("GET", PATH, not_found()).status(404),
                Expect::new(
                    "POST",
                    "/apis/coordination.k8s.io/v1/namespaces/soc2-system/leases?",
                    lease("a", "2026-01-01T00:00:00.000000Z", "1"),
                )
                .check(|b| {
                    assert_eq!(b["spec"]["holderIdentity"], "a");
                    assert_eq!(b["spec"]["leaseDurationSeconds"], 15);
                }),
            ]);
            let api: Api<Lease> = Api::namespaced(client, "soc2-system");
            let now = t("2026-01-01T00:00:00Z");
            assert!(
                try_acquire_or_renew(&api, "soc2-operator", "a", now, &mut Observation::default())
                    .await
                    .unwrap()
            );
            ApiServerVerifier::finish(task, None).await;
        }

        #[tokio::test]
        async fn renewal_is_guarded_by_resource_version_and_a_conflict_means_lost() {
            let (client, server) = mock_client();
            let task = server.run(vec![
                Expect::new("GET", PATH, lease("a", "2026-01-01T00:00:00.000000Z", "42")),
                Expect::new("PUT", format!("{PATH}?"), conflict())
                    .status(409)
                    .check(|b| {
                        assert_eq!(b["metadata"]["resourceVersion"], "42");
                        assert_eq!(b["spec"]["holderIdentity"], "a");
                    }),
            ]);
            let api: Api<Lease> = Api::namespaced(client, "soc2-system");
            let now = t("2026-01-01T00:00:05Z");
            assert!(
                !try_acquire_or_renew(&api, "soc2-operator", "a", now, &mut Observation::default())
                    .await
                    .unwrap()
            );
            ApiServerVerifier::finish(task, None).await;
        }

        #[tokio::test]
        async fn a_valid_foreign_lease_is_left_alone() {
            let (client, server) = mock_client();
            let task = server.run(vec![Expect::new(
                "GET",
                PATH,
                lease("b", "2026-01-01T00:00:00.000000Z", "7"),
            )]);
            let api: Api<Lease> = Api::namespaced(client, "soc2-system");
            let now = t("2026-01-01T00:00:05Z");
            assert!(
                !try_acquire_or_renew(&api, "soc2-operator", "a", now, &mut Observation::default())
                    .await
                    .unwrap()
            );
            ApiServerVerifier::finish(task, None).await;
        }

        /// The API server stops answering after the lease was taken: leadership ends at the
        /// renew deadline, before the lease could expire for the others.
        #[tokio::test(start_paused = true)]
        async fn a_hung_renew_loses_leadership_before_the_lease_ends() {
            let (client, mut server) = mock_client();
            let handle = tokio::spawn(async move {
                server.answer(not_found(), 404).await;
                server
                    .answer(lease("a", "2026-01-01T00:00:00.000000Z", "1"), 201)
                    .await;
                // Every later call hangs; keep them open.
                let mut held = Vec::new();
                while let Some(call) = server.hold().await {
                    held.push(call);
                }
            });
            let api: Api<Lease> = Api::namespaced(client, "soc2-system");
            let (tx, mut rx) = watch::channel(false);
            let (_stop, shutdown) = watch::channel(false);
            tokio::spawn(run(api, "soc2-operator".into(), "a".into(), tx, shutdown));
            rx.wait_for(|l| *l).await.unwrap();
            let acquired = Instant::now();
            rx.wait_for(|l| !*l).await.unwrap();
            let led = acquired.elapsed();
            eprintln!("hung renew: leadership dropped {led:?} after the last renew");
            assert!(led <= RENEW_DEADLINE, "{led:?}");
            assert!(led < LEASE_DURATION);
            handle.abort();
        }

        #[tokio::test]
        async fn release_clears_the_holder() {
            let (client, server) = mock_client();
            let task = server.run(vec![
                Expect::new("GET", PATH, lease("a", "2026-01-01T00:00:00.000000Z", "9")),
                Expect::new(
                    "PUT",
                    format!("{PATH}?"),
                    lease("", "2026-01-01T00:00:00.000000Z", "10"),
                )
                .check(|b| {
                    assert!(
                        b["spec"].get("holderIdentity").is_none_or(|h| h.is_null()),
                        "{b}"
                    );
                    assert_eq!(b["metadata"]["resourceVersion"], "9");
                }),
            ]);
            let api: Api<Lease> = Api::namespaced(client, "soc2-system");
            release(&api, "soc2-operator", "a").await.unwrap();
            ApiServerVerifier::finish(task, None).await;
        }
    }
}
