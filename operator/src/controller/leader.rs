//! Leader election on a `coordination.k8s.io/v1` Lease.
//!
//! kube has no leader election; this follows the client-go protocol closely enough to
//! interoperate: a holder renews `renewTime` every [`RENEW_EVERY`]; a candidate takes the lease
//! over only when `renewTime + leaseDurationSeconds` has passed. Every write is a replace guarded
//! by `resourceVersion`, so a `409 Conflict` means another replica won the race.
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

/// The pure decision: what `me` should do given the lease as read at `now`.
pub fn decide(lease: Option<&LeaseView>, me: &str, now: Timestamp) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    match lease.holder.as_deref() {
        Some(h) if h == me => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(_) => {
            let duration = lease
                .duration_secs
                .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
            match lease.renewed {
                Some(t) if now.as_second() < t.as_second() + duration => Decision::Standby,
                _ => Decision::Acquire,
            }
        }
    }
}

/// Whether a leader whose last successful renew was at `last_renew` may still write at `now`.
pub fn still_leader(last_renew: Timestamp, now: Timestamp) -> bool {
    now.duration_since(last_renew).as_secs_f64() < RENEW_DEADLINE.as_secs_f64()
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
) -> kube::Result<bool> {
    let current = api.get_opt(name).await?;
    let view = current.as_ref().map(LeaseView::of);
    let result = match (decide(view.as_ref(), me, now), current) {
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
    let mut last_renew: Option<Timestamp> = None;
    loop {
        let now = Timestamp::now();
        match try_acquire_or_renew(&api, &name, &me, now).await {
            Ok(true) => {
                last_renew = Some(now);
                if !*tx.borrow() {
                    info!(lease = %name, identity = %me, "acquired leadership");
                }
                tx.send_replace(true);
            }
            Ok(false) => {
                if *tx.borrow() {
                    warn!(lease = %name, "lost leadership to another holder; stopping writes");
                }
                last_renew = None;
                tx.send_replace(false);
            }
            Err(e) => {
                let keep = last_renew.is_some_and(|t| still_leader(t, Timestamp::now()));
                if *tx.borrow() && !keep {
                    warn!(lease = %name, error = %e, "could not renew before the deadline; stopping writes");
                } else {
                    warn!(lease = %name, error = %e, "lease round failed");
                }
                tx.send_replace(keep);
            }
        }
        // Stop at the deadline even if the next round hangs.
        let sleep = tokio::time::sleep(RENEW_EVERY);
        tokio::select! {
            () = sleep => {}
            _ = shutdown.changed() => break,
        }
        if let Some(t) = last_renew
            && !still_leader(t, Timestamp::now())
        {
            tx.send_replace(false);
        }
    }
    tx.send_replace(false);
    if last_renew.is_some() {
        match release(&api, &name, &me).await {
            Ok(()) => info!(lease = %name, "released the lease"),
            Err(e) => warn!(lease = %name, error = %e, "could not release the lease"),
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

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(
            decide(None, "a", t("2026-01-01T00:00:00Z")),
            Decision::Create
        );
    }

    #[test]
    fn own_lease_is_renewed() {
        let v = view(Some("a"), "2026-01-01T00:00:00Z");
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:00:05Z")),
            Decision::Renew
        );
        // Even past expiry it is ours to renew (nobody took it).
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:01:00Z")),
            Decision::Renew
        );
    }

    #[test]
    fn valid_foreign_lease_means_standby_until_expiry() {
        let v = view(Some("b"), "2026-01-01T00:00:00Z");
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:00:14Z")),
            Decision::Standby
        );
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:00:15Z")),
            Decision::Acquire
        );
    }

    #[test]
    fn released_lease_is_acquired_at_once() {
        let v = view(None, "2026-01-01T00:00:00Z");
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:00:01Z")),
            Decision::Acquire
        );
        let empty = view(Some(""), "2026-01-01T00:00:00Z");
        assert_eq!(
            decide(Some(&empty), "a", t("2026-01-01T00:00:01Z")),
            Decision::Acquire
        );
    }

    #[test]
    fn foreign_lease_without_times_is_taken() {
        let v = LeaseView {
            holder: Some("b".into()),
            renewed: None,
            duration_secs: None,
        };
        assert_eq!(
            decide(Some(&v), "a", t("2026-01-01T00:00:00Z")),
            Decision::Acquire
        );
    }

    #[test]
    fn writes_stop_at_the_renew_deadline() {
        let renewed = t("2026-01-01T00:00:00Z");
        assert!(still_leader(renewed, t("2026-01-01T00:00:09Z")));
        assert!(!still_leader(renewed, t("2026-01-01T00:00:10Z")));
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
                try_acquire_or_renew(&api, "soc2-operator", "a", now)
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
                !try_acquire_or_renew(&api, "soc2-operator", "a", now)
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
                !try_acquire_or_renew(&api, "soc2-operator", "a", now)
                    .await
                    .unwrap()
            );
            ApiServerVerifier::finish(task, None).await;
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
