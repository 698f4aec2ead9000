//! The documents of one snapshot, in canonical JSON: `results.json` (the engine's
//! [`Evaluation`]), `access-review.json` (the access matrix and the ServiceAccounts workloads
//! run as) and `inventory.json` (kinds, names,
//! namespaces, resourceVersions and keyed digests of every object: HMAC-SHA256 with a key
//! derived from the signing key, see [`super::keyed`]; no digest without a signing key), and
//! `gitops.json` (each Argo CD / Flux application's source repository, revision and sync time)
//! when a GitOps API is served, and `activity.json` (the audit-event aggregates, see
//! [`crate::activity`]) when the operator's audit-event intake runs.
//!
//! Building a bundle is pure: the same evaluation and snapshot give the same bytes. Secret data
//! cannot appear: Secrets are never part of a [`ClusterSnapshot`], the inventory holds only
//! names and digests, and findings hold resource references and messages.

use serde::Serialize;

use super::keyed::InventoryKey;
use super::{Error, Result, canonical, sha256_hex};
use soc2_core::checks::change::gitops::{GitopsApplication, applications, gitops_served};
use soc2_core::checks::rbac::{
    AccessMatrix, ServiceAccountUse, access_matrix, service_account_use,
};
use soc2_core::crd::EvidenceInclude;
use soc2_core::engine::Evaluation;
use soc2_core::engine::aging::finding_id;
use soc2_core::snapshot::{ClusterSnapshot, InventoryItem};

/// The evaluation results document.
pub const RESULTS: &str = "results.json";
/// The access-review matrix document.
pub const ACCESS_REVIEW: &str = "access-review.json";
/// The resource inventory document.
pub const INVENTORY: &str = "inventory.json";
/// The GitOps applications document: for each Argo CD Application and Flux Kustomization or
/// HelmRelease, its source repository, revision and sync time, so a change traces to its PR.
pub const GITOPS: &str = "gitops.json";
/// The audit-event aggregates document (when the operator's audit-event intake runs): see
/// [`crate::activity`].
pub const ACTIVITY: &str = "activity.json";
/// The OSCAL assessment-results document (when the policy's formats include `OSCAL`).
pub const OSCAL: &str = "assessment-results.oscal.json";

/// One document: its file name and canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// File name inside the snapshot folder.
    pub name: String,
    /// Canonical JSON.
    pub bytes: Vec<u8>,
}

impl Document {
    /// SHA-256 of the bytes, hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

/// The resource inventory as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Inventory {
    objects: usize,
    items: Vec<serde_json::Value>,
}

/// Replaces each item's plain SHA-256 by a keyed digest ([`InventoryKey`]), or drops it
/// without a key: a plain digest of a small object confirms a guessed value.
fn protect(
    items: Vec<InventoryItem>,
    key: Option<&InventoryKey>,
) -> Result<Vec<serde_json::Value>> {
    items
        .into_iter()
        .map(|mut item| {
            if let Some(k) = key {
                item.digest = k.digest(item.digest.as_bytes());
            }
            let mut value = serde_json::to_value(&item).map_err(|source| Error::Serialize {
                what: INVENTORY.into(),
                source,
            })?;
            if key.is_none()
                && let serde_json::Value::Object(map) = &mut value
            {
                map.remove("digest");
            }
            Ok(value)
        })
        .collect()
}

/// The GitOps applications as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Gitops<'a> {
    applications: &'a [GitopsApplication],
}

/// The access review as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessReview<'a> {
    #[serde(flatten)]
    matrix: &'a AccessMatrix,
    /// The ServiceAccounts workloads run as (from pod specs, never Secrets), so an access
    /// review can tell bound accounts that nothing runs as.
    service_account_use: &'a [ServiceAccountUse],
}

/// `access-review.json` of a snapshot: the access matrix and the ServiceAccounts workloads run
/// as.
pub fn access_review_document(snapshot: &ClusterSnapshot) -> Result<Document> {
    let matrix = access_matrix(snapshot);
    let used = service_account_use(snapshot);
    Ok(Document {
        name: ACCESS_REVIEW.into(),
        bytes: canonical::to_vec(
            &AccessReview {
                matrix: &matrix,
                service_account_use: &used,
            },
            ACCESS_REVIEW,
        )?,
    })
}

