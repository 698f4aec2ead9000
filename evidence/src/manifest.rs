//! `manifest.json`: the index and integrity record of one snapshot.
//!
//! It lists every document (name, SHA-256, size), links to the previous manifest by the SHA-256
//! of that manifest's stored bytes (`previous`, `null` for the first), numbers the snapshot in
//! its chain (`sequence`, from 0), records the schedule and the gaps since the previous
//! snapshot, and carries an ed25519 signature over the canonical manifest without its
//! `signature` field, with the public key and its fingerprint. The manifest is written last.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::provenance::Provenance;
use super::schedule::{Gap, ScheduleSpec};
use super::signing::{PublicKey, SigningKey};
use super::{Error, Result, canonical};

/// Format identifier written into every manifest.
pub const FORMAT: &str = "soc2-operator.evidence/v1";

/// One document of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentEntry {
    /// File name in the snapshot folder.
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A snapshot manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Position in the chain, from 0.
    pub sequence: u64,
    /// SHA-256 of the previous manifest's bytes; `null` for the first snapshot.
    pub previous: Option<String>,
    /// Cluster name.
    pub cluster: String,
    /// EvidencePolicy name.
    pub policy: String,
    /// Version of the operator that wrote it.
    pub operator_version: String,
    /// The schedule in force.
    pub schedule: ScheduleSpec,
    /// When the snapshot was taken (RFC 3339 UTC).
    pub time: String,
    /// Documents, in bundle order.
    pub documents: Vec<DocumentEntry>,
    /// Slots missed since the previous snapshot (never backfilled).
    pub gaps: Vec<Gap>,
    /// Where the snapshot came from (absent in manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Base64 of the ed25519 public key, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// `sha256:<hex>` of the public key, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// Base64 ed25519 signature over [`Manifest::signing_bytes`], when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Manifest {
    /// Canonical bytes that are signed: the manifest without `signature`.
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        let value = serde_json::to_value(self).map_err(|source| Error::Serialize {
            what: "manifest".into(),
            source,
        })?;
        Ok(signing_bytes_of(value))
    }

    /// Sets the key fields and the signature.
    pub fn sign(&mut self, key: &SigningKey) -> Result<()> {
        let public = key.public();
        self.signature = None;
        self.public_key = Some(public.to_base64());
        self.key_fingerprint = Some(public.fingerprint());
        let bytes = self.signing_bytes()?;
        self.signature = Some(key.sign(&bytes));
        Ok(())
    }

    /// The canonical bytes stored as `manifest.json`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        canonical::to_vec(self, "manifest")
    }

    /// Parses stored bytes; `key` names the object in errors.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            key: key.to_string(),
            message: format!("not a manifest: {e}"),
        })
    }
}

/// The signed bytes of a stored manifest: the parsed JSON without `signature`, canonical. Works
/// on the raw value so that fields unknown to this version are covered too.
pub fn signing_bytes_of(mut value: Value) -> Vec<u8> {
    if let Value::Object(map) = &mut value {
        map.remove("signature");
    }
    canonical::value_to_vec(&value)
}

/// Checks the signature of stored manifest bytes against `key`.
pub fn verify_stored(bytes: &[u8], key: &PublicKey) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let Some(sig) = value
        .get("signature")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return false;
    };
    key.verify(&signing_bytes_of(value), &sig)
}
