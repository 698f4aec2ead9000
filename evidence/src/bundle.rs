//! The documents of one snapshot, in canonical JSON: `results.json` (the engine's
//! [`Evaluation`]), `access-review.json` (the access matrix) and `inventory.json` (kinds, names,
//! namespaces, resourceVersions and keyed digests of every object: HMAC-SHA256 with a key
//! derived from the signing key, see [`super::keyed`]; no digest without a signing key).
//!
//! Building a bundle is pure: the same evaluation and snapshot give the same bytes. Secret data
//! cannot appear: Secrets are never part of a [`ClusterSnapshot`], the inventory holds only
//! names and digests, and findings hold resource references and messages.

use serde::Serialize;

use super::keyed::InventoryKey;
use super::{Error, Result, canonical, sha256_hex};
use soc2_core::checks::rbac::{AccessMatrix, access_matrix};
use soc2_core::crd::EvidenceInclude;
use soc2_core::engine::Evaluation;
use soc2_core::snapshot::{ClusterSnapshot, InventoryItem};

/// The evaluation results document.
pub const RESULTS: &str = "results.json";
/// The access-review matrix document.
pub const ACCESS_REVIEW: &str = "access-review.json";
/// The resource inventory document.
pub const INVENTORY: &str = "inventory.json";
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

/// The access review as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessReview<'a> {
    #[serde(flatten)]
    matrix: &'a AccessMatrix,
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
            bytes: canonical::to_vec(evaluation, RESULTS)?,
        }];
        if include.access_review {
            let matrix = access_matrix(snapshot);
            documents.push(Document {
                name: ACCESS_REVIEW.into(),
                bytes: canonical::to_vec(&AccessReview { matrix: &matrix }, ACCESS_REVIEW)?,
            });
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
        Ok(Self { documents })
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
