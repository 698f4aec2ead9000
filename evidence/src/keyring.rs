//! Pinned trust for `verify` and `report`: a keyring file listing the public keys an auditor
//! accepts, each with a validity window, plus key rotation records.
//!
//! The keyring is JSON (documented in `docs/evidence.md`):
//!
//! ```json
//! {
//!   "format": "soc2-operator.keyring/v1",
//!   "keys": [
//!     {"publicKey": "<base64>", "notBefore": "2026-01-01T00:00:00Z",
//!      "notAfter": "2026-12-31T23:59:59Z", "comment": "prod signing key 2026"}
//!   ],
//!   "rotations": [
//!     {"format": "soc2-operator.key-rotation/v1", "oldFingerprint": "sha256:…",
//!      "newPublicKey": "<base64>", "time": "2026-07-01T00:00:00Z", "signature": "<base64>"}
//!   ]
//! }
//! ```
//!
//! A manifest verifies against the keyring when its `keyFingerprint` names a key of the ring
//! whose window contains the manifest's time, and the signature verifies with that (pinned) key,
//! never with the key embedded in the manifest. A rotation record is signed by the outgoing key
//! over its canonical JSON without `signature`; a valid record for a trusted key trusts the new
//! key from `time` on (until the old key's `notAfter`, if any) and ends the old key's window at
//! `time`. A record that does not verify makes the keyring unusable (a clear error), never
//! silently ignored. `--public-key FILE` is a keyring of one key without a window.

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::signing::{PublicKey, SigningKey, read_small};
use super::{Error, Result, canonical, rfc3339};

/// Format identifier of a keyring file.
pub const FORMAT: &str = "soc2-operator.keyring/v1";
/// Format identifier of a rotation record.
pub const ROTATION_FORMAT: &str = "soc2-operator.key-rotation/v1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyringFile {
    format: String,
    keys: Vec<KeyFile>,
    #[serde(default)]
    rotations: Vec<RotationRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyFile {
    public_key: String,
    #[serde(default)]
    not_before: Option<Timestamp>,
    #[serde(default)]
    not_after: Option<Timestamp>,
    #[serde(default)]
    comment: String,
}

/// A key rotation: the outgoing key vouches for the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotationRecord {
    /// [`ROTATION_FORMAT`].
    pub format: String,
    /// `sha256:<hex>` of the outgoing key.
    pub old_fingerprint: String,
    /// Base64 of the new public key.
    pub new_public_key: String,
    /// From when the new key signs (RFC 3339).
    pub time: String,
    /// Base64 ed25519 signature by the outgoing key over the canonical record without
    /// `signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl RotationRecord {
    /// A record signed by `old` that hands over to `new` at `time`.
    pub fn sign(old: &SigningKey, new: &PublicKey, time: Timestamp) -> Result<Self> {
        let mut r = Self {
            format: ROTATION_FORMAT.to_string(),
            old_fingerprint: old.public().fingerprint(),
            new_public_key: new.to_base64(),
            time: rfc3339(time),
            signature: None,
        };
        r.signature = Some(old.sign(&r.signing_bytes()?));
        Ok(r)
    }

    /// The canonical bytes that are signed.
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        canonical::to_vec(&unsigned, "rotation record")
    }
}

/// One trusted key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedKey {
    /// The fingerprint.
    pub fingerprint: String,
    /// The key.
    #[serde(skip)]
    pub key: Option<PublicKey>,
    /// Valid from (absent: always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// Valid until (absent: always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// Comment, or how the key came to be trusted.
    pub comment: String,
}

impl TrustedKey {
    fn covers(&self, t: Timestamp) -> bool {
        self.not_before.is_none_or(|b| t >= b) && self.not_after.is_none_or(|a| t <= a)
    }

    fn window(&self) -> String {
        let f = |t: Option<Timestamp>| t.map_or("-".to_string(), rfc3339);
        format!("[{}, {}]", f(self.not_before), f(self.not_after))
    }
}

/// A set of pinned keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Keyring {
    /// Where it came from (file path), for reports.
    pub source: String,
    /// The trusted keys, rotations applied.
    pub keys: Vec<TrustedKey>,
}

impl Keyring {
    /// A keyring of one key valid at all times (`--public-key`).
    pub fn single(key: PublicKey, source: &str) -> Self {
        Self {
            source: source.to_string(),
            keys: vec![TrustedKey {
                fingerprint: key.fingerprint(),
                key: Some(key),
                not_before: None,
                not_after: None,
                comment: "pinned public key".into(),
            }],
        }
    }

    /// Adds one key valid at all times.
    pub fn add(&mut self, key: PublicKey, comment: &str) {
        if !self.keys.iter().any(|k| k.fingerprint == key.fingerprint()) {
            self.keys.push(TrustedKey {
                fingerprint: key.fingerprint(),
                key: Some(key),
                not_before: None,
                not_after: None,
                comment: comment.to_string(),
            });
        }
    }

