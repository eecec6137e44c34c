//! Verification of user tokens: ES256 JWTs checked against a JWKS for signature, `iss`,
//! `aud` and `exp`; `sub` is the user id. In AWS the JWKS is Stack Auth's per-project
//! endpoint, fetched lazily, cached, and fetched again (at most once a minute) when a token
//! names a key id we have not seen, which is how key rotation reaches us. Locally the JWKS
//! is the stack's own public key. Both go through the same [`UserTokens::verify`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::ApiError;

const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
const CACHE_FOR: Duration = Duration::from_secs(3600);

enum KeySource {
    Static(JwkSet),
    Remote {
        url: String,
        http: reqwest::Client,
        cache: RwLock<Option<(JwkSet, Instant)>>,
    },
}

pub struct UserTokens {
    issuer: String,
    audience: String,
    keys: KeySource,
    /// Tokens already verified, by SHA-256 of the token: subject and expiry. A signature
    /// check costs ~0.3 ms; a console polls the same token many times a minute.
    verified: std::sync::Mutex<HashMap<[u8; 32], (String, i64)>>,
}

const VERIFIED_CACHE_MAX: usize = 10_000;

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
}

fn invalid(message: &str) -> ApiError {
    ApiError::Unauthorized("invalid_token", message.to_owned())
}

impl UserTokens {
    /// Tokens signed by one of `keys` (the local stack, tests).
    pub fn with_keys(issuer: impl Into<String>, audience: impl Into<String>, keys: JwkSet) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            keys: KeySource::Static(keys),
            verified: Default::default(),
        }
    }

    /// Tokens issued by a Stack Auth project (`api_url` is `https://api.stack-auth.com`
    /// unless self-hosted).
    pub fn stack_auth(api_url: &str, project_id: &str) -> Self {
        let base = format!(
            "{}/api/v1/projects/{project_id}",
            api_url.trim_end_matches('/')
        );
        Self {
            issuer: base.clone(),
            audience: project_id.to_owned(),
            keys: KeySource::Remote {
                url: format!("{base}/.well-known/jwks.json"),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("HTTP client"),
                cache: RwLock::new(None),
            },
            verified: Default::default(),
        }
    }

    /// Checks `token` and returns its subject (the user id).
    pub async fn verify(&self, token: &str) -> Result<String, ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if let Some((sub, exp)) = self.verified.lock().expect("lock").get(&digest) {
            if *exp > now {
                return Ok(sub.clone());
            }
        }
        self.verify_signed(token).await
    }

    async fn verify_signed(&self, token: &str) -> Result<String, ApiError> {
        let header = decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        if header.alg != Algorithm::ES256 {
            return Err(invalid("the token must be signed with ES256"));
        }
        let jwk = self.key(header.kid.as_deref()).await?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the signing key is unusable"))?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 30;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ApiError::Unauthorized(
                "token_expired",
                "the token has expired; sign in again".into(),
            ),
            ErrorKind::InvalidIssuer => invalid("the token was issued for another issuer"),
            ErrorKind::InvalidAudience => invalid("the token was issued for another audience"),
            ErrorKind::InvalidSignature => invalid("the token signature is not valid"),
            ErrorKind::MissingRequiredClaim(claim) => {
                invalid(&format!("the token has no {claim} claim"))
            }
            _ => invalid("the token is not valid"),
        })?;
        if data.claims.sub.is_empty() || data.claims.sub.len() > 200 {
            return Err(invalid("the token subject is not a valid user id"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut verified = self.verified.lock().expect("lock");
        if verified.len() >= VERIFIED_CACHE_MAX {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            verified.retain(|_, (_, exp)| *exp > now);
            if verified.len() >= VERIFIED_CACHE_MAX {
                verified.clear();
            }
        }
        // Cached without the verification leeway: a cached token stops working at its `exp`.
        verified.insert(digest, (data.claims.sub.clone(), data.claims.exp));
        Ok(data.claims.sub)
    }

    async fn key(&self, kid: Option<&str>) -> Result<Jwk, ApiError> {
        match &self.keys {
            KeySource::Static(set) => {
                pick(set, kid).ok_or_else(|| invalid("the token was signed by an unknown key"))
            }
            KeySource::Remote { url, http, cache } => {
                if let Some((set, fetched)) = cache.read().await.as_ref() {
                    if let Some(jwk) = pick(set, kid) {
                        if fetched.elapsed() < CACHE_FOR {
                            return Ok(jwk);
                        }
                    } else if fetched.elapsed() < REFETCH_AT_MOST_EVERY {
                        return Err(invalid("the token was signed by an unknown key"));
                    }
                }
                let mut guard = cache.write().await;
                let stale = guard.as_ref().is_none_or(|(set, fetched)| {
                    fetched.elapsed() >= CACHE_FOR
                        || (pick(set, kid).is_none() && fetched.elapsed() >= REFETCH_AT_MOST_EVERY)
                });
                if stale {
                    let set = fetch_jwks(http, url).await?;
                    *guard = Some((set, Instant::now()));
                }
                let (set, _) = guard.as_ref().expect("JWKS cached above");
                pick(set, kid).ok_or_else(|| invalid("the token was signed by an unknown key"))
            }
        }
    }
}

fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => set.find(kid).cloned(),
        None if set.keys.len() == 1 => set.keys.first().cloned(),
        None => None,
    }
}

async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<JwkSet, ApiError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(format!("JWKS fetch failed: {e}")))?;
    if !response.status().is_success() {
        return Err(ApiError::Unavailable(format!(
            "JWKS fetch answered {}",
            response.status()
        )));
    }
    response
        .json::<JwkSet>()
        .await
        .map_err(|e| ApiError::Unavailable(format!("JWKS is not a key set: {e}")))
}
