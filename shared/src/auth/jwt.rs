//! Verification of user tokens: ES256 JWTs checked against a JWKS for signature, `iss`,
//! `aud`, `exp`, `nbf` and `iat` (the last three with the same 30 s leeway for clock skew);
//! `sub` is the user id. In AWS the JWKS is Stack Auth's per-project endpoint; locally it
//! is the stack's own public key. Both go through the same [`UserTokens::verify`].
//!
//! Stack Auth's JWKS is fetched lazily and kept: fresh for [`JwksTiming::fresh_for`] (1 h);
//! after that a token signed by a cached key is still verified at once with that key
//! (stale-while-revalidate) while one background fetch, at most once a minute, brings the
//! set up to date. So Stack Auth being slow or down doesn't fail logins, and no request
//! waits on it while we hold a key for the token. The stale keys stay usable for
//! [`JwksTiming::max_stale`] (24 h): a Stack Auth outage of up to a day costs owners
//! nothing, while a key Stack Auth withdrew keeps verifying only as long as we can't reach
//! it (once it answers, the set is replaced within a minute of the next login). Past that
//! the keys are dropped and a failed fetch answers 503. A token naming a key id we don't
//! hold makes us fetch again at most once a minute (key rotation reaches us that way; a
//! flood of made-up key ids costs one fetch a minute). Fetches are single-flight: waiters
//! share the one fetch's outcome, and verifications with a cached key never wait on it.
//! (In Lambda the background fetch runs alongside the invocation that started it; if the
//! environment is frozen first, it resumes, or times out, on the next invocation.)
//!
//! Stack Auth encodes the JWKS coordinates without leading zero bytes (about one key in
//! 128 has a 31-byte `x` or `y`); they are left-padded to 32 bytes before the P-256 key is
//! built, once per fetched set. Restricted (e-mail not verified) and anonymous Stack Auth
//! users get tokens from other issuers (`…/projects-restricted-users/<id>`,
//! `…/projects-anonymous-users/<id>`, audience `<id>:restricted` / `<id>:anon`), signed by
//! keys outside the project's JWKS: such a token is refused with its own code
//! (`email_not_verified`, `anonymous_user`) from its claims alone — a refusal needs no
//! proof, and those tokens never make us fetch the JWKS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::ApiError;

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;

/// How long a fetched JWKS is trusted, and how often Stack Auth is asked again.
#[derive(Debug, Clone, Copy)]
pub struct JwksTiming {
    /// A set younger than this is used without asking Stack Auth.
    pub fresh_for: Duration,
    /// A set older than `fresh_for` but younger than this is still used (and refreshed in
    /// the background); an older one is dropped.
    pub max_stale: Duration,
    /// At most one fetch per this period for a refresh or an unknown key id.
    pub refetch_every: Duration,
    /// One fetch's timeout.
    pub fetch_timeout: Duration,
}