    /// Parses keyring JSON; `source` names it in errors and reports.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let bad = |m: String| Error::Key(format!("keyring {source}: {m}"));
        let file: KeyringFile =
            serde_json::from_str(text).map_err(|e| bad(format!("not a keyring: {e}")))?;
        if file.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.keys.is_empty() {
            return Err(bad("no keys".into()));
        }
        let mut keys = Vec::new();
        for (i, k) in file.keys.into_iter().enumerate() {
            let key = PublicKey::from_base64(&k.public_key)
                .map_err(|e| bad(format!("keys[{i}].publicKey: {e}")))?;
            if let (Some(b), Some(a)) = (k.not_before, k.not_after)
                && b > a
            {
                return Err(bad(format!("keys[{i}]: notBefore is after notAfter")));
            }
            keys.push(TrustedKey {
                fingerprint: key.fingerprint(),
                key: Some(key),
                not_before: k.not_before,
                not_after: k.not_after,
                comment: k.comment,
            });
        }
        let mut ring = Self {
            source: source.to_string(),
            keys,
        };
        for (i, r) in file.rotations.iter().enumerate() {
            ring.apply(r)
                .map_err(|m| bad(format!("rotations[{i}]: {m}")))?;
        }
        Ok(ring)
    }

    /// Reads a keyring file (at most 1 MiB).
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_small(path, "the keyring")?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Applies a rotation record: it must be signed by a key trusted at its time.
    pub fn apply(&mut self, r: &RotationRecord) -> Result<(), String> {
        if r.format != ROTATION_FORMAT {
            return Err(format!(
                "format {:?}, expected {ROTATION_FORMAT:?}",
                r.format
            ));
        }
        let time: Timestamp = r
            .time
            .parse()
            .map_err(|e| format!("time {:?}: {e}", r.time))?;
        let new =
            PublicKey::from_base64(&r.new_public_key).map_err(|e| format!("newPublicKey: {e}"))?;
        let Some(old_index) = self
            .keys
            .iter()
            .position(|k| k.fingerprint == r.old_fingerprint)
        else {
            return Err(format!(
                "the outgoing key {} is not in the keyring",
                r.old_fingerprint
            ));
        };
        let old = &self.keys[old_index];
        if !old.covers(time) {
            return Err(format!(
                "the outgoing key {} is not valid at {} (window {})",
                old.fingerprint,
                r.time,
                old.window()
            ));
        }
        let signed = r.signing_bytes().map_err(|e| e.to_string())?;
        let verifies = match (&old.key, &r.signature) {
            (Some(k), Some(sig)) => k.verify(&signed, sig),
            _ => false,
        };
        if !verifies {
            return Err(format!(
                "the signature by the outgoing key {} does not verify",
                r.old_fingerprint
            ));
        }
        let old_until = old.not_after;
        let old_fingerprint = old.fingerprint.clone();
        self.keys[old_index].not_after = Some(time);
        if !self.keys.iter().any(|k| k.fingerprint == new.fingerprint()) {
            self.keys.push(TrustedKey {
                fingerprint: new.fingerprint(),
                key: Some(new),
                not_before: Some(time),
                not_after: old_until,
                comment: format!("rotated in from {old_fingerprint} at {}", r.time),
            });
        }
        Ok(())
    }

    /// The pinned key with this fingerprint valid at `time`, or why there is none.
    pub fn key_for(&self, fingerprint: &str, time: Timestamp) -> Result<PublicKey, String> {
        let Some(k) = self.keys.iter().find(|k| k.fingerprint == fingerprint) else {
            return Err(format!(
                "signed by key {fingerprint}, which the keyring {} does not pin",
                self.source
            ));
        };
        if !k.covers(time) {
            return Err(format!(
                "signed by key {fingerprint}, pinned only for {}, not at {}",
                k.window(),
                rfc3339(time)
            ));
        }
        k.key
            .ok_or_else(|| format!("no key material for {fingerprint}"))
    }

    /// Fingerprints of the pinned keys.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.fingerprint.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_and_rotation() {
        let old = SigningKey::generate().unwrap();
        let new = SigningKey::generate().unwrap();
        let rotation =
            RotationRecord::sign(&old, &new.public(), t("2026-07-01T00:00:00Z")).unwrap();
        let text = serde_json::json!({
            "format": FORMAT,
            "keys": [{"publicKey": old.public().to_base64(), "notBefore": "2026-01-01T00:00:00Z",
                      "comment": "2026"}],
            "rotations": [rotation],
        })
        .to_string();
        let ring = Keyring::parse(&text, "ring.json").unwrap();
        let (o, n) = (old.public().fingerprint(), new.public().fingerprint());
        assert!(ring.key_for(&o, t("2026-03-01T00:00:00Z")).is_ok());
        assert!(ring.key_for(&o, t("2025-12-31T00:00:00Z")).is_err());
        // After the rotation the old key no longer counts, the new one does.
        assert!(ring.key_for(&o, t("2026-08-01T00:00:00Z")).is_err());
        assert!(ring.key_for(&n, t("2026-08-01T00:00:00Z")).is_ok());
        assert!(ring.key_for(&n, t("2026-06-01T00:00:00Z")).is_err());

        // A rotation signed by someone else is refused, not ignored.
        let mallory = SigningKey::generate().unwrap();
        let mut forged =
            RotationRecord::sign(&mallory, &mallory.public(), t("2026-07-01T00:00:00Z")).unwrap();
        forged.old_fingerprint = o.clone();
        let text = serde_json::json!({
            "format": FORMAT,
            "keys": [{"publicKey": old.public().to_base64()}],
            "rotations": [forged],
        })
        .to_string();
        let e = Keyring::parse(&text, "ring.json").unwrap_err().to_string();
        assert!(e.contains("does not verify"), "{e}");
        // Unknown fields and empty rings are errors.
        assert!(Keyring::parse(r#"{"format":"soc2-operator.keyring/v1","keys":[]}"#, "r").is_err());
        assert!(
            Keyring::parse(
                r#"{"format":"soc2-operator.keyring/v1","keys":[],"x":1}"#,
                "r"
            )
            .is_err()
        );
    }
}
