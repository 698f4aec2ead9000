use super::*;

#[test]
fn one_reflector_per_kind() {
    let none = OptionalApis::default();
    let mut all = OptionalApis {
        velero: true,
        admission_policies: true,
        ..OptionalApis::default()
    };
    for kind in DynKind::ALL {
        all.dynamic.set(kind, kind.api().sources[0]);
    }
    assert_eq!(CacheState::reflector_count(none), 22);
    assert_eq!(
        CacheState::reflector_count(all),
        22 + 2 + 3 + DYN_KIND_COUNT
    );
}

#[tokio::test]
async fn ticks_start_after_every_reflector_synced() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let state = CacheState::new(2, tx);
    state.changed();
    assert!(rx.try_recv().is_err(), "no tick before sync");
    state.mark_synced("A");
    assert!(!state.synced());
    state.mark_synced("B");
    assert!(state.synced());
    assert!(rx.try_recv().is_ok());
    state.changed();
    assert!(rx.try_recv().is_ok());
    assert!(state.version() >= 2);
}

/// Scripted watch events for ConfigMaps through the cache path with change tracking: the
/// updated snapshot equals a rebuild from the stores, shares the stores' objects, leaves
/// a snapshot still held by someone else alone, and keeps the other kinds' stamps.
#[tokio::test]
async fn watched_changes_update_the_snapshot_as_a_rebuild_would() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;

    let objects = soc2_core::synth::generate(300, 5);
    let mut stores = Stores::replay(&objects).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let state = CacheState::new(1, tx);
    let (store, writer) = store::store::<ConfigMap>();
    stores.config_maps = store.clone();
    let (events, source) = futures::channel::mpsc::unbounded();
    tokio::spawn(drive(
        source.map(Ok),
        writer,
        state.clone(),
        "ConfigMap",
        KindId::ConfigMap,
    ));
    let send = |evs: Vec<watcher::Event<ConfigMap>>| {
        let before = state.version();
        let n = evs
            .iter()
            .filter(|e| !matches!(e, watcher::Event::Init | watcher::Event::InitApply(_)))
            .count() as u64;
        for e in evs {
            events.unbounded_send(e).expect("driver running");
        }
        let state = state.clone();
        async move {
            while state.version() < before + n {
                tokio::task::yield_now().await;
            }
        }
    };
    let list = |cms: &[Arc<ConfigMap>]| {
        std::iter::once(watcher::Event::Init)
            .chain(
                cms.iter()
                    .map(|c| watcher::Event::InitApply(ConfigMap::clone(c))),
            )
            .chain(std::iter::once(watcher::Event::InitDone))
            .collect::<Vec<_>>()
    };
    send(list(&objects.config_maps)).await;
    let first = updated_snapshot(&stores, &state, None);
    assert_eq!(first.config_maps.len(), objects.config_maps.len());

    let mut edited = ConfigMap::clone(&objects.config_maps[0]);
    edited.data = Some([("k".to_string(), "v".to_string())].into());
    let gone = ConfigMap::clone(&objects.config_maps[1]);
    let mut added = ConfigMap::clone(&objects.config_maps[2]);
    added.metadata.name = Some("added".into());
    send(vec![
        watcher::Event::Apply(edited.clone()),
        watcher::Event::Delete(gone.clone()),
        watcher::Event::Apply(added),
    ])
    .await;
    let second = updated_snapshot(&stores, &state, Some(first.clone()));
    let rebuilt = ClusterSnapshot::new(stores.objects());
    assert!(second.objects() == rebuilt.objects());
    let is_gone =
        |c: &Arc<ConfigMap>| (c.namespace(), c.name_any()) == (gone.namespace(), gone.name_any());
    assert!(first.config_maps.iter().any(is_gone));
    assert!(!second.config_maps.iter().any(is_gone));
    let cached = store
        .get(edited.namespace().as_deref(), &edited.name_any())
        .expect("cached");
    assert!(
        second.config_maps.iter().any(|c| Arc::ptr_eq(c, &cached)),
        "the snapshot shares the store's object"
    );
    assert_ne!(
        first.stamps().get(KindId::ConfigMap),
        second.stamps().get(KindId::ConfigMap)
    );
    assert_eq!(
        first.stamps().get(KindId::Pod),
        second.stamps().get(KindId::Pod)
    );

    // A re-list: rebuilt from the stores, every stamp new.
    send(list(&objects.config_maps[..5])).await;
    let third = updated_snapshot(&stores, &state, Some(second.clone()));
    assert_eq!(third.config_maps.len(), 5);
    assert_ne!(
        second.stamps().get(KindId::Pod),
        third.stamps().get(KindId::Pod)
    );
}

