//! The HTTP API: one axum router per Lambda function, each also mounted unchanged by the
//! local stack. Common behaviour lives here: the shared state, the 64 KiB body limit, the
//! JSON error for unknown routes and methods, and request tracing.

pub mod client_config;
pub mod cloud_api;
pub mod dev_sign_in;
pub mod extract;
pub mod health;
pub mod json;
pub mod sessions;
pub mod simulator;
pub mod user_apis;
pub mod webhook;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Request};
use axum::Router;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::jwt::UserTokens;
use crate::crypto::SecretBox;
use crate::domain::error::DomainError;
use crate::store::Store;
use crate::ApiError;

pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a route needs, built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub users: Arc<UserTokens>,
    pub secrets: Arc<SecretBox>,
    /// How Saipos is called (timeouts, retries, the process-wide rate limit).
    pub saipos: crate::saipos::client::Settings,
    /// Where session commands go (the gateway's command queue); absent where the
    /// process can't reach a gateway (session start/logout then answer 503).
    pub sessions: Option<SessionCommands>,
    /// Meta's webhook settings; absent where the webhook isn't served (it answers 503).
    /// (The `whatsapp-webhook` function builds a smaller state of its own.)
    pub webhook: Option<webhook::WebhookSettings>,
}

/// The session routes' link to the gateway.
#[derive(Clone)]
pub struct SessionCommands {
    pub queue: Arc<dyn crate::queue::Queue>,
    /// How long `start`/`logout` wait for the gateway's answer before returning the
    /// current status.
    pub wait: std::time::Duration,
}

/// A domain rule's refusal, as the JSON error contract shows it: a 400 whose code is
/// `validation_error` (with the field) or the rule's own code.
impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid { field, message } => ApiError::invalid(field, message),
            DomainError::Refused { code, message } => ApiError::bad_request(code, message),
        }
    }
}

/// Wraps a function's routes with the behaviour every router shares.
pub fn finish<S: Clone + Send + Sync + 'static>(routes: Router<S>, state: S) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::MethodNotAllowed(format!("method {method} is not allowed on this route"))
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            // Only method and path are recorded: never headers (tokens) or bodies (secrets).
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// Every route of every function, as the local stack serves them.
pub fn all_routes(state: AppState) -> Router {
    finish(
        Router::new()
            .merge(health::routes())
            .merge(user_apis::routes())
            .merge(client_config::routes())
            .merge(sessions::routes())
            .merge(cloud_api::routes())
            .merge(webhook::routes()),
        state,
    )
}

/// The router of the `user-apis` Lambda function (it also answers `/health`).
pub fn user_apis_router(state: AppState) -> Router {
    finish(health::routes().merge(user_apis::routes()), state)
}

/// The router of the `client-config` Lambda function.
pub fn client_config_router(state: AppState) -> Router {
    finish(client_config::routes(), state)
}

/// The router of the `whatsapp-sessions` Lambda function.
pub fn sessions_router(state: AppState) -> Router {
    finish(sessions::routes().merge(cloud_api::routes()), state)
}

/// The router of the `whatsapp-webhook` Lambda function, from its own
/// [`WebhookState`](webhook::WebhookState) (or from an [`AppState`]).
pub fn webhook_router<S>(state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    webhook::WebhookState: axum::extract::FromRef<S>,
{
    finish(webhook::routes(), state)
}
