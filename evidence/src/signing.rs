//! ed25519 signing keys: generation, file formats, fingerprints, sign and verify.
//!
//! Key files hold the base64 (standard alphabet) of the raw 32 bytes: the private key file the
//! seed, the public key file the public key. A fingerprint is `sha256:<hex>` of the public key
//! bytes. Private key material is never printed, logged or stored in evidence; `Debug` shows
//! only the fingerprint.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _};

use super::{Error, Result, sha256_hex};

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

    /// Parses key text: base64 of the 32-byte seed (surrounding whitespace ignored). Raw
    /// 32-byte content is accepted too (a Secret mounted with binary data).
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let text = String::from_utf8_lossy(data);
        let seed: [u8; 32] = match B64.decode(text.trim()) {
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

    /// The private key file content (base64 of the seed).
    pub fn to_file_text(&self) -> String {
        format!("{}\n", B64.encode(self.0.to_bytes()))
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

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading the public key {}", path.display()),
            source,
        })?;
        Self::from_base64(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
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
}