#[test]
fn relist_backoff_grows_to_its_cap_with_jitter_and_resets() {
    let mut b = RelistBackoff::new();
    let delays: Vec<Duration> = (0..8).map(|_| b.next().unwrap()).collect();
    let (lo, hi) = (0.75, 1.25);
    assert!(delays[0] >= Duration::from_millis(150) && delays[0] < Duration::from_millis(250));
    for d in &delays[4..] {
        assert!(
            d.as_secs_f64() >= 2.0 * lo && d.as_secs_f64() < 2.0 * hi,
            "{d:?}"
        );
    }
    assert!(delays.windows(2).any(|w| w[0] != w[1]), "jittered");
    b.reset();
    assert!(b.next().unwrap() < Duration::from_millis(250));
}

mod scripted {
    use super::super::*;
    use http::{Request, Response};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::client::Body;
    use serde_json::json;
    use tokio::time::Instant;

    fn status(code: u16, reason: &str) -> serde_json::Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": reason, "code": code, "message": reason})
    }

    fn list(rv: &str, names: &[&str]) -> serde_json::Value {
        let items: Vec<_> = names
            .iter()
            .map(|n| json!({"metadata": {"name": n, "namespace": "a", "resourceVersion": rv}}))
            .collect();
        json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items})
    }

    fn respond(code: u16, body: Vec<u8>) -> Response<Body> {
        Response::builder()
            .status(code)
            .body(Body::from(body))
            .expect("response")
    }

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    /// A ConfigMap watch cache on a scripted API server (`Handle`), retrying with `backoff`.
    fn watched_config_maps<B: Backoff + Send + 'static>(
        backoff: B,
    ) -> (Handle, Arc<CacheState>, Store<ConfigMap>) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (tx, _rx) = mpsc::unbounded_channel();
        let state = CacheState::new(1, tx);
        let (store, writer) = store::store::<ConfigMap>();
        let events = watcher(
            Api::<ConfigMap>::all(client),
            watcher::Config::default().any_semantic(),
        )
        .backoff(backoff);
        tokio::spawn(drive(
            events,
            writer,
            state.clone(),
            "ConfigMap",
            KindId::ConfigMap,
        ));
        (handle, state, store)
    }

    /// A watch answered by `410 Gone`, then the API server unreachable (503) for `down`,
    /// then back. Returns the time from the server being back to the re-list request, and
    /// checks readiness and the cache contents along the way.
    async fn relist_after_gone<B: Backoff + 'static>(backoff: B, down: Duration) -> Duration {
        let (mut handle, state, store) = watched_config_maps(backoff);

        let is_watch = |r: &Request<Body>| r.uri().query().unwrap_or("").contains("watch=true");
        // Initial list, then a watch answered with 410 Gone.
        let (req, send) = handle.next_request().await.expect("list");
        assert!(!is_watch(&req), "{}", req.uri());
        send.send_response(respond(
            200,
            serde_json::to_vec(&list("1", &["old"])).unwrap(),
        ));
        let (req, send) = handle.next_request().await.expect("watch");
        assert!(is_watch(&req), "{}", req.uri());
        let mut gone =
            serde_json::to_vec(&json!({"type": "ERROR", "object": status(410, "Expired")}))
                .unwrap();
        gone.push(b'\n');
        send.send_response(respond(200, gone));
        // The server is down: every call fails until `back`.
        let back = Instant::now() + down;
        let relisted = loop {
            let (req, send) = handle.next_request().await.expect("a retry");
            if Instant::now() >= back {
                assert!(
                    !is_watch(&req),
                    "after 410 the watcher re-lists: {}",
                    req.uri()
                );
                let waited = Instant::now() - back;
                send.send_response(respond(
                    200,
                    serde_json::to_vec(&list("5", &["new"])).unwrap(),
                ));
                break waited;
            }
            assert!(!state.ready(), "stale while the server is down");
            assert_eq!(state.stale_kinds(), vec!["ConfigMap"]);
            send.send_response(respond(
                503,
                serde_json::to_vec(&status(503, "ServiceUnavailable")).unwrap(),
            ));
        };
        // The fresh list replaces the cache and makes it current again.
        let (req, _hold) = handle.next_request().await.expect("the next watch");
        assert!(is_watch(&req), "{}", req.uri());
        assert!(state.ready(), "current again after the re-list");
        let names: Vec<String> = store.state().iter().map(|c| c.name_any()).collect();
        assert_eq!(names, vec!["new".to_string()]);
        relisted
    }

    /// The API server unreachable (503) for `down` while the cache watches, then back.
    /// Returns the time from the server being back to the next watch request. No re-list
    /// happens here, so nothing resets the backoff during the outage.
    async fn rewatch_after_outage<B: Backoff + 'static>(backoff: B, down: Duration) -> Duration {
        let (mut handle, state, _store) = watched_config_maps(backoff);
        let (_req, send) = handle.next_request().await.expect("list");
        send.send_response(respond(
            200,
            serde_json::to_vec(&list("1", &["a"])).unwrap(),
        ));
        let back = Instant::now() + down;
        let mut failed = false;
        loop {
            let (req, send) = handle.next_request().await.expect("a watch");
            assert!(
                req.uri().query().unwrap_or("").contains("watch=true"),
                "{}",
                req.uri()
            );
            // The retry came after the failure was handled.
            assert_eq!(state.ready(), !failed, "stale after a failed watch");
            if Instant::now() >= back {
                return Instant::now() - back;
            }
            send.send_response(respond(
                503,
                serde_json::to_vec(&status(503, "ServiceUnavailable")).unwrap(),
            ));
            failed = true;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_outage_while_watching_the_cache_rewatches_within_the_backoff_cap() {
        let (mut ours, mut default) = (Duration::ZERO, Duration::ZERO);
        for secs in (1..=60).step_by(3) {
            let down = Duration::from_secs(secs);
            ours = ours.max(rewatch_after_outage(RelistBackoff::new(), down).await);
            default =
                default.max(rewatch_after_outage(watcher::DefaultBackoff::default(), down).await);
        }
        eprintln!(
            "server back -> watch again, worst over 1..60 s outages: RelistBackoff {ours:?}, kube default {default:?}"
        );
        assert!(ours <= Duration::from_millis(2500), "{ours:?}");
        assert!(
            default > Duration::from_secs(5),
            "the old backoff was the delay: {default:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_410_and_an_outage_the_cache_relists_within_the_backoff_cap() {
        // The worst wait over outages of 1 to 60 s (the phase of the backoff varies).
        let (mut ours, mut default) = (Duration::ZERO, Duration::ZERO);
        for secs in (1..=60).step_by(3) {
            let down = Duration::from_secs(secs);
            ours = ours.max(relist_after_gone(RelistBackoff::new(), down).await);
            default =
                default.max(relist_after_gone(watcher::DefaultBackoff::default(), down).await);
        }
        eprintln!(
            "server back -> relist, worst over 1..60 s outages: RelistBackoff {ours:?}, kube default {default:?}"
        );
        assert!(ours <= Duration::from_millis(2500), "{ours:?}");
    }
}
