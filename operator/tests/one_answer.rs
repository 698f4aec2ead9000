//! One answer from `audit` and the operator: for every fixture folder, the baseline gives the
//! same results whether the objects are kept whole, trimmed by the manifests loader (`audit`),
//! or replayed through the operator's watch-cache path (`Stores::replay`, the stream every
//! watch event takes). A trim that drops a field some check reads fails here.

use std::path::{Path, PathBuf};

use soc2_core::engine::{self, Evaluation};
use soc2_core::snapshot::ClusterSnapshot;
use soc2_core::snapshot::manifests::{self, Trim};
use soc2_operator::cli::baseline_controls;
use soc2_operator::controller::caches::Stores;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const FOLDERS: [&str; 5] = [
    "config/examples/demo-cluster",
    "operator/tests/fixtures/compliant/cluster.yaml",
    "core/tests/fixtures/fresh-cluster-v1.24",
    "operator/tests/fixtures/legacy",
    "operator/tests/fixtures/one-answer",
];

fn evaluate(snapshot: &ClusterSnapshot) -> Evaluation {
    let controls = baseline_controls().expect("baseline");
    engine::evaluate(&controls, snapshot, "2026-06-15T12:00:00Z".parse().unwrap())
}

fn json(e: &Evaluation) -> serde_json::Value {
    serde_json::to_value(e).expect("serializes")
}

fn load(dir: &Path, trim: Trim) -> manifests::LoadReport {
    manifests::load_with(dir, trim).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[tokio::test]
async fn whole_trimmed_and_cached_objects_give_the_same_results() {
    for folder in FOLDERS {
        let dir = repo().join(folder);
        let whole = load(&dir, Trim::No);
        let trimmed = load(&dir, Trim::Yes);
        assert_eq!(whole.objects.len(), trimmed.objects.len(), "{folder}");

        let reference = evaluate(&ClusterSnapshot::new(whole.objects.clone()));
        let audit = evaluate(&ClusterSnapshot::new(trimmed.objects));
        let stores = Stores::replay(&whole.objects).await;
        let operator = evaluate(&ClusterSnapshot::new(stores.objects()));

        assert_eq!(
            json(&audit),
            json(&reference),
            "{folder}: `audit` (trimmed) differs from the objects kept whole"
        );
        assert_eq!(
            json(&operator),
            json(&reference),
            "{folder}: the operator's caches differ from the objects kept whole"
        );
    }
}

#[tokio::test]
async fn the_fixture_exercises_what_trimming_removes() {
    // The equality above proves something only if the fixture holds what the trim drops:
    // controller-owned pods with host networking, CronJob-owned Jobs, Deployment-owned
    // ReplicaSets, ConfigMap binaryData and pod status beyond the phase.
    let whole = load(&repo().join("operator/tests/fixtures/one-answer"), Trim::No).objects;
    let trimmed = load(
        &repo().join("operator/tests/fixtures/one-answer"),
        Trim::Yes,
    )
    .objects;
    let owned_host_network = |pods: &[std::sync::Arc<soc2_core::snapshot::kinds::Pod>]| {
        pods.iter().any(|p| {
            p.metadata.owner_references.is_some()
                && p.spec.as_ref().and_then(|s| s.host_network) == Some(true)
        })
    };
    assert!(owned_host_network(&whole.pods) && owned_host_network(&trimmed.pods));
    assert!(whole.config_maps.iter().any(|c| c.binary_data.is_some()));
    assert!(trimmed.config_maps.iter().any(|c| c.binary_data.is_some()));
    let env_count = |pods: &[std::sync::Arc<soc2_core::snapshot::kinds::Pod>]| {
        pods.iter()
            .flat_map(|p| p.spec.iter().flat_map(|s| s.containers.iter()))
            .filter(|c| c.env.is_some())
            .count()
    };
    assert!(
        env_count(&whole.pods) > env_count(&trimmed.pods),
        "the trim does drop something"
    );
    let evaluation = evaluate(&ClusterSnapshot::new(trimmed));
    let failing: Vec<String> = evaluation
        .controls
        .iter()
        .flat_map(|c| c.checks.iter())
        .flat_map(|c| {
            c.findings
                .iter()
                .map(move |f| format!("{} {}", c.check, f.resource))
        })
        .collect();
    for expected in [
        "network.pods-isolated Pod/one-answer/web-7d4b9-abcde",
        "data.credentials-in-plain-config ConfigMap/one-answer/binary-settings",
    ] {
        assert!(
            !failing.iter().any(|f| f == expected),
            "{expected} must not be reported (host-network pods are exempt; binaryData is clean): {failing:#?}"
        );
    }
    assert!(
        failing
            .iter()
            .any(|f| f == "data.credentials-in-plain-config ConfigMap/one-answer/leaky-binary"),
        "a credential in binaryData is found: {failing:#?}"
    );
}
