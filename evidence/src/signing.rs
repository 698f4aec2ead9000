//! ed25519 signing keys: generation, file formats, fingerprints, sign and verify.
//!
//! Key files start with a format marker line ([`PRIVATE_MARKER`] or [`PUBLIC_MARKER`]) followed
//! by the base64 (standard alphabet) of the raw 32 bytes: the private key file the seed, the
//! public key file the public key. The marker keeps one from passing as the other: a private
//! key file given where a public key is expected is refused. Files without a marker (written
//! before v0.2) are still read; a marker-less public key is reported as legacy. A fingerprint is `sha256:<hex>` of the public key
//! bytes. Private key material is never printed, logged or stored in evidence; `Debug` shows
//! only the fingerprint.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _};

use super::{Error, Result, sha256_hex};

/// First line of a private key file.
pub const PRIVATE_MARKER: &str = "soc2-operator ed25519 private key v1";
/// First line of a public key file.
pub const PUBLIC_MARKER: &str = "soc2-operator ed25519 public key v1";

/// Splits key file text into its marker (first line, when it is one of ours or looks like
/// one) and the rest.
fn split_marker(text: &str) -> (Option<&str>, &str) {
    let text = text.trim_start();
    match text.split_once('\n') {
        Some((first, rest)) if first.trim().starts_with("soc2-operator ") => {
            (Some(first.trim()), rest)
        }
        None if text.trim().starts_with("soc2-operator ") => (Some(text.trim()), ""),
        _ => (None, text),
    }
}

/// The only signature algorithm.
pub const ALGORITHM: &str = "ed25519";

/// An ed25519 private key.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().fingerprint())
    }
}