/// `results.json`: the evaluation, with each finding (failing or excepted) carrying its stable
/// `id` ([`finding_id`]: the id the control's `status.findingAges` uses), so the period report
/// follows findings across snapshots. Older snapshots without ids stay readable: the report
/// computes the same id from check, resource and message.
fn results_bytes(evaluation: &Evaluation) -> Result<Vec<u8>> {
    let mut value = serde_json::to_value(evaluation).map_err(|source| Error::Serialize {
        what: RESULTS.into(),
        source,
    })?;
    let checks = value
        .get_mut("controls")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.get_mut("checks")
                .and_then(serde_json::Value::as_array_mut)
        })
        .flatten();
    for (c, check) in evaluation
        .controls
        .iter()
        .flat_map(|c| c.checks.iter())
        .zip(checks)
    {
        let ids = c
            .findings
            .iter()
            .map(|f| finding_id(&c.check, &f.resource, &f.message));
        let excepted_ids = c
            .excepted
            .iter()
            .map(|e| finding_id(&c.check, &e.finding.resource, &e.finding.message));
        for (list, ids) in [
            ("findings", ids.collect::<Vec<_>>()),
            ("excepted", excepted_ids.collect()),
        ] {
            let Some(items) = check
                .get_mut(list)
                .and_then(serde_json::Value::as_array_mut)
            else {
                continue;
            };
            for (item, id) in items.iter_mut().zip(ids) {
                if let serde_json::Value::Object(map) = item {
                    map.insert("id".into(), serde_json::Value::String(id));
                }
            }
        }
    }
    Ok(canonical::value_to_vec(&value))
}

/// The documents of one snapshot, in a fixed order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    /// The documents.
    pub documents: Vec<Document>,
}

impl Bundle {
    /// Builds the documents for an evaluation of `snapshot`, without inventory digests.
    pub fn build(
        evaluation: &Evaluation,
        snapshot: &ClusterSnapshot,
        include: &EvidenceInclude,
    ) -> Result<Self> {
        Self::build_keyed(evaluation, snapshot, include, None)
    }

    /// Builds the documents; inventory digests are keyed with `key` (none without a key).
    pub fn build_keyed(
        evaluation: &Evaluation,
        snapshot: &ClusterSnapshot,
        include: &EvidenceInclude,
        key: Option<&InventoryKey>,
    ) -> Result<Self> {
        let mut documents = vec![Document {
            name: RESULTS.into(),
            bytes: results_bytes(evaluation)?,
        }];
        if include.access_review {
            documents.push(access_review_document(snapshot)?);
        }
        if include.inventory {
            let items = protect(snapshot.inventory(), key)?;
            documents.push(Document {
                name: INVENTORY.into(),
                bytes: canonical::to_vec(
                    &Inventory {
                        objects: items.len(),
                        items,
                    },
                    INVENTORY,
                )?,
            });
        }
        if gitops_served(snapshot) {
            let apps = applications(snapshot);
            documents.push(Document {
                name: GITOPS.into(),
                bytes: canonical::to_vec(
                    &Gitops {
                        applications: &apps,
                    },
                    GITOPS,
                )?,
            });
        }
        Ok(Self { documents })
    }

    /// Adds `activity.json`: the audit-event aggregates of the last hours (see
    /// [`crate::activity`]).
    pub fn add_activity(
        &mut self,
        activity: &soc2_core::activity::Activity,
        now: jiff::Timestamp,
    ) -> Result<()> {
        self.documents
            .push(super::activity::document(activity, now)?);
        Ok(())
    }

    /// Adds the OSCAL assessment-results rendering of the evaluation.
    pub fn add_oscal(&mut self, evaluation: &Evaluation, cluster: &str, policy: &str) {
        let value = super::report::oscal::from_evaluation(evaluation, cluster, policy);
        self.documents.push(Document {
            name: OSCAL.into(),
            bytes: canonical::value_to_vec(&value),
        });
    }