impl Default for JwksTiming {
    fn default() -> Self {
        Self {
            fresh_for: Duration::from_secs(3600),
            max_stale: Duration::from_secs(24 * 3600),
            refetch_every: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// The usable keys of a JWKS (EC P-256 only), each built once.
struct Keys(Vec<(Option<String>, DecodingKey)>);

impl Keys {
    fn from_set(set: &JwkSet) -> Self {
        Keys(
            set.keys
                .iter()
                .filter_map(|jwk| Some((jwk.common.key_id.clone(), p256_key(jwk)?)))
                .collect(),
        )
    }

    /// The key named `kid`; without a `kid`, the only key of a one-key set.
    fn pick(&self, kid: Option<&str>) -> Option<DecodingKey> {
        match kid {
            Some(kid) => self
                .0
                .iter()
                .find(|(id, _)| id.as_deref() == Some(kid))
                .map(|(_, key)| key.clone()),
            None if self.0.len() == 1 => Some(self.0[0].1.clone()),
            None => None,
        }
    }
}

/// A P-256 verification key from a JWK, its coordinates left-padded to 32 bytes; `None`
/// for any other kind of key or a coordinate that isn't a P-256 field element's size.
pub fn p256_key(jwk: &Jwk) -> Option<DecodingKey> {
    let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
        return None;
    };
    if ec.curve != EllipticCurve::P256 {
        return None;
    }
    DecodingKey::from_ec_components(&coordinate(&ec.x)?, &coordinate(&ec.y)?).ok()
}

/// A base64url coordinate as exactly 32 bytes (re-encoded): leading zeros added, or
/// dropped when an encoder wrote more than 32 bytes.
fn coordinate(b64: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    let significant = &bytes[bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len())..];
    if significant.len() > 32 {
        return None;
    }
    let mut padded = [0u8; 32];
    padded[32 - significant.len()..].copy_from_slice(significant);
    Some(URL_SAFE_NO_PAD.encode(padded))
}

enum KeySource {
    Static(Keys),
    Remote(Arc<Remote>),
}

/// Stack Auth's JWKS endpoint and what we hold of it.
struct Remote {
    url: String,
    http: reqwest::Client,
    timing: JwksTiming,
    cache: Mutex<Cache>,
    /// Held for the length of one fetch: fetches are single-flight.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    /// The last set fetched, and when.
    keys: Option<(Arc<Keys>, Instant)>,
    /// When the last fetch started (or a refresh was scheduled), whatever its outcome.
    last_attempt: Option<Instant>,
    /// When the last fetch ended.
    last_done: Option<Instant>,
    /// Why the last fetch failed (cleared by a success).
    last_error: Option<String>,
    /// A background refresh is under way.
    refreshing: bool,
}

/// What the cache says about a key id.
enum Lookup {
    Found(DecodingKey),
    /// Not answerable from the cache: fetch (single-flight) and look again.
    Fetch,
    /// Not in a set fetched less than `refetch_every` ago.
    Unknown,
}

impl Remote {
    fn lookup(self: &Arc<Self>, kid: Option<&str>) -> Lookup {
        let mut cache = self.cache.lock().expect("lock");
        let attempt_due = cache
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.timing.refetch_every);
        let Some((keys, fetched)) = cache.keys.clone() else {
            return Lookup::Fetch;
        };
        let age = fetched.elapsed();
        match keys.pick(kid) {
            Some(key) if age < self.timing.fresh_for => Lookup::Found(key),
            Some(key) if age < self.timing.max_stale => {
                if attempt_due && !cache.refreshing {
                    cache.refreshing = true;
                    cache.last_attempt = Some(Instant::now());
                    let remote = self.clone();
                    tokio::spawn(async move { remote.refresh().await });
                }
                Lookup::Found(key)
            }
            Some(_) => Lookup::Fetch,
            None if attempt_due || age >= self.timing.max_stale => Lookup::Fetch,
            None => Lookup::Unknown,
        }
    }

    async fn key(self: &Arc<Self>, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        match self.lookup(kid) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Unknown => return Err(unknown_key()),
            Lookup::Fetch => {}
        }
        self.fetch_unless_done_meanwhile().await;
        // The outcome of our fetch or of the one we waited for.
        let cache = self.cache.lock().expect("lock");
        let usable = cache
            .keys
            .as_ref()
            .filter(|(_, fetched)| fetched.elapsed() < self.timing.max_stale);
        match (
            usable.and_then(|(keys, _)| keys.pick(kid)),
            &cache.last_error,
        ) {
            (Some(key), _) => Ok(key),
            (None, None) => Err(unknown_key()),
            (None, Some(cause)) => Err(ApiError::Unavailable(cause.clone())),
        }
    }

    /// The background refresh of a stale set (its attempt is already recorded).
    async fn refresh(self: Arc<Self>) {
        self.fetch_unless_done_meanwhile().await;
        self.cache.lock().expect("lock").refreshing = false;
    }

    /// Takes the single-flight lock and fetches, unless a fetch ended while we waited for
    /// it: its outcome (in the cache) answers us too.
    async fn fetch_unless_done_meanwhile(&self) {
        let waited_from = Instant::now();
        let _one = self.fetching.lock().await;
        let done_meanwhile = self
            .cache
            .lock()
            .expect("lock")
            .last_done
            .is_some_and(|at| at >= waited_from);
        if !done_meanwhile {
            self.fetch().await;
        }
    }

    /// One fetch (the caller holds `fetching`); its outcome goes into the cache.
    async fn fetch(&self) {
        self.cache.lock().expect("lock").last_attempt = Some(Instant::now());
        let outcome = fetch_jwks(&self.http, &self.url, self.timing.fetch_timeout).await;
        let mut cache = self.cache.lock().expect("lock");
        cache.last_done = Some(Instant::now());
        match outcome {
            Ok(set) => {
                cache.keys = Some((Arc::new(Keys::from_set(&set)), Instant::now()));
                cache.last_error = None;
            }
            Err(cause) => {
                tracing::warn!(%cause, "Stack Auth's JWKS could not be fetched");
                cache.last_error = Some(cause);
            }
        }
    }
}