impl SigningKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Parses key text: the [`PRIVATE_MARKER`] line (optional for legacy files) and base64 of
    /// the 32-byte seed (surrounding whitespace ignored). Raw 32-byte content is accepted too
    /// (a Secret mounted with binary data). A public key file is refused.
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let text = String::from_utf8_lossy(data);
        let body = match split_marker(&text) {
            (Some(PRIVATE_MARKER), body) => body,
            (Some(PUBLIC_MARKER), _) => {
                return Err(Error::Key(
                    "this is a public key file, not a private (signing) key".into(),
                ));
            }
            (Some(other), _) => {
                return Err(Error::Key(format!(
                    "unknown key file marker {other:?}, expected {PRIVATE_MARKER:?}"
                )));
            }
            (None, body) => body,
        };
        let seed: [u8; 32] = match B64.decode(body.trim()) {
            Ok(bytes) => bytes.try_into().map_err(|b: Vec<u8>| {
                Error::Key(format!(
                    "the private key decodes to {} bytes, expected 32",
                    b.len()
                ))
            })?,
            Err(_) if data.len() == 32 => data.try_into().expect("length checked"),
            Err(_) => {
                return Err(Error::Key(
                    "the private key is not base64 of a 32-byte ed25519 seed".into(),
                ));
            }
        };
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Reads a private key file.
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|source| Error::Io {
            context: format!("reading the signing key {}", path.display()),
            source,
        })?;
        Self::from_bytes(&data).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The private key file content: the marker line and base64 of the seed.
    pub fn to_file_text(&self) -> String {
        format!("{PRIVATE_MARKER}\n{}\n", B64.encode(self.0.to_bytes()))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`; returns the base64 signature.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sign(message).to_bytes())
    }
}

/// An ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses base64 of the 32 public key bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes: [u8; 32] = B64
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Key("the public key is not base64 of 32 bytes".into()))?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| Error::Key(format!("invalid ed25519 public key: {e}")))
    }

    /// Parses public key file text. Returns the key and whether the file is legacy (no
    /// [`PUBLIC_MARKER`] line). A private key file is refused.
    pub fn parse_file(text: &str) -> Result<(Self, bool)> {
        match split_marker(text) {
            (Some(PUBLIC_MARKER), body) => Ok((Self::from_base64(body)?, false)),
            (Some(PRIVATE_MARKER), _) => Err(Error::Key(
                "this is a PRIVATE key file (it starts with the private key marker); give the \
                 public key file (ed25519.pub) and keep the private key secret"
                    .into(),
            )),
            (Some(other), _) => Err(Error::Key(format!(
                "unknown key file marker {other:?}, expected {PUBLIC_MARKER:?}"
            ))),
            (None, body) => Ok((Self::from_base64(body)?, true)),
        }
    }

    /// Reads a public key file; returns the key and a warning for a legacy (marker-less) file.
    pub fn read_file(path: &Path) -> Result<(Self, Option<String>)> {
        let text = read_small(path, "the public key")?;
        let (key, legacy) =
            Self::parse_file(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        let warning = legacy.then(|| {
            format!(
                "{} has no {PUBLIC_MARKER:?} line (legacy key file); a private key file of the \
                 same legacy format would not be told apart",
                path.display()
            )
        });
        Ok((key, warning))
    }

    /// Reads a public key file (legacy files are accepted; see [`PublicKey::read_file`]).
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_file(path).map(|(k, _)| k)
    }

    /// The public key file content: the marker line and base64 of the key.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_MARKER}\n{}\n", self.to_base64())
    }

    /// Base64 of the key bytes (the public key file content without newline).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// `sha256:<hex>` of the key bytes.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", sha256_hex(self.0.as_bytes()))
    }

    /// Checks a base64 signature over `message` (strict verification).
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(bytes) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0.verify_strict(message, &sig).is_ok()
    }
}

/// Reads a small local text file (key files, keyrings): at most 1 MiB, regular files only.
pub(crate) fn read_small(path: &Path, what: &str) -> Result<String> {
    let io = |source| Error::Io {
        context: format!("reading {what} {}", path.display()),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(Error::Key(format!(
            "{}: {what} must be a regular file of at most 1 MiB",
            path.display()
        )));
    }
    std::fs::read_to_string(path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_file_round_trip() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_bytes(key.to_file_text().as_bytes()).unwrap();
        assert_eq!(key.public(), again.public());
        let sig = key.sign(b"manifest");
        let public = PublicKey::from_base64(&key.public().to_base64()).unwrap();
        assert!(public.verify(b"manifest", &sig));
        assert!(!public.verify(b"manifesT", &sig));
        assert!(!public.verify(b"manifest", "not base64"));
        let other = SigningKey::generate().unwrap();
        assert!(!other.public().verify(b"manifest", &sig));
        assert!(key.public().fingerprint().starts_with("sha256:"));
        assert!(!format!("{key:?}").contains(key.to_file_text().trim()));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(SigningKey::from_bytes(b"c2hvcnQ=").is_err());
        assert!(SigningKey::from_bytes(b"not a key at all").is_err());
        assert!(PublicKey::from_base64("AAAA").is_err());
    }

    #[test]
    fn markers_keep_private_and_public_keys_apart() {
        let key = SigningKey::generate().unwrap();
        let private = key.to_file_text();
        let public = key.public().to_file_text();
        assert!(private.starts_with(PRIVATE_MARKER) && public.starts_with(PUBLIC_MARKER));
        // A private key file given as a public key is refused with a clear error.
        let e = PublicKey::parse_file(&private).unwrap_err().to_string();
        assert!(e.contains("PRIVATE key file"), "{e}");
        // And a public key file is not a signing key.
        let e = SigningKey::from_bytes(public.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("public key file"), "{e}");
        assert_eq!(
            PublicKey::parse_file(&public).unwrap(),
            (key.public(), false)
        );
        // Legacy files (no marker) still read; the public one is flagged legacy.
        let legacy_public = format!("{}\n", key.public().to_base64());
        assert_eq!(
            PublicKey::parse_file(&legacy_public).unwrap(),
            (key.public(), true)
        );
        let legacy_private =
            SigningKey::from_bytes(key.to_file_text().lines().nth(1).unwrap().as_bytes()).unwrap();
        assert_eq!(legacy_private.public(), key.public());
        assert!(PublicKey::parse_file("soc2-operator ed25519 public key v9\nAAAA\n").is_err());
    }
}
