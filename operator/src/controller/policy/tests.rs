use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::core::ObjectMeta;

use super::*;
use soc2_core::crd::{EvidenceInclude, StorageSpec};
use soc2_evidence::VerifyOptions;

fn spec(url: &str) -> EvidencePolicySpec {
    EvidencePolicySpec {
        controls: ControlSelection::default(),
        schedule: None,
        interval: Some("1h".into()),
        storage: StorageSpec {
            url: url.into(),
            endpoint: None,
            region: None,
            path_style: false,
            allow_http: false,
            credentials_secret: None,
            object_lock: None,
        },
        retention: Some("30d".into()),
        formats: vec![soc2_core::crd::EvidenceFormat::JSON],
        signing: None,
        include: EvidenceInclude::default(),
        witness: None,
        timestamping: None,
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn control(name: &str, labels: &[(&str, &str)]) -> Soc2Control {
    let mut c = crate::cli::baseline_controls().unwrap()[0].clone();
    c.metadata = ObjectMeta {
        name: Some(name.into()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ObjectMeta::default()
    };
    c
}

#[test]
fn validation_names_the_field() {
    assert!(validate(&spec("file:///tmp/evidence")).is_ok());

    let mut s = spec("file:///tmp/evidence");
    s.interval = None;
    s.schedule = Some("not a cron".into());
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.schedule"), "{e}");

    let mut s = spec("file:///tmp/evidence");
    s.interval = Some("1w".into());
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.interval"), "{e}");

    let mut s = spec("file:///tmp/evidence");
    s.schedule = Some("0 * * * *".into());
    let e = validate(&s).unwrap_err();
    assert!(
        e.contains("exactly one of spec.schedule and spec.interval"),
        "{e}"
    );

    let mut s = spec("file:///tmp/evidence");
    s.retention = Some("forever".into());
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.retention: "), "{e}");

    let e = validate(&spec("ftp://host/x")).unwrap_err();
    assert!(e.starts_with("spec.storage.url: "), "{e}");
    let e = validate(&spec("s3:///prefix")).unwrap_err();
    assert!(
        e.starts_with("spec.storage.url: ") && e.contains("no bucket"),
        "{e}"
    );
    // Backends that need credentials to build are not opened during validation.
    assert!(validate(&spec("az://container/prefix")).is_ok());

    let mut s = spec("file:///tmp/evidence");
    s.controls.selector = Some(
        serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "a", "operator": "Bogus", "values": ["x"]}]
        }))
        .unwrap(),
    );
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.controls.selector: "), "{e}");

    let mut s = spec("file:///tmp/evidence");
    s.timestamping = Some(soc2_core::crd::TimestampingSpec {
        url: "http://tsa.example.com/tsr".into(),
        ca_bundle: None,
        required: true,
    });
    assert!(validate(&s).is_ok());
    s.timestamping.as_mut().unwrap().url = "ftp://tsa.example.com".into();
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.timestamping.url: "), "{e}");
    s.timestamping.as_mut().unwrap().url = "https://tsa.example.com/tsr".into();
    s.timestamping.as_mut().unwrap().ca_bundle = Some("not a certificate".into());
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.timestamping.caBundle: "), "{e}");
}

#[test]
fn object_lock_is_s3_only_and_excludes_pruning() {
    use soc2_core::crd::{ObjectLockMode, ObjectLockSpec};
    let lock = |duration: &str| {
        Some(ObjectLockSpec {
            mode: ObjectLockMode::COMPLIANCE,
            duration: duration.into(),
        })
    };
    let mut s = spec("s3://evidence/soc2");
    s.retention = None;
    s.storage.object_lock = lock("400d");
    assert!(validate(&s).is_ok());
    assert!(WriterConfig::from_policy("c", "p", &s, None).is_ok());

    // Pruning would delete what the lock is there to keep.
    s.retention = Some("30d".into());
    let e = validate(&s).unwrap_err();
    assert!(
        e.starts_with("spec.retention: ") && e.contains("spec.storage.objectLock"),
        "{e}"
    );
    let e = WriterConfig::from_policy("c", "p", &s, None).unwrap_err();
    assert!(e.to_string().starts_with("spec.retention: "), "{e}");
    s.retention = None;

    s.storage.object_lock = lock("1 year");
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.storage.objectLock.duration: "), "{e}");
    s.storage.object_lock = lock("0d");
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.storage.objectLock.duration: "), "{e}");

    for url in ["file:///tmp/evidence", "gs://bucket/x", "az://container/x"] {
        let mut s = spec(url);
        s.retention = None;
        s.storage.object_lock = lock("400d");
        let e = validate(&s).unwrap_err();
        assert!(e.starts_with("spec.storage.objectLock: "), "{url}: {e}");
    }
    let mut s = spec("s3://evidence/soc2");
    s.witness = Some(StorageSpec {
        object_lock: lock("400d"),
        ..spec("file:///tmp/witness").storage
    });
    let e = validate(&s).unwrap_err();
    assert!(e.starts_with("spec.witness.objectLock: "), "{e}");
}

