//! The local stack's own token issuer: a P-256 key kept in the data dir signs ES256 user
//! tokens (`platefull dev-token`), and its public half is the JWKS the local stack checks
//! them against. Tests use fresh in-memory signers to mint valid, expired and foreign tokens,
//! seeded ones for a key of a given shape, and [`DevSigner::minimal_jwks`] to publish a key
//! the way Stack Auth does.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::jwt::UserTokens;
use crate::ids::random_bytes;

pub const LOCAL_ISSUER: &str = "platefull-local";
pub const LOCAL_AUDIENCE: &str = "platefull-local";

pub struct DevSigner {
    encoding: EncodingKey,
    jwk: Jwk,
    /// The public point's affine coordinates, 32 bytes each.
    x: [u8; 32],
    y: [u8; 32],
    pub issuer: String,
    pub audience: String,
}

impl DevSigner {
    /// A signer with a brand-new key.
    pub fn generate(issuer: &str, audience: &str) -> Self {
        Self::from_secret(new_secret(), issuer, audience)
    }

    /// A signer whose key is derived from `seed` (the same seed, the same key): tests that
    /// need a key of some shape search seeds deterministically.
    pub fn from_seed(seed: &[u8], issuer: &str, audience: &str) -> Self {
        let mut counter = 0u32;
        loop {
            let bytes: [u8; 32] = Sha256::new()
                .chain_update(seed)
                .chain_update(counter.to_be_bytes())
                .finalize()
                .into();
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                return Self::from_secret(secret, issuer, audience);
            }
            counter += 1;
        }
    }

    /// The local stack's signer, from `path` (created on first use, owner-only).
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if !path.exists() {
            let pem = new_secret()
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            crate::private_file::write_private_file(path, pem.as_bytes())?;
        }
        let pem = std::fs::read_to_string(path)?;
        let secret = SecretKey::from_pkcs8_pem(&pem).map_err(|e| {
            std::io::Error::other(format!("{} is not a P-256 PKCS#8 key: {e}", path.display()))
        })?;
        Ok(Self::from_secret(secret, LOCAL_ISSUER, LOCAL_AUDIENCE))
    }

    fn from_secret(secret: SecretKey, issuer: &str, audience: &str) -> Self {
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding of a P-256 key");
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("a P-256 PKCS#8 key");
        let point = secret.public_key().to_encoded_point(false);
        let (x, y) = (point.x().expect("affine x"), point.y().expect("affine y"));
        let kid = format!("local-{}", &URL_SAFE_NO_PAD.encode(&x[..])[..8]);
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&x[..]), "y": URL_SAFE_NO_PAD.encode(&y[..]),
        }))
        .expect("a valid EC JWK");
        Self {
            encoding,
            jwk,
            x: x[..].try_into().expect("32-byte coordinate"),
            y: y[..].try_into().expect("32-byte coordinate"),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// The public key set that verifies this signer's tokens.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.jwk.clone()],
        }
    }

    /// Whether a coordinate of the public key starts with a zero byte (about one key in 128).
    pub fn has_short_coordinate(&self) -> bool {
        self.x[0] == 0 || self.y[0] == 0
    }

    /// The key set as Stack Auth publishes it: coordinates without leading zero bytes.
    pub fn minimal_jwks(&self) -> serde_json::Value {
        let minimal = |c: &[u8; 32]| {
            let start = c.iter().position(|b| *b != 0).unwrap_or(31);
            URL_SAFE_NO_PAD.encode(&c[start..])
        };
        let mut jwk = serde_json::to_value(&self.jwk).expect("a JWK serializes");
        jwk["x"] = minimal(&self.x).into();
        jwk["y"] = minimal(&self.y).into();
        json!({ "keys": [jwk] })
    }

    /// A verifier that accepts exactly this signer's tokens.
    pub fn verifier(&self) -> UserTokens {
        UserTokens::with_keys(&self.issuer, &self.audience, self.jwks())
    }

    /// A token for `user_id`, valid for `ttl_secs` seconds (negative: already expired).
    pub fn token(&self, user_id: &str, ttl_secs: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.sign(json!({
            "sub": user_id, "iss": self.issuer, "aud": self.audience,
            "iat": now, "exp": now + ttl_secs, "role": "authenticated",
        }))
    }

    /// Signs arbitrary claims (tests use this for malformed tokens).
    pub fn sign(&self, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.jwk.common.key_id.clone();
        encode(&header, &claims, &self.encoding).expect("ES256 signing")
    }
}

fn new_secret() -> SecretKey {
    loop {
        let bytes: [u8; 32] = random_bytes();
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            return secret;
        }
    }
}
