//! Who a request comes from: the credential it presents (a user token or a store's apiKey)
//! and the identities that credential establishes. Reading these off a request is HTTP's
//! job (`crate::http::extract`); this module knows no router, state or storage, so the
//! record operations can take a [`StoreCaller`] without depending on the routes.

use axum::http::HeaderMap;

use super::api_key;
use crate::ApiError;

/// The signed-in owner (the token's `sub`).
#[derive(Debug, Clone)]
pub struct User(pub String);

/// Who may touch a store's items: its owner (user token) or a holder of its apiKey.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreCaller {
    Owner(String),
    Key,
}

/// The credential a request presents, not yet checked.
pub enum Credential<'a> {
    UserToken(&'a str),
    ApiKey(&'a str),
}

/// Reads the credential from `x-stack-access-token` or `Authorization: Bearer`. An apiKey
/// is told from a token by its prefix, so only one of them is ever checked.
pub fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
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