#[test]
fn control_selection_by_selector_and_names() {
    let controls = vec![
        control("c", &[("tier", "core")]),
        control("a", &[("tier", "core")]),
        control("b", &[("tier", "extra")]),
        control("d", &[]),
    ];
    let names = |v: Vec<Soc2Control>| v.iter().map(|c| c.name_any()).collect::<Vec<_>>();

    let all = ControlSelection::default();
    assert_eq!(
        names(select_controls(&all, None, &controls)),
        ["a", "b", "c", "d"]
    );

    let by_label = ControlSelection {
        selector: Some(
            serde_json::from_value(serde_json::json!({"matchLabels": {"tier": "core"}})).unwrap(),
        ),
        names: vec![],
    };
    let sel = Selector::try_from(by_label.selector.clone().unwrap()).unwrap();
    assert_eq!(
        names(select_controls(&by_label, Some(&sel), &controls)),
        ["a", "c"]
    );

    let by_name = ControlSelection {
        selector: None,
        names: vec!["d".into(), "missing".into()],
    };
    assert_eq!(names(select_controls(&by_name, None, &controls)), ["d"]);

    let both = ControlSelection {
        names: vec!["b".into()],
        ..by_label
    };
    assert_eq!(
        names(select_controls(&both, Some(&sel), &controls)),
        ["a", "b", "c"]
    );
}

#[test]
fn due_times() {
    let hourly = Schedule::parse(None, Some("1h")).unwrap();
    assert_eq!(
        next_due(&hourly, t("2026-01-01T10:20:00Z")),
        Some(t("2026-01-01T11:00:00Z"))
    );
    // Strictly after: exactly on a slot gives the next one.
    assert_eq!(
        next_due(&hourly, t("2026-01-01T11:00:00Z")),
        Some(t("2026-01-01T12:00:00Z"))
    );
    let cron = Schedule::parse(Some("30 2 * * *"), None).unwrap();
    assert_eq!(
        next_due(&cron, t("2026-01-01T10:00:00Z")),
        Some(t("2026-01-02T02:30:00Z"))
    );
    assert_eq!(
        sleep_until(t("2026-01-01T11:00:00Z"), t("2026-01-01T10:59:30Z")),
        Duration::from_secs(30)
    );
    assert_eq!(
        sleep_until(t("2026-01-01T10:00:00Z"), t("2026-01-01T10:59:30Z")),
        Duration::ZERO
    );
}

#[test]
fn invalid_spec_status_names_field_and_keeps_transition_time() {
    let t0 = t("2026-01-01T00:00:00Z");
    let t1 = t("2026-01-01T01:00:00Z");
    let observed = Observed {
        setup: Err("spec.schedule \"x\": bad".into()),
        ..Observed::default()
    };
    let s0 = desired_status(Some(3), None, &observed, t0);
    let ready = &s0.conditions[0];
    assert_eq!(
        (ready.type_.as_str(), ready.status.as_str()),
        ("Ready", "False")
    );
    assert!(ready.message.starts_with("spec.schedule"));
    assert_eq!(s0.conditions[1].status, "False");
    assert_eq!(s0.last_error.as_deref(), Some("spec.schedule \"x\": bad"));
    assert_eq!(s0.observed_generation, Some(3));
    let s1 = desired_status(Some(3), Some(&s0), &observed, t1);
    assert_eq!(
        s1.conditions[0].last_transition_time,
        "2026-01-01T00:00:00Z"
    );
}

#[test]
fn failure_status_counts_and_metrics() {
    let metrics = crate::metrics::Metrics::new();
    let mut observed = Observed {
        setup: Ok(()),
        ..Observed::default()
    };
    let err = soc2_evidence::Error::Invalid("store down".into());
    observed.failure(&err);
    observed.failure(&err);
    record_metrics(&metrics, "p", &Err(err), t("2026-01-01T00:00:00Z"));
    let s = desired_status(Some(1), None, &observed, t("2026-01-01T00:00:00Z"));
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.conditions[0].status, "True");
    assert_eq!(s.conditions[1].status, "False");
    assert_eq!(s.conditions[1].reason, "SnapshotFailed");
    assert_eq!(s.last_error.as_deref(), Some("store down"));
    assert_eq!(
        metrics
            .evidence_snapshots
            .with_label_values(&["p", FAILURE])
            .get(),
        1
    );
}

