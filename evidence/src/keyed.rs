//! Keyed inventory digests: HMAC-SHA256 (RFC 2104) over an object's SHA-256, with a key derived
//! from the signing key, so that the inventory in the store cannot be used to confirm a guessed
//! value (a plain SHA-256 of a small ConfigMap is a password oracle).
//!
//! The inventory key is `SHA-256("soc2-operator/inventory-digest/v1" || s)`, where `s` is the
//! (deterministic) ed25519 signature of that same label under the signing key: it needs the
//! signing key, is kept exactly where it is (the key file, the Secret) and rotates with it. The
//! label is never signed for anything else, so no published signature reveals `s`. Whoever
//! holds the signing key can recompute a digest for an object they have; a reader of the store
//! cannot. Without a signing key the inventory carries no digests at all.

use sha2::{Digest, Sha256};

use super::signing::SigningKey;

/// Domain label of the key derivation.
const LABEL: &[u8] = b"soc2-operator/inventory-digest/v1";

/// Prefix of keyed digests in `inventory.json`.
pub const PREFIX: &str = "hmac-sha256:";

/// A key for inventory digests.
#[derive(Clone)]
pub struct InventoryKey([u8; 32]);

impl std::fmt::Debug for InventoryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InventoryKey(..)")
    }
}

impl InventoryKey {
    /// Derives the inventory key from secret bytes.
    pub fn derive(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(LABEL);
        h.update(secret);
        Self(h.finalize().into())
    }

    /// The inventory key of a signing key.
    pub fn from_signing_key(key: &SigningKey) -> Self {
        Self::derive(key.sign(LABEL).as_bytes())
    }

    /// `hmac-sha256:<hex>` of `message`.
    pub fn digest(&self, message: &[u8]) -> String {
        format!("{PREFIX}{}", hex::encode(hmac_sha256(&self.0, message)))
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_cases() {
        // Test case 1.
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn keyed_digests_depend_on_the_key() {
        let a = InventoryKey::derive(&[1; 32]);
        let b = InventoryKey::derive(&[2; 32]);
        assert!(a.digest(b"x").starts_with(PREFIX));
        assert_ne!(a.digest(b"x"), b.digest(b"x"));
        assert_eq!(a.digest(b"x"), a.digest(b"x"));
        assert!(!format!("{a:?}").contains("01"));
    }
}
