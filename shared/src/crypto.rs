//! Encryption at rest for third-party secrets (Saipos tokens now; Cloud API tokens and
//! WhatsApp session keys later): AES-256-GCM with a random 96-bit nonce per value and the
//! owning record's id as associated data, so a sealed value copied onto another record
//! does not open.
//!
//! The 256-bit data key comes from a key file in the local stack's data dir, or in AWS
//! from KMS: the function's environment carries only the KMS-encrypted data key, which is
//! decrypted once at cold start.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::ids::random_bytes;

const VERSION: &str = "v1.";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with this key and record")]
    Rejected,
    #[error("key file {0}: {1}")]
    KeyFile(String, String),
    #[error("KMS: {0}")]
    Kms(String),
}

pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plaintext`, bound to `record` (e.g. the user API id).
    pub fn seal(&self, plaintext: &str, record: &str) -> String {
        let nonce: [u8; 12] = random_bytes();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: record.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value sealed for `record`.
    pub fn open(&self, sealed: &str, record: &str) -> Result<String, CryptoError> {
        let raw = sealed
            .strip_prefix(VERSION)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|raw| raw.len() > 12 + 16)
            .ok_or(CryptoError::Malformed)?;
        let (nonce, ciphertext) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let plaintext = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: record.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Rejected)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Malformed)
    }

    /// Loads the data key from `path` (base64 of 32 bytes), creating it with owner-only
    /// permissions on first use.
    pub fn load_or_create_key_file(path: &Path) -> Result<Self, CryptoError> {
        let fail = |e: &dyn std::fmt::Display| {
            CryptoError::KeyFile(path.display().to_string(), e.to_string())
        };
        if !path.exists() {
            let key: [u8; 32] = random_bytes();
            crate::private_file::write_private_file(path, STANDARD.encode(key).as_bytes())
                .map_err(|e| fail(&e))?;
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let key = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| fail(&"not a base64 256-bit key"))?;
        Ok(Self::from_key(&key))
    }

    /// Decrypts a KMS-encrypted data key (base64 `CiphertextBlob`, as returned by
    /// `aws kms generate-data-key --key-spec AES_256`) and uses it.
    pub async fn from_kms(
        client: &aws_sdk_kms::Client,
        ciphertext_b64: &str,
    ) -> Result<Self, CryptoError> {
        let blob = STANDARD
            .decode(ciphertext_b64.trim())
            .map_err(|_| CryptoError::Kms("the encrypted data key is not base64".into()))?;
        let out = client
            .decrypt()
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
            .send()
            .await
            .map_err(|e| {
                CryptoError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
            })?;
        let key = out
            .plaintext
            .map(|b| b.into_inner())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| CryptoError::Kms("the data key is not 256 bits".into()))?;
        Ok(Self::from_key(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_the_record() {
        let sb = SecretBox::from_key(&[7; 32]);
        let sealed = sb.seal("saipos-token", "api_1");
        assert!(!sealed.contains("saipos-token"));
        assert_ne!(
            sealed,
            sb.seal("saipos-token", "api_1"),
            "nonces must differ"
        );
        assert_eq!(sb.open(&sealed, "api_1").unwrap(), "saipos-token");
        assert!(matches!(
            sb.open(&sealed, "api_2"),
            Err(CryptoError::Rejected)
        ));
        assert!(matches!(
            SecretBox::from_key(&[8; 32]).open(&sealed, "api_1"),
            Err(CryptoError::Rejected)
        ));
        assert!(matches!(
            sb.open("v1.abc", "api_1"),
            Err(CryptoError::Malformed)
        ));
    }
}