#[tokio::test]
async fn tick_writes_a_verifiable_snapshot_and_the_status_body() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let mut policy_spec = spec(&url);
    policy_spec.interval = Some("15m".into());
    let validated = validate(&policy_spec).unwrap();

    let key = SigningKey::generate().unwrap();
    let public = key.public();
    let store = Store::open(&policy_spec.storage, &BTreeMap::new()).unwrap();
    let config = WriterConfig::from_policy("test", "hourly", &policy_spec, Some(key)).unwrap();
    let mut writer = Writer::open(store, config).await.unwrap();
    assert_eq!(head_ref(&writer), (None, None));
    let witness_dir = tempfile::tempdir().unwrap();
    writer
        .set_witness(Store::from_url(&format!("file://{}", witness_dir.path().display())).unwrap());

    let snapshot = ClusterSnapshot::new(soc2_core::synth::generate(2000, 1));
    let controls = select_controls(
        &policy_spec.controls,
        validated.selector.as_ref(),
        &crate::cli::baseline_controls().unwrap(),
    );
    assert!(!controls.is_empty());

    let now = t("2026-06-15T12:00:00Z");
    let metrics = crate::metrics::Metrics::new();
    let outcome = tick(&mut writer, &controls, &snapshot, None, now).await;
    record_metrics(&metrics, "hourly", &outcome, now);
    let written = outcome.unwrap();
    assert_eq!(
        metrics
            .evidence_snapshots
            .with_label_values(&["hourly", SUCCESS])
            .get(),
        1
    );
    assert_eq!(
        metrics
            .evidence_last_success
            .with_label_values(&["hourly"])
            .get(),
        now.as_second()
    );

    // The store verifies with the policy's public key.
    let options = VerifyOptions {
        public_key: Some(public),
        ..VerifyOptions::all(now)
    };
    let report = soc2_evidence::verify::verify(writer.store(), &options)
        .await
        .unwrap();
    assert_eq!(report.chains.len(), 1);
    assert!(report.ok(), "{}", report.to_text());

    // Status after the write.
    let mut observed = Observed {
        setup: Ok(()),
        consecutive_failures: 2,
        ..Observed::default()
    };
    observed.success(&written, false);
    observed.next_snapshot = next_due(&validated.schedule, now);
    let status = desired_status(Some(7), None, &observed, now);
    let body = apply_body(&status);
    assert_eq!(body["apiVersion"], "soc2.evidence.dev/v1alpha1");
    assert_eq!(body["kind"], "EvidencePolicy");
    let st = &body["status"];
    assert_eq!(st["observedGeneration"], 7);
    assert_eq!(st["snapshotsWritten"], 1);
    assert_eq!(st["consecutiveFailures"], 0);
    assert!(st.get("lastError").is_none());

    // A snapshot written without its time stamp: a failed attempt only when tokens are required.
    let mut unstamped = written.clone();
    unstamped.timestamp_error = Some("time stamping at http://tsa: HTTP 503".into());
    for (required, failed) in [(false, false), (true, true)] {
        let mut o = Observed {
            setup: Ok(()),
            ..Observed::default()
        };
        o.success(&unstamped, required);
        let st = desired_status(Some(7), None, &o, now);
        assert_eq!(
            st.last_error.is_some(),
            failed,
            "required={required}: {st:?}"
        );
        if failed {
            assert!(
                st.last_error
                    .as_deref()
                    .unwrap()
                    .contains("required time stamp"),
                "{st:?}"
            );
        }
    }
    assert_eq!(st["nextSnapshot"], "2026-06-15T12:15:00Z");
    assert_eq!(st["lastSnapshot"]["time"], "2026-06-15T12:00:00Z");
    assert_eq!(st["lastSnapshot"]["key"], written.snapshot.key.as_str());
    assert_eq!(
        st["lastSnapshot"]["digest"],
        written.snapshot.digest.as_str()
    );
    assert_eq!(st["chainHead"], written.snapshot.digest.as_str());
    // The witnessed checkpoint: in status and in the metrics.
    assert_eq!(st["checkpoint"]["sequence"], 0);
    assert_eq!(st["checkpoint"]["digest"], written.snapshot.digest.as_str());
    let text = metrics.render();
    assert!(
        text.contains(r#"soc2_evidence_chain_sequence{policy="hourly"} 0"#),
        "{text}"
    );
    let info = format!(
        r#"soc2_evidence_chain_head_info{{digest="{}",policy="hourly"}} 1"#,
        written.snapshot.digest
    );
    assert!(text.contains(&info), "{text}");
    let later = t("2026-06-15T12:15:00Z");
    let second = tick(&mut writer, &controls, &snapshot, None, later).await;
    record_metrics(&metrics, "hourly", &second, later);
    let text = metrics.render();
    assert!(
        !text.contains(&info),
        "the old head's series is dropped: {text}"
    );
    assert!(text.contains(r#"soc2_evidence_chain_sequence{policy="hourly"} 1"#));
    let written = second.unwrap();
    let conds = st["conditions"].as_array().unwrap();
    assert_eq!(conds[0]["type"], "Ready");
    assert_eq!(conds[0]["status"], "True");
    assert_eq!(conds[1]["type"], "Healthy");
    assert_eq!(conds[1]["status"], "True");
    assert_eq!(conds[1]["lastTransitionTime"], "2026-06-15T12:00:00Z");

    // A reopened writer finds the head in the store.
    let store = Store::open(&policy_spec.storage, &BTreeMap::new()).unwrap();
    let config = WriterConfig::from_policy("test", "hourly", &policy_spec, None).unwrap();
    let reopened = Writer::open(store, config).await.unwrap();
    assert_eq!(
        head_ref(&reopened),
        (
            Some(written.snapshot.clone()),
            Some(written.snapshot.digest)
        )
    );
}

mod api {
    use std::sync::Arc;

    use base64::Engine as _;
    use serde_json::json;

    use super::*;
    use crate::controller::Context;
    use crate::controller::fixtures::{ApiServerVerifier, Expect, mock_client};
    use soc2_core::crd::SigningSpec;

    const CREDS_PATH: &str = "/api/v1/namespaces/soc2-system/secrets/s3-creds";
    const KEY_PATH: &str = "/api/v1/namespaces/soc2-system/secrets/signing";
    const STATUS_PATH: &str = "/apis/soc2.evidence.dev/v1alpha1/evidencepolicies/hourly/status?&force=true&fieldManager=soc2-operator";

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(name: &str, data: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": "soc2-system"}, "data": data})
    }

    fn with_secrets() -> EvidencePolicySpec {
        let mut s = spec("s3://bucket/prefix");
        s.storage.credentials_secret = Some("s3-creds".into());
        s.signing = Some(SigningSpec {
            secret_name: "signing".into(),
            key: "ed25519.key".into(),
        });
        s
    }

    #[tokio::test]
    async fn secrets_come_from_the_operator_namespace() {
        let (client, server) = mock_client();
        let key = SigningKey::generate().unwrap();
        let task = server.run(vec![
            Expect::new(
                "GET",
                CREDS_PATH,
                secret(
                    "s3-creds",
                    json!({"AWS_ACCESS_KEY_ID": b64(b"AKIAEXAMPLE"), "AWS_SECRET_ACCESS_KEY": b64(b"sekrit")}),
                ),
            ),
            Expect::new(
                "GET",
                KEY_PATH,
                secret(
                    "signing",
                    json!({"ed25519.key": b64(key.to_file_text().as_bytes())}),
                ),
            ),
        ]);
        let ctx = Context::for_tests(client, ClusterSnapshot::default(), true, false);
        let (creds, loaded) = load_secrets(&ctx, &with_secrets()).await.unwrap();
        assert_eq!(creds["AWS_SECRET_ACCESS_KEY"], "sekrit");
        assert_eq!(loaded.unwrap().public(), key.public());
        ApiServerVerifier::finish(task, None).await;
    }

    #[tokio::test]
    async fn the_cluster_is_identified_by_the_kube_system_uid() {
        let (client, server) = mock_client();
        let task = server.run(vec![Expect::new(
            "GET",
            "/api/v1/namespaces/kube-system",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "kube-system", "uid": "6f1c2f4e-0000-4000-8000-000000000001"}}),
        )]);
        assert_eq!(
            cluster_uid(&client).await.as_deref(),
            Some("6f1c2f4e-0000-4000-8000-000000000001")
        );
        ApiServerVerifier::finish(task, None).await;
    }

    #[tokio::test]
    async fn a_missing_signing_key_names_the_field_without_values() {
        let (client, server) = mock_client();
        let task = server.run(vec![
            Expect::new(
                "GET",
                CREDS_PATH,
                secret("s3-creds", json!({"AWS_SECRET_ACCESS_KEY": b64(b"sekrit")})),
            ),
            Expect::new(
                "GET",
                KEY_PATH,
                secret("signing", json!({"other": b64(b"not-the-key")})),
            ),
        ]);
        let ctx = Context::for_tests(client, ClusterSnapshot::default(), true, false);
        let e = load_secrets(&ctx, &with_secrets()).await.unwrap_err();
        assert!(e.starts_with("spec.signing.key: "), "{e}");
        assert!(!e.contains("sekrit") && !e.contains("not-the-key"), "{e}");
        ApiServerVerifier::finish(task, None).await;
    }

    #[tokio::test]
    async fn status_is_written_by_server_side_apply_only_when_leading() {
        let (client, server) = mock_client();
        let task = server.run(vec![
            Expect::new(
                "PATCH",
                STATUS_PATH,
                json!({"apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "EvidencePolicy",
                       "metadata": {"name": "hourly"}, "spec": serde_json::to_value(spec("file:///x")).unwrap()}),
            )
            .check(|body| {
                assert_eq!(body["apiVersion"], "soc2.evidence.dev/v1alpha1");
                assert_eq!(body["kind"], "EvidencePolicy");
                assert_eq!(body["status"]["conditions"][0]["status"], "False");
            }),
        ]);
        let observed = Observed {
            setup: Err("spec.schedule: bad".into()),
            ..Observed::default()
        };
        let status = desired_status(Some(1), None, &observed, Timestamp::now());
        let ctx = Arc::new(Context::for_tests(
            client.clone(),
            ClusterSnapshot::default(),
            true,
            false,
        ));
        write_status(&ctx, "hourly", &status).await;
        ApiServerVerifier::finish(task, None).await;

        // A standby writes nothing: with a server that never answers, a call would hang.
        let (client, _server) = mock_client();
        let standby = Context::for_tests(client, ClusterSnapshot::default(), false, false);
        tokio::time::timeout(
            Duration::from_secs(2),
            write_status(&standby, "hourly", &status),
        )
        .await
        .expect("a standby makes no API call");
    }
}

