//! The extractors that authorize a route before its handler runs, so no handler repeats
//! the prelude:
//!
//! - [`User`]: the signed-in owner (user routes; an apiKey is refused here);
//! - [`StoreAccess`]: a call on the store named by the `{store_id}` path parameter (also on
//!   routes with more parameters, such as `/{store_id}/{slot}/start`), by its owner's token
//!   or the store's apiKey, for a storeId that can exist;
//! - [`OwnedApi`]: one of the caller's user APIs (`/api/user-apis/{id}`), read once;
//! - [`WithBody`]: one of the last two together with the request body, for routes that
//!   take one.
//!
//! The order of checks is part of the error contract (which error wins when several
//! apply), so the extractors keep the order the routes always had. A store route reads its
//! body before the caller is checked (a malformed body is reported even without a
//! credential), then checks the credential, then the storeId's shape. A user-API route
//! checks the user first, then reads the body, then looks the API up. A user token costs no
//! round trip here (its ownership is checked by the read or write that follows); an apiKey
//! costs one read; `OwnedApi` costs one read.

use std::collections::HashMap;
use std::future::Future;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::json::ApiPath;
use super::AppState;
use crate::auth::caller::{credential, Credential, StoreCaller, User};
use crate::domain::user_api::UserApi;
use crate::records::{self, find_api_key};
use crate::store::Item;
use crate::ApiError;

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

/// An authorized call on one store: `store_id` is the path's, `caller` who may act on it.
#[derive(Debug, Clone)]
pub struct StoreAccess {
    pub store_id: String,
    pub caller: StoreCaller,
}

/// One of the signed-in user's APIs, with its raw item (for the hidden attributes).
#[derive(Debug, Clone)]
pub struct OwnedApi {
    pub user: String,
    pub api: UserApi,
    pub item: Item,
}

/// An extractor `T` and the request body `B`, checked in the routes' order (see the module
/// doc): what `T` reads off the path first, then the body, then `T`'s checks.
pub struct WithBody<T, B>(pub T, pub B);

/// An extractor in two steps around the body: `read` takes from the request's parts what
/// the routes took before the body; `check` does the rest after it.
pub trait Staged: Sized {
    type Read: Send;

    fn read(
        parts: &mut Parts,
        state: &AppState,
    ) -> impl Future<Output = Result<Self::Read, Response>> + Send;

    fn check(
        read: Self::Read,
        parts: &Parts,
        state: &AppState,
    ) -> impl Future<Output = Result<Self, ApiError>> + Send;
}

/// A path parameter by name (routes name theirs in snake case: `{store_id}`, `{id}`).
async fn path_param(
    parts: &mut Parts,
    state: &AppState,
    name: &'static str,
) -> Result<String, Response> {
    let ApiPath(mut params) = ApiPath::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    params.remove(name).ok_or_else(|| {
        ApiError::Internal(format!("route without a {{{name}}} parameter")).into_response()
    })
}

/// Authorizes a call on store `store_id`. A user token is checked here and its ownership by
/// the read or write that follows (so it costs no extra round trip); an apiKey costs one read.
async fn store_caller(
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

/// A storeId that can't exist is reported as a missing store (after the credential check,
/// so an apiKey of another store is still told it is foreign).
fn check_store_id(store_id: &str) -> Result<(), ApiError> {
    if crate::ids::looks_like_id(store_id, "st") {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no WhatsApp connection with storeId {store_id:?}"
        )))
    }
}

impl Staged for StoreAccess {
    type Read = String;

    async fn read(parts: &mut Parts, state: &AppState) -> Result<String, Response> {
        path_param(parts, state, "store_id").await
    }

    async fn check(store_id: String, parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = store_caller(state, &parts.headers, &store_id).await?;
        check_store_id(&store_id)?;
        Ok(StoreAccess { store_id, caller })
    }
}

impl Staged for OwnedApi {
    type Read = (String, String);

    async fn read(parts: &mut Parts, state: &AppState) -> Result<(String, String), Response> {
        let User(user) = User::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let id = path_param(parts, state, "id").await?;
        Ok((user, id))
    }

    async fn check(
        (user, id): (String, String),
        _parts: &Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let (api, item) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
        Ok(OwnedApi { user, api, item })
    }
}

async fn staged<T: Staged>(parts: &mut Parts, state: &AppState) -> Result<T, Response> {
    let read = T::read(parts, state).await?;
    T::check(read, parts, state)
        .await
        .map_err(IntoResponse::into_response)
}

impl FromRequestParts<AppState> for StoreAccess {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        staged(parts, state).await
    }
}

