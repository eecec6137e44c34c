//! Extracting the caller from a request. User routes take a [`User`]; store routes call
//! [`store_caller`], which accepts the owner's user token or the store's apiKey.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::api_key;
use crate::http::AppState;
use crate::records::{find_api_key, StoreCaller};
use crate::ApiError;

/// The signed-in owner (the token's `sub`).
#[derive(Debug, Clone)]
pub struct User(pub String);

enum Credential<'a> {
    UserToken(&'a str),
    ApiKey(&'a str),
}

fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
    if let Some(value) = headers.get("x-stack-access-token") {
        let token = value.to_str().map_err(|_| {
            ApiError::Unauthorized("invalid_token", "x-stack-access-token is not text".into())
        })?;
        return Ok(Credential::UserToken(token.trim()));
    }
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "missing_token",
            "sign in: send Authorization: Bearer <token> (or x-stack-access-token)".into(),
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("invalid_token", "Authorization is not text".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "invalid_token",
                "Authorization must be \"Bearer <token>\"".into(),
            )
        })?;
    if token.starts_with(api_key::PREFIX) {
        Ok(Credential::ApiKey(token))
    } else {
        Ok(Credential::UserToken(token))
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match credential(&parts.headers)? {
            Credential::UserToken(token) => state.users.verify(token).await.map(User),
            Credential::ApiKey(_) => Err(ApiError::Unauthorized(
                "user_token_required",
                "this route needs a signed-in user's token; an apiKey only opens its store's routes".into(),
            )),
        }
    }
}

/// Authorizes a call on store `store_id`. A user token is checked here and its ownership by
/// the read or write that follows (so it costs no extra round trip); an apiKey costs one read.
pub async fn store_caller(
    state: &AppState,
    headers: &HeaderMap,
    store_id: &str,
) -> Result<StoreCaller, ApiError> {
    match credential(headers)? {
        Credential::UserToken(token) => Ok(StoreCaller::Owner(state.users.verify(token).await?)),
        Credential::ApiKey(key) => {
            let grant = find_api_key(state.store.as_ref(), key)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "invalid_api_key",
                        "the apiKey is not valid (was it rotated?)".into(),
                    )
                })?;
            if grant.store_id != store_id {
                return Err(ApiError::Forbidden(
                    "this apiKey belongs to another store".into(),
                ));
            }
            Ok(StoreCaller::Key)
        }
    }
}