    /// Digest over the documents' names and digests: names the snapshot folder.
    pub fn content_digest(&self) -> String {
        let mut lines = String::new();
        for d in &self.documents {
            lines.push_str(&d.name);
            lines.push(' ');
            lines.push_str(&d.sha256());
            lines.push('\n');
        }
        sha256_hex(lines.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soc2_core::snapshot::manifests;

    fn snapshot(fixture: &str) -> ClusterSnapshot {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/ecosystem")
            .join(fixture);
        let report = manifests::load(&path).expect("fixture loads");
        ClusterSnapshot::new(report.objects)
    }

    fn evaluation() -> Evaluation {
        Evaluation {
            evaluated_at: "2025-06-15T12:00:00Z".parse().expect("valid time"),
            objects: 0,
            controls: Vec::new(),
        }
    }

    #[test]
    fn gitops_document_traces_each_application_to_repo_revision_and_sync_time() {
        let include = EvidenceInclude::default();
        let snap = snapshot("flux/pass.yaml");
        let bundle = Bundle::build(&evaluation(), &snap, &include).expect("builds");
        let doc = bundle
            .documents
            .iter()
            .find(|d| d.name == GITOPS)
            .expect("gitops.json written when Flux is served");
        let v: serde_json::Value = serde_json::from_slice(&doc.bytes).expect("json");
        let apps = v["applications"].as_array().expect("applications");
        assert_eq!(apps.len(), 2);
        let k = &apps[1];
        assert_eq!(k["resource"]["kind"], "Kustomization");
        assert_eq!(k["resource"]["name"], "payments");
        assert_eq!(
            k["sources"][0]["url"],
            "https://github.com/acme/platform-gitops.git"
        );
        assert_eq!(k["sources"][0]["reference"], "branch main");
        assert_eq!(
            k["revision"],
            "main@sha1:9f2c4e1a7b3d5f60812c4a9e0d7b6c5a4f3e2d1c"
        );
        assert_eq!(k["syncedAt"], "2025-06-15T09:41:30Z");
        assert_eq!(apps[0]["resource"]["kind"], "HelmRelease");
        assert_eq!(apps[0]["sources"][0]["reference"], "chart redis 19.5.x");

        let argo =
            Bundle::build(&evaluation(), &snapshot("argocd/fail.yaml"), &include).expect("builds");
        let doc = argo
            .documents
            .iter()
            .find(|d| d.name == GITOPS)
            .expect("gitops.json");
        let text = String::from_utf8(doc.bytes.clone()).expect("utf-8");
        assert!(
            text.contains("\"revision\":\"4b7e1d9c02af83e56f1b2c3d4e5f60718293a4b5\""),
            "{text}"
        );
        assert!(
            text.contains("\"syncedAt\":\"2025-06-06T08:15:02Z\""),
            "{text}"
        );
        assert!(text.contains("\"pinnedCommit\":true"), "{text}");
    }

    #[test]
    fn results_carry_the_stable_id_of_every_failing_and_excepted_finding() {
        use soc2_core::checks::{Finding, Severity};
        use soc2_core::crd::Criteria;
        use soc2_core::engine::{CheckResult, ControlResult, ExceptedFinding, Status};
        use soc2_core::snapshot::ResourceRef;
        let crb = |n: &str| ResourceRef::new("ClusterRoleBinding", None, n);
        let failing = Finding::new(crb("a"), "grants cluster-admin to 2 users");
        let excepted = Finding::new(crb("b"), "grants cluster-admin");
        let check = CheckResult {
            check: "rbac.cluster-admin".into(),
            title: String::new(),
            criteria: vec![],
            severity: Some(Severity::Critical),
            status: Status::NonCompliant,
            reason: String::new(),
            resources_checked: 2,
            findings: vec![failing.clone()],
            excepted: vec![ExceptedFinding {
                finding: excepted.clone(),
                exception: 0,
                approved_by: "alice".into(),
                expires: "2026-01-01".into(),
            }],
        };
        let mut e = evaluation();
        e.controls.push(ControlResult {
            name: "cc6-1".into(),
            generation: None,
            control_id: "CC6.1".into(),
            criteria: Criteria::Security,
            title: String::new(),
            status: Status::NonCompliant,
            reason: String::new(),
            spec_errors: vec![],
            resources_checked: 2,
            failing: 1,
            excepted: 1,
            checks: vec![check],
            exceptions: vec![],
            attestations: vec![],
            remediation_sla: None,
        });
        let snap = snapshot("prometheus/pass.yaml");
        let bundle = Bundle::build(&e, &snap, &EvidenceInclude::default()).expect("builds");
        let v: serde_json::Value =
            serde_json::from_slice(&bundle.documents[0].bytes).expect("json");
        let c = &v["controls"][0]["checks"][0];
        let id = finding_id("rbac.cluster-admin", &failing.resource, &failing.message);
        assert_eq!(c["findings"][0]["id"], id.as_str());
        assert_eq!(c["findings"][0]["message"], failing.message.as_str());
        assert_eq!(c["severity"], "Critical");
        assert_eq!(
            c["excepted"][0]["id"],
            finding_id("rbac.cluster-admin", &excepted.resource, &excepted.message).as_str()
        );
        // The digits of the message do not change the id (the aging module's rule).
        assert_eq!(
            id,
            finding_id(
                "rbac.cluster-admin",
                &failing.resource,
                "grants cluster-admin to 3 users"
            )
        );
    }

    #[test]
    fn no_gitops_document_without_a_gitops_api() {
        let bundle = Bundle::build(
            &evaluation(),
            &snapshot("prometheus/pass.yaml"),
            &EvidenceInclude::default(),
        )
        .expect("builds");
        assert!(bundle.documents.iter().all(|d| d.name != GITOPS));
    }
}