/// Counts documents and manifests under an evidence directory.
fn scan(dir: &std::path::Path) -> (usize, usize) {
    let (mut docs, mut manifests) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "manifest.json") {
                manifests += 1;
            } else {
                docs += 1;
            }
        }
    }
    (docs, manifests)
}

/// One run: stops the task as soon as a document of its first snapshot is on disk. Returns
/// whether the manifest was still missing at that moment (the stop came mid-write); asserts
/// that the snapshot completed anyway and the task ended.
async fn stop_mid_write_once() -> bool {
    use crate::controller::fixtures::mock_client;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let mut policy_spec = spec(&url);
    policy_spec.interval = Some("1s".into());
    let policy: EvidencePolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "EvidencePolicy",
        "metadata": {"name": "fast", "generation": 1},
        "spec": serde_json::to_value(&policy_spec).unwrap(),
    }))
    .unwrap();
    let (client, server) = mock_client();
    let _api = server.answer_all(serde_json::to_value(&policy).unwrap());
    let mut ctx = Context::for_tests(
        client,
        ClusterSnapshot::new(soc2_core::synth::generate(5000, 1)),
        true,
        false,
    );
    let (_leader, leader_rx) = watch::channel(true);
    ctx.leader = leader_rx;
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_policy(Arc::new(ctx), Arc::new(policy), stop_rx, None));

    // Watch the directory from a thread of its own, so the stop follows the first document
    // within microseconds.
    let path = dir.path().to_path_buf();
    let manifests_at_stop = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (docs, manifests) = scan(&path);
            if docs > 0 {
                stop.send_replace(true);
                return manifests;
            }
            assert!(std::time::Instant::now() < deadline, "no snapshot started");
            std::thread::yield_now();
        }
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the task stops after the write")
        .expect("the task does not panic");
    let (docs, manifests) = scan(dir.path());
    assert_eq!(
        manifests, 1,
        "the snapshot in progress completed, no other began"
    );
    assert!(docs > 0);
    let store = Store::open(&policy_spec.storage, &BTreeMap::new()).unwrap();
    let report = soc2_evidence::verify::verify(&store, &VerifyOptions::all(Timestamp::now()))
        .await
        .unwrap();
    assert!(report.ok(), "{}", report.to_text());
    manifests_at_stop == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_write_lets_the_snapshot_finish_then_the_task_ends() {
    // The stop must land between documents and manifest at least once; each run checks that
    // the snapshot completed and the task ended regardless.
    let mut mid_write = false;
    for _ in 0..6 {
        if stop_mid_write_once().await {
            mid_write = true;
            break;
        }
    }
    assert!(
        mid_write,
        "no run stopped the task between documents and manifest"
    );
}
