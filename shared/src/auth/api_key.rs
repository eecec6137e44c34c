//! Connection apiKeys: 256 random bits, shown to the owner once, stored only as a SHA-256
//! hash (a fast hash is right for keys with this much entropy; there is nothing to brute
//! force). The `pfk_` prefix makes keys recognisable to secret scanners and lets the
//! routes tell an apiKey from a JWT without trying both.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::random_bytes;

pub const PREFIX: &str = "pfk_";

/// A new random apiKey.
pub fn generate() -> String {
    let bytes: [u8; 32] = random_bytes();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Could `value` be one of our keys? (Shape only; says nothing about validity.)
pub fn looks_like_api_key(value: &str) -> bool {
    value.len() == PREFIX.len() + 43
        && value.starts_with(PREFIX)
        && value[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of a presented key with a stored hash.
pub fn matches(key: &str, stored_hash: &str) -> bool {
    hash(key).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_recognisable_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(looks_like_api_key(&a), "{a}");
        assert!(!looks_like_api_key("eyJhbGciOiJFUzI1NiJ9.e30.sig"));
        assert_eq!(hash(&a).len(), 64);
        assert!(matches(&a, &hash(&a)));
        assert!(!matches(&b, &hash(&a)));
    }
}