impl FromRequestParts<AppState> for OwnedApi {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        staged(parts, state).await
    }
}

impl<T, B> FromRequest<AppState> for WithBody<T, B>
where
    T: Staged + Send,
    B: FromRequest<AppState> + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let read = T::read(&mut parts, state).await?;
        let body = B::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let checked = T::check(read, &parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(WithBody(checked, body))
    }
}

#[cfg(test)]
mod tests {
    //! Which error wins when several apply: the order the routes always had.

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use axum::Router;
    use tower::ServiceExt;

    use crate::auth::dev::DevSigner;
    use crate::crypto::SecretBox;
    use crate::http::{all_routes, AppState};
    use crate::store::embedded::EmbeddedStore;

    fn app(dir: &std::path::Path) -> (Router, DevSigner) {
        let signer = DevSigner::generate("test-issuer", "test-audience");
        let state = AppState {
            store: Arc::new(EmbeddedStore::open(&dir.join("store.redb")).unwrap()),
            users: Arc::new(signer.verifier()),
            secrets: Arc::new(SecretBox::from_key(&[3; 32])),
            saipos: Default::default(),
            sessions: None,
            webhook: None,
            graph: Arc::new(crate::bot::cloud_api::GraphClient::new(
                "http://127.0.0.1:9",
            )),
            notices: None,
        };
        (all_routes(state), signer)
    }

    async fn call(
        app: &Router,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (
            status,
            json["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    }

    #[tokio::test]
    async fn store_routes_read_the_body_before_the_credential_then_the_store_id() {
        let dir = tempfile::tempdir().unwrap();
        let (app, signer) = app(dir.path());
        let config = "/api/client/st_00000000000000000000/config";
        // A malformed body wins over a missing credential.
        assert_eq!(
            call(&app, Method::PUT, config, None, "{").await,
            (StatusCode::BAD_REQUEST, "invalid_json".into())
        );
        assert_eq!(
            call(&app, Method::PUT, config, None, r#"{"temperature":1}"#).await,
            (StatusCode::BAD_REQUEST, "invalid_body".into())
        );
        // A good body without a credential: the credential.
        assert_eq!(
            call(&app, Method::PUT, config, None, "{}").await,
            (StatusCode::UNAUTHORIZED, "missing_token".into())
        );
        // The credential wins over a storeId that can't exist, and that over validation.
        let bad_id = "/api/client/whatever/config";
        assert_eq!(
            call(&app, Method::PUT, bad_id, None, r#"{"messageLimit":0}"#).await,
            (StatusCode::UNAUTHORIZED, "missing_token".into())
        );
        let alice = signer.token("alice", 600);
        assert_eq!(
            call(
                &app,
                Method::PUT,
                bad_id,
                Some(&alice),
                r#"{"messageLimit":0}"#
            )
            .await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        // Routes with more parameters than the storeId: credential, storeId, then the slot.
        assert_eq!(
            call(
                &app,
                Method::POST,
                "/api/whatsapp/whatever/9/start",
                None,
                ""
            )
            .await,
            (StatusCode::UNAUTHORIZED, "missing_token".into())
        );
        assert_eq!(
            call(
                &app,
                Method::POST,
                "/api/whatsapp/whatever/9/logout",
                Some(&alice),
                ""
            )
            .await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        assert_eq!(
            call(
                &app,
                Method::POST,
                "/api/whatsapp/st_00000000000000000000/9/start",
                Some(&alice),
                ""
            )
            .await,
            (StatusCode::BAD_REQUEST, "validation_error".into())
        );
    }

    #[tokio::test]
    async fn user_api_routes_check_the_user_then_the_body_then_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let (app, signer) = app(dir.path());
        let path = "/api/user-apis/api_00000000000000000000";
        // The user first, even before a malformed body.
        assert_eq!(
            call(&app, Method::PATCH, path, None, "{").await,
            (StatusCode::UNAUTHORIZED, "missing_token".into())
        );
        let alice = signer.token("alice", 600);
        // Then the body, before looking the API up.
        assert_eq!(
            call(&app, Method::PATCH, path, Some(&alice), "{").await,
            (StatusCode::BAD_REQUEST, "invalid_json".into())
        );
        // Then the API, before validating the change.
        assert_eq!(
            call(&app, Method::PATCH, path, Some(&alice), "{}").await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
        assert_eq!(
            call(&app, Method::GET, path, Some(&alice), "").await,
            (StatusCode::NOT_FOUND, "not_found".into())
        );
    }
}