/// Issuers and audiences of the tokens refused with their own code.
struct OtherUsers {
    restricted_issuer: String,
    restricted_audience: String,
    anonymous_issuer: String,
    anonymous_audience: String,
}

pub struct UserTokens {
    issuer: String,
    audience: String,
    keys: KeySource,
    other_users: Option<OtherUsers>,
    /// Tokens already verified, by SHA-256 of the token: subject and expiry. A signature
    /// check costs ~0.3 ms; a console polls the same token many times a minute.
    verified: Mutex<HashMap<[u8; 32], (String, i64)>>,
}

const VERIFIED_CACHE_MAX: usize = 10_000;

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: Option<f64>,
}

/// The claims that say which kind of Stack Auth user a token is for.
#[derive(Deserialize)]
struct Audience {
    iss: Option<String>,
    aud: Option<Value>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::Unauthorized("invalid_token", message.to_owned())
}

fn unknown_key() -> ApiError {
    invalid("the token was signed by an unknown key")
}

fn not_yet_valid(message: &str) -> ApiError {
    ApiError::Unauthorized("token_not_yet_valid", message.to_owned())
}

impl UserTokens {
    /// Tokens signed by one of `keys` (the local stack, tests).
    pub fn with_keys(issuer: impl Into<String>, audience: impl Into<String>, keys: JwkSet) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            keys: KeySource::Static(Keys::from_set(&keys)),
            other_users: None,
            verified: Default::default(),
        }
    }

    /// Tokens issued by a Stack Auth project (`api_url` is `https://api.stack-auth.com`
    /// unless self-hosted).
    pub fn stack_auth(api_url: &str, project_id: &str) -> Self {
        Self::stack_auth_with(api_url, project_id, JwksTiming::default())
    }

    /// [`UserTokens::stack_auth`] with other JWKS cache times (tests).
    pub fn stack_auth_with(api_url: &str, project_id: &str, timing: JwksTiming) -> Self {
        let api = format!("{}/api/v1", api_url.trim_end_matches('/'));
        let base = format!("{api}/projects/{project_id}");
        Self {
            issuer: base.clone(),
            audience: project_id.to_owned(),
            keys: KeySource::Remote(Arc::new(Remote {
                url: format!("{base}/.well-known/jwks.json"),
                http: reqwest::Client::builder()
                    .timeout(timing.fetch_timeout)
                    .build()
                    .expect("HTTP client"),
                timing,
                cache: Default::default(),
                fetching: Default::default(),
            })),
            other_users: Some(OtherUsers {
                restricted_issuer: format!("{api}/projects-restricted-users/{project_id}"),
                restricted_audience: format!("{project_id}:restricted"),
                anonymous_issuer: format!("{api}/projects-anonymous-users/{project_id}"),
                anonymous_audience: format!("{project_id}:anon"),
            }),
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

    /// Refuses a restricted or anonymous Stack Auth user's token by its claims.
    fn refuse_other_users(&self, token: &str) -> Result<(), ApiError> {
        let Some(other) = &self.other_users else {
            return Ok(());
        };
        let Ok(data) = jsonwebtoken::dangerous::insecure_decode::<Audience>(token) else {
            return Ok(()); // the real check refuses it
        };
        let Audience { iss, aud } = data.claims;
        let audiences: Vec<&str> = match &aud {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let is = |issuer: &str, audience: &str| {
            iss.as_deref() == Some(issuer) || audiences.contains(&audience)
        };
        if is(&other.anonymous_issuer, &other.anonymous_audience) {
            return Err(ApiError::Unauthorized(
                "anonymous_user",
                "anonymous sessions can't use this API; sign in with an account".into(),
            ));
        }
        if is(&other.restricted_issuer, &other.restricted_audience) {
            return Err(ApiError::Unauthorized(
                "email_not_verified",
                "this account's e-mail address is not verified yet; verify it, then sign in again"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn verify_signed(&self, token: &str) -> Result<String, ApiError> {
        let header = decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        if header.alg != Algorithm::ES256 {
            return Err(invalid("the token must be signed with ES256"));
        }
        self.refuse_other_users(token)?;
        let key = match &self.keys {
            KeySource::Static(keys) => keys.pick(header.kid.as_deref()).ok_or_else(unknown_key)?,
            KeySource::Remote(remote) => remote.key(header.kid.as_deref()).await?,
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ApiError::Unauthorized(
                "token_expired",
                "the token has expired; sign in again".into(),
            ),
            ErrorKind::ImmatureSignature => {
                not_yet_valid("the token is not valid yet (nbf); check the clock")
            }
            ErrorKind::InvalidIssuer => invalid("the token was issued for another issuer"),
            ErrorKind::InvalidAudience => invalid("the token was issued for another audience"),
            ErrorKind::InvalidSignature => invalid("the token signature is not valid"),
            ErrorKind::MissingRequiredClaim(claim) => {
                invalid(&format!("the token has no {claim} claim"))
            }
            _ => invalid("the token is not valid"),
        })?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if data
            .claims
            .iat
            .is_some_and(|iat| iat > (now + LEEWAY_SECS as i64) as f64)
        {
            return Err(not_yet_valid(
                "the token was issued in the future (iat); check the clock",
            ));
        }
        if data.claims.sub.is_empty() || data.claims.sub.len() > 200 {
            return Err(invalid("the token subject is not a valid user id"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut verified = self.verified.lock().expect("lock");
        if verified.len() >= VERIFIED_CACHE_MAX {
            verified.retain(|_, (_, exp)| *exp > now);
            if verified.len() >= VERIFIED_CACHE_MAX {
                verified.clear();
            }
        }
        // Cached without the verification leeway: a cached token stops working at its `exp`.
        verified.insert(digest, (data.claims.sub.clone(), data.claims.exp));
        Ok(data.claims.sub)
    }
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<JwkSet, String> {
    let response = http.get(url).timeout(timeout).send().await.map_err(|e| {
        if e.is_timeout() {
            "JWKS fetch timed out".to_owned()
        } else {
            "JWKS fetch failed: network error".to_owned()
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("JWKS fetch answered {}", response.status()));
    }
    let body = crate::upstream::read_capped(response, JWKS_MAX_BYTES)
        .await
        .map_err(|e| format!("JWKS fetch: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("JWKS is not a key set: {e}"))
}

/// The largest JWKS read: a project's has a handful of keys (~200 bytes each).
const JWKS_MAX_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_left_padded_to_32_bytes() {
        let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
        let padded = URL_SAFE_NO_PAD.decode(coordinate(&short).unwrap()).unwrap();
        assert_eq!(padded.len(), 32);
        assert_eq!((padded[0], padded[1], padded[31]), (0, 7, 7));
        let mut long = vec![0u8];
        long.extend([9u8; 32]);
        let trimmed = URL_SAFE_NO_PAD
            .decode(coordinate(&URL_SAFE_NO_PAD.encode(&long)).unwrap())
            .unwrap();
        assert_eq!(trimmed, [9u8; 32]);
        assert_eq!(coordinate(&URL_SAFE_NO_PAD.encode([1u8; 33])), None);
        assert_eq!(coordinate("not base64!"), None);
    }
}
